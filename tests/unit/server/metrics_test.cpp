// The metrics registry: exact text exposition output for each metric type,
// labels and escaping, callbacks, and registration errors.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "server/metrics.h"

namespace sto::server {
namespace {

std::string value_text(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

int count_lines_starting(const std::string& text, const std::string& prefix) {
  int n = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.compare(pos, prefix.size(), prefix) == 0) ++n;
    pos = end + 1;
  }
  return n;
}

TEST(Metrics, EmptyRegistryRendersNothing) {
  Registry r;
  EXPECT_EQ(r.render(), "");
}

TEST(Metrics, CounterWithLabels) {
  Registry r;
  auto& total = r.counter("controller_runtime_reconcile_total",
                          "Total number of reconciliations per controller",
                          {"controller", "result"});
  total.with({"sysdigtoken", "success"}).inc();
  total.with({"sysdigtoken", "success"}).inc();
  total.with({"sysdigtoken", "error"}).inc(2.5);
  EXPECT_EQ(r.render(),
            "# HELP controller_runtime_reconcile_total Total number of reconciliations per "
            "controller\n"
            "# TYPE controller_runtime_reconcile_total counter\n"
            "controller_runtime_reconcile_total{controller=\"sysdigtoken\",result=\"error\"} 2.5\n"
            "controller_runtime_reconcile_total{controller=\"sysdigtoken\",result=\"success\"} "
            "2\n");
}

TEST(Metrics, CounterIgnoresNegativeIncrements) {
  Registry r;
  Counter& c = r.counter("c_total", "h").with();
  c.inc(3);
  c.inc(-1);
  EXPECT_EQ(c.value(), 3);
  EXPECT_EQ(r.render(), "# HELP c_total h\n# TYPE c_total counter\nc_total 3\n");
}

TEST(Metrics, ChildHandlesStayValid) {
  Registry r;
  auto& family = r.counter("things_total", "h", {"name"});
  Counter& first = family.with({"a"});
  for (int i = 0; i < 1000; ++i) family.with({"n" + std::to_string(i)});
  EXPECT_EQ(&first, &family.with({"a"}));
  EXPECT_EQ(&first, &family.with(std::vector<std::string>{"a"}));
  first.inc(7);
  EXPECT_EQ(family.size(), 1001u);
  EXPECT_NE(r.render().find("things_total{name=\"a\"} 7\n"), std::string::npos);
}

TEST(Metrics, GaugeSetIncDec) {
  Registry r;
  auto& g = r.gauge("workqueue_depth", "Current depth of workqueue", {"name"});
  Gauge& q = g.with({"sysdigtoken"});
  q.set(10);
  q.inc();
  q.dec(3);
  Gauge& neg = r.gauge("temperature", "").with();
  neg.set(-0.5);
  EXPECT_EQ(r.render(),
            "# HELP temperature\n"
            "# TYPE temperature gauge\n"
            "temperature -0.5\n"
            "# HELP workqueue_depth Current depth of workqueue\n"
            "# TYPE workqueue_depth gauge\n"
            "workqueue_depth{name=\"sysdigtoken\"} 8\n");
}

TEST(Metrics, HistogramExactRender) {
  Registry r;
  auto& h = r.histogram("request_duration_seconds", "Request latency.", {"host"}, {0.5, 1, 10});
  Histogram& x = h.with({"iam"});
  x.observe(0.25);
  x.observe(0.5);  // on the bound: counted in le="0.5"
  x.observe(4);
  x.observe(100);
  EXPECT_EQ(x.count(), 4u);
  EXPECT_EQ(x.cumulative_count(0), 2u);
  EXPECT_EQ(x.cumulative_count(2), 3u);
  EXPECT_EQ(x.cumulative_count(3), 4u);
  EXPECT_EQ(r.render(),
            "# HELP request_duration_seconds Request latency.\n"
            "# TYPE request_duration_seconds histogram\n"
            "request_duration_seconds_bucket{host=\"iam\",le=\"0.5\"} 2\n"
            "request_duration_seconds_bucket{host=\"iam\",le=\"1\"} 2\n"
            "request_duration_seconds_bucket{host=\"iam\",le=\"10\"} 3\n"
            "request_duration_seconds_bucket{host=\"iam\",le=\"+Inf\"} 4\n"
            "request_duration_seconds_sum{host=\"iam\"} 104.75\n"
            "request_duration_seconds_count{host=\"iam\"} 4\n");
}

TEST(Metrics, HistogramWithoutLabels) {
  Registry r;
  r.histogram("d_seconds", "h", {}, {1}).with().observe(2);
  EXPECT_EQ(r.render(),
            "# HELP d_seconds h\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"1\"} 0\n"
            "d_seconds_bucket{le=\"+Inf\"} 1\n"
            "d_seconds_sum 2\n"
            "d_seconds_count 1\n");
}

TEST(Metrics, DefaultBucketsAreControllerRuntimes) {
  const auto& b = default_buckets();
  ASSERT_EQ(b.size(), 40u);
  EXPECT_EQ(b.front(), 0.005);
  EXPECT_EQ(b.back(), 60);
  Registry r;
  r.histogram("controller_runtime_reconcile_time_seconds", "h", {"controller"})
      .with({"sysdigtoken"})
      .observe(0.003);
  std::string text = r.render();
  EXPECT_EQ(count_lines_starting(text, "controller_runtime_reconcile_time_seconds_bucket{"), 41);
  EXPECT_NE(text.find("{controller=\"sysdigtoken\",le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("{controller=\"sysdigtoken\",le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("{controller=\"sysdigtoken\",le=\"60\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("{controller=\"sysdigtoken\",le=\"+Inf\"} 1\n"), std::string::npos);
}

TEST(Metrics, BucketHelpers) {
  EXPECT_EQ(exponential_buckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(linear_buckets(0, 5, 3), (std::vector<double>{0, 5, 10}));
  EXPECT_THROW(exponential_buckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(linear_buckets(0, 0, 3), std::invalid_argument);
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry r;
  r.gauge("g", "line one\nback\\slash \"quotes\" stay", {"path"})
      .with({"C:\\dir\n\"x\""})
      .set(1);
  EXPECT_EQ(r.render(),
            "# HELP g line one\\nback\\\\slash \"quotes\" stay\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(Metrics, ValueFormatting) {
  EXPECT_EQ(value_text(0), "0");
  EXPECT_EQ(value_text(1), "1");
  EXPECT_EQ(value_text(0.005), "0.005");
  EXPECT_EQ(value_text(123456), "123456");
  EXPECT_EQ(value_text(1e6), "1e+06");
  EXPECT_EQ(value_text(-2.5), "-2.5");
  EXPECT_EQ(value_text(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value_text(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(value_text(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(value_text(0.1 + 0.2), "0.30000000000000004");  // round-trips exactly
}

TEST(Metrics, FamiliesSortedAndEmptyOnesOmitted) {
  Registry r;
  r.counter("zeta_total", "z").with().inc();
  r.counter("unused_total", "never incremented", {"l"});  // no child: not rendered
  r.gauge("alpha", "a").with().set(2);
  EXPECT_EQ(r.render(),
            "# HELP alpha a\n# TYPE alpha gauge\nalpha 2\n"
            "# HELP zeta_total z\n# TYPE zeta_total counter\nzeta_total 1\n");
}

TEST(Metrics, ChildrenSortedByLabelValues) {
  Registry r;
  auto& f = r.gauge("g", "h", {"a", "b"});
  f.with({"y", "1"}).set(3);
  f.with({"x", "2"}).set(2);
  f.with({"x", "1"}).set(1);
  EXPECT_EQ(r.render(),
            "# HELP g h\n# TYPE g gauge\n"
            "g{a=\"x\",b=\"1\"} 1\n"
            "g{a=\"x\",b=\"2\"} 2\n"
            "g{a=\"y\",b=\"1\"} 3\n");
}

TEST(Metrics, GaugeCallbacksAreEvaluatedAtRender) {
  Registry r;
  double depth = 3;
  r.gauge_callback("workqueue_depth", "Current depth", [&] { return depth; });
  int ready = 2, not_ready = 1;
  r.gauge_callback("sysdigtoken_resources", "Resources by Ready status", {"ready"},
                   [&](SampleSink& sink) {
                     sink.add({"True"}, ready);
                     sink.add({"False"}, not_ready);
                     sink.add({"too", "many"}, 99);  // wrong arity: dropped
                   });
  EXPECT_EQ(r.render(),
            "# HELP sysdigtoken_resources Resources by Ready status\n"
            "# TYPE sysdigtoken_resources gauge\n"
            "sysdigtoken_resources{ready=\"True\"} 2\n"
            "sysdigtoken_resources{ready=\"False\"} 1\n"
            "# HELP workqueue_depth Current depth\n"
            "# TYPE workqueue_depth gauge\n"
            "workqueue_depth 3\n");
  depth = 0;
  ready = 3;
  std::string again = r.render();
  EXPECT_NE(again.find("workqueue_depth 0\n"), std::string::npos);
  EXPECT_NE(again.find("sysdigtoken_resources{ready=\"True\"} 3\n"), std::string::npos);
}

TEST(Metrics, CounterCallbackAndEmptyCallback) {
  Registry r;
  r.counter_callback("events_total", "h", [] { return 5.0; });
  r.gauge_callback("nothing", "h", {"l"}, [](SampleSink&) {});
  EXPECT_EQ(r.render(), "# HELP events_total h\n# TYPE events_total counter\nevents_total 5\n");
}

TEST(Metrics, ThrowingCallbackLeavesOutputClean) {
  Registry r;
  r.gauge("a", "h").with().set(1);
  r.gauge_callback("b", "h", {}, [](SampleSink& sink) {
    sink.add({}, 1);
    throw std::runtime_error("boom");
  });
  std::string out;
  EXPECT_THROW(r.render(out), std::runtime_error);
  EXPECT_EQ(out, "# HELP a h\n# TYPE a gauge\na 1\n");
}

TEST(Metrics, RegisteringTheSameFamilyTwiceReturnsIt) {
  Registry r;
  auto& a = r.counter("x_total", "h", {"l"});
  auto& b = r.counter("x_total", "other help", {"l"});
  EXPECT_EQ(&a, &b);
  auto& h1 = r.histogram("h_seconds", "h", {}, {1, 2});
  auto& h2 = r.histogram("h_seconds", "h", {}, {1, 2, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(&h1, &h2);  // a trailing +Inf bound is implied
}

TEST(Metrics, RegistrationErrors) {
  Registry r;
  r.counter("x_total", "h", {"l"});
  EXPECT_THROW(r.gauge("x_total", "h", {"l"}), std::invalid_argument);       // other type
  EXPECT_THROW(r.counter("x_total", "h", {"m"}), std::invalid_argument);     // other labels
  EXPECT_THROW(r.gauge_callback("x_total", "h", [] { return 1.0; }), std::invalid_argument);
  EXPECT_THROW(r.counter("1abc", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("a-b", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("", "h"), std::invalid_argument);
  EXPECT_THROW(r.counter("ok", "h", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok", "h", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(r.counter("ok", "h", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("hist", "h", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("hist", "h", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("hist", "h", {}, {2, 1}), std::invalid_argument);
  EXPECT_TRUE(is_valid_metric_name("ns:sub_name_total"));
  EXPECT_FALSE(is_valid_label_name("has:colon"));
}

TEST(Metrics, WrongNumberOfLabelValuesThrows) {
  Registry r;
  auto& f = r.counter("x_total", "h", {"a", "b"});
  EXPECT_THROW(f.with({"only-one"}), std::invalid_argument);
  EXPECT_THROW(f.with(), std::invalid_argument);
  EXPECT_EQ(f.size(), 0u);
}

TEST(Metrics, Unregister) {
  Registry r;
  r.gauge("a", "h").with().set(1);
  EXPECT_TRUE(r.unregister("a"));
  EXPECT_FALSE(r.unregister("a"));
  EXPECT_EQ(r.render(), "");
  r.counter("a", "now a counter").with().inc();  // the name is free again
  EXPECT_EQ(r.render(), "# HELP a now a counter\n# TYPE a counter\na 1\n");
}

TEST(Metrics, ProcessMetrics) {
  Registry r;
  register_process_metrics(r);
  std::string text = r.render();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_start_time_seconds",
                           "process_open_fds", "process_max_fds"}) {
    EXPECT_EQ(count_lines_starting(text, std::string(name) + " "), 1) << name << "\n" << text;
  }
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  auto pos = text.find("\nprocess_start_time_seconds ");
  ASSERT_NE(pos, std::string::npos);
  double start = std::stod(text.substr(pos + 28));
  EXPECT_GT(start, 1.5e9);  // after 2017: a plausible epoch time, not seconds since boot
  pos = text.find("\nprocess_resident_memory_bytes ");
  ASSERT_NE(pos, std::string::npos);
  EXPECT_GT(std::stod(text.substr(pos + 31)), 1e5);
}

}  // namespace
}  // namespace sto::server
