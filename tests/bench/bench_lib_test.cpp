// The benchmark driver's pure helpers: Prometheus text, the fake's counts,
// /proc parsing, percentiles, durations and the layout of the objects.
#include "bench_lib.h"

#include <gtest/gtest.h>

#include <unistd.h>

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

}  // namespace
}  // namespace sto::bench
