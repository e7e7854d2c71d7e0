// The benchmark driver's pure helpers: Prometheus text, the fake's counts,
// /proc parsing, percentiles, durations and the layout of the objects.
#include "bench_lib.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <sstream>

namespace sto::bench {
namespace {

TEST(PrometheusText, ParsesLabelsEscapesAndSkipsComments) {
  auto m = parse_prometheus_text(
      "# HELP rest_client_requests_total Requests\n"
      "# TYPE rest_client_requests_total counter\n"
      "rest_client_requests_total{code=\"200\",method=\"GET\",host=\"127.0.0.1:6443\"} 7\n"
      "rest_client_requests_total{code=\"201\",method=\"POST\",host=\"a\\\"b\"} 3 1700000000000\n"
      "rest_client_requests_total{code=\"200\",method=\"GET\",host=\"x\"} 2\n"
      "process_resident_memory_bytes 1.5e+07\n"
      "garbage line {\n"
      "workqueue_depth{name=\"sysdigtoken\"} +Inf\n");
  ASSERT_EQ(m.size(), 5u);
  EXPECT_EQ(m[1].label("host"), "a\"b");
  auto by = sum_by(m, "rest_client_requests_total", "method");
  EXPECT_EQ(by["GET"], 9);
  EXPECT_EQ(by["POST"], 3);
  EXPECT_EQ(*sum_of(m, "process_resident_memory_bytes"), 1.5e7);
  EXPECT_FALSE(sum_of(m, "absent").has_value());
  auto by2 = sum_by(m, "rest_client_requests_total", std::vector<std::string_view>{"method", "code"});
  EXPECT_EQ(by2["GET 200"], 9);
  EXPECT_EQ(by2["POST 201"], 3);
  auto only = parse_prometheus_text("a_total 1\nb_total 2\nab 3\n", {"a"});
  EXPECT_EQ(only.size(), 2u);
  auto d = delta({{"GET", 2}, {"PUT", 1}}, by);
  EXPECT_EQ(d["GET"], 7);
  EXPECT_EQ(d["PUT"], -1);
}

TEST(FakeCounts, DeltasOverAllOutcomes) {
  auto before = parse_fake_counts(R"({"counts":{"GET /api/token":{"200":3}},"recent":[]})");
  auto after = parse_fake_counts(
      R"({"counts":{"GET /api/token":{"200":7,"503":1},"POST /identity/token":{"200":2}},"recent":[]})");
  ASSERT_TRUE(before && after);
  EXPECT_EQ(fake_delta(*before, *after, "GET /api/token"), 5);
  EXPECT_EQ(fake_delta(*before, *after, "POST /identity/token"), 2);
  EXPECT_EQ(fake_deltas(*before, *after).size(), 2u);
  EXPECT_FALSE(parse_fake_counts("not json"));
}

TEST(Proc, ParsesStatAndStatus) {
  EXPECT_EQ(parse_stat_cpu_ticks("42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 0 0 20 0"), 300);
  EXPECT_EQ(parse_status_kib("Name:\tx\nVmHWM:\t   12345 kB\nVmRSS:\t  999 kB\n", "VmRSS"), 999);
  EXPECT_EQ(parse_status_kib("VmHWM:\t   12345 kB\n", "VmHWM"), 12345);
  EXPECT_FALSE(parse_status_kib("VmHWMX: 1 kB\n", "VmHWM"));
  auto self = read_proc(static_cast<int>(getpid()));
  EXPECT_TRUE(self.alive);
  EXPECT_GT(self.rss_kib, 0);
  EXPECT_GE(self.hwm_kib, self.rss_kib);
  EXPECT_GT(self.rss_anon_kib + self.rss_file_kib, 0);
  EXPECT_FALSE(read_proc(0).alive);
}

TEST(Proc, SmapsByMapping) {
  auto by = parse_smaps_rss(
      "55d0c0000000-55d0c0100000 r-xp 00000000 08:01 1234   /usr/bin/op\n"
      "Size:               1024 kB\n"
      "Rss:                 300 kB\n"
      "55d0c1000000-55d0c1400000 rw-p 00000000 00:00 0      [heap]\n"
      "Rss:                2000 kB\n"
      "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n"
      "Rss:                  50 kB\n"
      "7f0000200000-7f0000300000 r--p 00010000 08:01 99     /usr/bin/op\n"
      "Rss:                 100 kB\n");
  ASSERT_EQ(by.size(), 3u);
  EXPECT_EQ(by[0].first, "[heap]");
  EXPECT_EQ(by[1].first, "/usr/bin/op");
  EXPECT_EQ(by[1].second, 400);
  EXPECT_EQ(by[2].first, "[anonymous]");
  EXPECT_FALSE(read_smaps_rss(static_cast<int>(getpid())).empty());
}

TEST(Proc, MachineCpu) {
  long hz = sysconf(_SC_CLK_TCK);
  auto m = parse_machine_cpu("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n");
  EXPECT_DOUBLE_EQ(m.busy_seconds, 150.0 / hz);
  EXPECT_DOUBLE_EQ(m.total_seconds, 1000.0 / hz);
  EXPECT_GT(read_machine_cpu().total_seconds, 0);
}

TEST(Distribution, NearestRank) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  auto d = distribution(v);
  EXPECT_EQ(d.count, 100u);
  EXPECT_EQ(d.p50, 50);
  EXPECT_EQ(d.p95, 95);
  EXPECT_EQ(d.p99, 99);
  EXPECT_EQ(d.max, 100);
  EXPECT_DOUBLE_EQ(d.mean, 50.5);
  EXPECT_EQ(distribution({}).count, 0u);
  EXPECT_EQ(distribution({4}).p99, 4);
}

TEST(Layout, SpreadsResources) {
  Layout l{.n = 12, .namespaces = 3, .teams = 4, .api_keys = 2};
  EXPECT_EQ(l.team_key_pairs(), 4);  // (i%4, i%2): team determines key
  EXPECT_EQ(l.keys_used(), 2);
  EXPECT_EQ(l.key_secrets().size(), 6u);
  EXPECT_EQ(Layout::resource_index("sdt-1234"), 1234);
  EXPECT_EQ(Layout::resource_index(Layout::resource_name(7)), 7);
  EXPECT_EQ(Layout::resource_index("sdt-"), -1);
  EXPECT_EQ(Layout::resource_index("other"), -1);
  Layout three{.n = 30, .namespaces = 1, .teams = 3, .api_keys = 5};
  EXPECT_EQ(three.team_key_pairs(), 15);
  std::string yaml = fake_config_yaml(l);
  EXPECT_NE(yaml.find("bench-api-key-0001"), std::string::npos);
  EXPECT_NE(yaml.find("id: 40004"), std::string::npos);
  std::string j = sysdig_token_json(l, 5, "https://127.0.0.1:1", "2m");
  EXPECT_NE(j.find("\"namespace\":\"bench-2\""), std::string::npos);
  EXPECT_NE(j.find("\"teamID\":40002"), std::string::npos);
  EXPECT_NE(j.find("ibm-api-key-1"), std::string::npos);
}

TEST(Fingerprint, MatchesTheOperator) {
  // sha256("abc") = ba7816bf8f01cfea...
  EXPECT_EQ(token_fingerprint("abc"), "sha256:ba7816bf8f01cfea");
}

TEST(Compare, FormatsValues) {
  EXPECT_EQ(format_value(std::nullopt, Unit::Count), "n/a");
  EXPECT_EQ(format_value(1669, Unit::Count), "1669");
  EXPECT_EQ(format_value(171.32, Unit::Count), "171.3");
  EXPECT_EQ(format_value(22.323973228, Unit::Seconds), "22.32 s");
  EXPECT_EQ(format_value(0.045, Unit::Seconds), "45 ms");
  EXPECT_EQ(format_value(21092, Unit::KiB), "20.6 MiB");
}

TEST(Compare, ChangeRelativeToA) {
  EXPECT_EQ(format_change(100, 37, Unit::Count), "-63 %");
  EXPECT_EQ(format_change(20, 30, Unit::Count), "+50 %");
  EXPECT_EQ(format_change(1000, 1025, Unit::Count), "+2.5 %");
  EXPECT_EQ(format_change(1000, 990, Unit::Count), "-1.0 %");
  EXPECT_EQ(format_change(4, 4, Unit::Count), "=");
  EXPECT_EQ(format_change(0, 0, Unit::Count), "=");
  // From zero a relative change means nothing: the absolute one, in the unit.
  EXPECT_EQ(format_change(0, 3, Unit::Count), "+3");
  EXPECT_EQ(format_change(0, 1.2, Unit::Seconds), "+1.20 s");
  EXPECT_EQ(format_change(2, 0, Unit::Count), "-100 %");
  EXPECT_EQ(format_change(1000, 4, Unit::Count), "-99.6 %");  // not "-100 %": some are left
  EXPECT_EQ(format_change(132.06, 132.02, Unit::Seconds), "-0 %");
  EXPECT_EQ(format_change(-2, -1, Unit::Count), "+50 %");
  EXPECT_EQ(format_change(std::nullopt, 3, Unit::Count), "n/a");
  EXPECT_EQ(format_change(3, std::nullopt, Unit::KiB), "n/a");
}

const CompareRow* find_row(const std::vector<CompareRow>& rows, const std::string& section,
                           const std::string& label) {
  for (const auto& r : rows)
    if (r.section == section && r.label == label) return &r;
  return nullptr;
}

TEST(Compare, RowsFromTwoReports) {
  // A: an older report without a quiet phase or a storm; B: a newer one.
  const char* a = R"js({
    "parameters": {"n": 1000, "namespaces": 10, "teams": 10, "api_keys": 4,
                   "latency_ms": 20, "refresh_interval": "2m"},
    "environment": {"operator": "0.1.0 (278dd29)", "operator_args": ""},
    "burst": {"all_ready_after_last_create_seconds": 22.3,
              "time_to_ready_seconds": {"p50": 13.86, "p99": 22.21},
              "api_requests_by_method": {"GET": 1000, "PATCH": 2000, "POST": 1669},
              "apiserver_requests": {"POST secrets": {"requests": 1000, "mean_latency_ms": 18.7}},
              "iam_requests": 4, "monitoring_token_requests": 20},
    "idle": {"api_writes": 1203, "sysdigtoken_writes_observed": 1000, "secret_writes_observed": 0},
    "operator": {"peak_rss_kib": 22680, "steady_rss_kib": 21264, "cpu_seconds_during_bench": 5.83},
    "targets": [{"met": false}, {"met": true}, {"met": null}]
  })js";
  const char* b = R"js({
    "parameters": {"n": 1000, "namespaces": 10, "teams": 10, "api_keys": 4,
                   "latency_ms": 20, "refresh_interval": "2m"},
    "environment": {"operator": "0.1.0 (b8d56bd)", "operator_args": ""},
    "burst": {"all_ready_after_last_create_seconds": 3.1,
              "time_to_ready_seconds": {"p50": 1.5, "p99": 2.9},
              "api_requests_by_method": {"GET": 4, "PATCH": 1000, "POST": 1000, "WATCH": 2},
              "apiserver_requests": {"APPLY secrets": {"requests": 1000}},
              "iam_requests": 4, "monitoring_token_requests": 20},
    "quiet": {"window_seconds": 30.02, "api_writes": 0, "sysdigtoken_writes_observed": 0,
              "secret_writes_observed": 0, "ibm_requests": 0},
    "idle": {"api_writes": 0, "sysdigtoken_writes_observed": 0, "secret_writes_observed": 0},
    "storm": {"all_secrets_rotated_after_storm_start_seconds": 8.5, "monitoring_token_requests": 20},
    "operator": {"peak_rss_kib": 18000, "steady_rss_kib": null, "cpu_seconds_during_bench": 2.0},
    "targets": [{"met": true}, {"met": true}]
  })js";
  std::string error;
  auto rows = compare_reports(a, b, &error);
  ASSERT_TRUE(rows) << error;

  auto* r = find_row(*rows, "Create burst", "all Ready after the last create");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "22.30 s");
  EXPECT_EQ(r->b, "3.10 s");
  EXPECT_EQ(r->change, "-86 %");

  r = find_row(*rows, "Create burst", "time to Ready p99");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->change, "-87 %");

  // Methods of either run; a method the other run's object lacks counts 0.
  r = find_row(*rows, "Create burst", "  WATCH");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "0");
  EXPECT_EQ(r->b, "2");
  EXPECT_EQ(r->change, "+2");
  r = find_row(*rows, "Create burst", "operator API requests");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "4669");
  EXPECT_EQ(r->b, "2006");
  r = find_row(*rows, "Create burst", "  POST secrets");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->b, "0");
  EXPECT_EQ(r->change, "-100 %");
  EXPECT_TRUE(find_row(*rows, "Create burst", "  APPLY secrets"));

  // Missing values: n/a, and no change.
  r = find_row(*rows, "Quiet (nothing changing)", "operator API writes");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "n/a");
  EXPECT_EQ(r->b, "0");
  EXPECT_EQ(r->change, "n/a");
  r = find_row(*rows, "Operator", "steady RSS (after the idle window)");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "20.8 MiB");
  EXPECT_EQ(r->b, "n/a");
  r = find_row(*rows, "Rotation storm", "every Secret rotated after the first patch");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "n/a");
  EXPECT_EQ(r->b, "8.50 s");

  r = find_row(*rows, "Idle (one refresh interval)", "writes seen by the watches");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "1000");
  EXPECT_EQ(r->b, "0");
  EXPECT_EQ(r->change, "-100 %");

  r = find_row(*rows, "Operator", "peak RSS");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->change, "-21 %");

  r = find_row(*rows, "Run", "SysdigTokens / namespaces / teams / API keys");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "1000 / 10 / 10 / 4");
  EXPECT_EQ(r->change, "same");
  r = find_row(*rows, "Run", "operator (version, commit)");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->change, "differs");
  r = find_row(*rows, "Run", "operator flags");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "none");
  r = find_row(*rows, "Run", "targets met");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->a, "1 of 2");
  EXPECT_EQ(r->b, "2 of 2");

  EXPECT_FALSE(compare_reports("not json", b, &error));
  EXPECT_NE(error.find("first"), std::string::npos);
  EXPECT_FALSE(compare_reports(a, "[1, 2]", &error));
  EXPECT_NE(error.find("second"), std::string::npos);
  // Two empty documents: every value n/a.
  auto empty = compare_reports("{}", "{}");
  ASSERT_TRUE(empty);
  for (const auto& row : *empty) {
    EXPECT_EQ(row.a, "n/a") << row.label;
    EXPECT_EQ(row.change, "n/a") << row.label;
  }
}

TEST(Compare, TableAlignsColumnsUnderSections) {
  std::vector<CompareRow> rows = {
      {"Create burst", "all Ready after the last create", "22.30 s", "3.10 s", "-86 %"},
      {"Create burst", "IAM requests", "4", "4", "="},
      {"Operator", "peak RSS", "22.1 MiB", "n/a", "n/a"},
  };
  std::string t = format_compare(rows, "main", "a-very-long-label-of-a-binary-path/operator");
  EXPECT_EQ(t.find("A: main\nB: a-very-long-label-of-a-binary-path/operator\n"), 0u);
  EXPECT_NE(t.find("\n  Create burst\n"), std::string::npos);
  EXPECT_NE(t.find("\n  Operator\n"), std::string::npos);
  // One section heading per section, in order.
  EXPECT_LT(t.find("Create burst"), t.find("Operator"));
  EXPECT_EQ(t.find("Create burst"), t.rfind("Create burst"));
  // The long label heads its column as "B"; the short one as itself.
  std::istringstream in(t);
  std::string line, header;
  std::vector<std::string> data;
  while (std::getline(in, line)) {
    if (line.find("change") != std::string::npos && line.rfind("change:", 0) != 0) header = line;
    if (line.rfind("    ", 0) == 0 && line != header) data.push_back(line);
  }
  ASSERT_FALSE(header.empty());
  EXPECT_NE(header.find("main"), std::string::npos);
  EXPECT_EQ(header.find("a-very-long"), std::string::npos);
  ASSERT_EQ(data.size(), 3u);
  // Values are right-aligned: every row (and the header) ends its change
  // column at the same place, and the A values end at the same column.
  for (const auto& d : data) EXPECT_EQ(d.size(), header.size()) << d;
  EXPECT_EQ(data[0].find("22.30 s") + 7, data[1].find(" 4 ") + 2);
  EXPECT_NE(data[2].find("n/a"), std::string::npos);
}

}  // namespace
}  // namespace sto::bench
