// Pure helpers of the benchmark driver, kept apart so that they can be unit
// tested: Prometheus text parsing, the fake's request counts, /proc
// accounting, percentiles, durations and the naming scheme of the objects
// the benchmark creates.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sto::bench {

// ---- Prometheus text exposition format (0.0.4) ------------------------------

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;

  // The label's value, or "" when absent.
  std::string_view label(std::string_view key) const;
};

// Parses the samples of a /metrics answer; comment lines and lines that do
// not parse are skipped. With prefixes, only the samples whose name starts
// with one of them are kept (the API server's /metrics is large).
std::vector<Sample> parse_prometheus_text(std::string_view text,
                                          const std::vector<std::string_view>& prefixes = {});

using Metrics = std::vector<Sample>;

// Sum of the samples named name, grouped by the value of label (all samples
// when label is empty: one entry with key "").
std::map<std::string, double> sum_by(const Metrics& m, std::string_view name,
                                     std::string_view label);
// The same, grouped by the values of several labels joined with " " (empty
// values left out).
std::map<std::string, double> sum_by(const Metrics& m, std::string_view name,
                                     const std::vector<std::string_view>& labels);
// Sum of all samples named name; nullopt when there is none.
std::optional<double> sum_of(const Metrics& m, std::string_view name);

// after - before, key by key (keys of either side).
std::map<std::string, double> delta(const std::map<std::string, double>& before,
                                    const std::map<std::string, double>& after);

// ---- fake-ibm-cloud request counts ------------------------------------------

// endpoint ("GET /api/token") -> outcome ("200", "503", "dropped") -> count
using FakeCounts = std::map<std::string, std::map<std::string, std::int64_t>>;

// The "counts" object of GET /_fake/requests.
std::optional<FakeCounts> parse_fake_counts(std::string_view json);
// Requests to endpoint (all outcomes) in after minus before.
std::int64_t fake_delta(const FakeCounts& before, const FakeCounts& after,
                        std::string_view endpoint);
// Every endpoint's total (all outcomes), after minus before.
std::map<std::string, std::int64_t> fake_deltas(const FakeCounts& before,
                                                const FakeCounts& after);

// ---- /proc accounting --------------------------------------------------------

struct ProcStats {
  bool alive = false;
  double cpu_seconds = 0;  // utime + stime
  std::int64_t rss_kib = 0;  // VmRSS
  std::int64_t hwm_kib = 0;  // VmHWM: peak resident set size
  std::int64_t rss_anon_kib = 0;  // RssAnon: heap, stacks
  std::int64_t rss_file_kib = 0;  // RssFile: mapped binary and libraries
};

ProcStats read_proc(int pid);

// Resident KiB by mapping (file path, "[heap]", "[stack]", "[anonymous]")
// from the contents of /proc/PID/smaps, largest first.
std::vector<std::pair<std::string, std::int64_t>> parse_smaps_rss(std::string_view smaps);
std::vector<std::pair<std::string, std::int64_t>> read_smaps_rss(int pid);

// The whole machine's CPU time from /proc/stat: busy (user, nice, system,
// irq, softirq, steal) and total (busy plus idle and iowait), in seconds
// summed over all cores.
struct MachineCpu {
  double busy_seconds = 0;
  double total_seconds = 0;
};
MachineCpu read_machine_cpu();
MachineCpu parse_machine_cpu(std::string_view proc_stat);
// Parses the contents of /proc/PID/stat and /proc/PID/status.
double parse_stat_cpu_ticks(std::string_view stat);  // utime + stime in clock ticks
std::optional<std::int64_t> parse_status_kib(std::string_view status, std::string_view field);

// ---- statistics --------------------------------------------------------------

struct Distribution {
  std::size_t count = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
};
// Nearest-rank percentiles of the values (seconds, say).
Distribution distribution(std::vector<double> values);

// ---- the objects of a run --------------------------------------------------------

// How N SysdigTokens are spread over M namespaces, K teams and A API keys:
// resource i lives in namespace i % M, uses team i % K and API key i % A.
struct Layout {
  int n = 0, namespaces = 1, teams = 1, api_keys = 1;

  static constexpr const char* kInstanceGuid = "b3c4d5e6-0000-4000-8000-00000000be4c";
  static constexpr std::int64_t kFirstTeamId = 40001;

  int namespace_of(int i) const { return i % namespaces; }
  int team_of(int i) const { return i % teams; }
  int key_of(int i) const { return i % api_keys; }

  std::string namespace_name(int m) const;
  static std::string resource_name(int i);  // "sdt-<i>"
  // The index of a resource name, or -1.
  static int resource_index(std::string_view name);
  static std::int64_t team_id(int k) { return kFirstTeamId + k; }
  static std::string api_key(int a);                  // the key's value in the fake
  static std::string api_key_secret_name(int a);      // "ibm-api-key-<a>"

  // Distinct (team, API key) pairs among the N resources.
  int team_key_pairs() const;
  // Distinct API keys among the N resources.
  int keys_used() const;
  // (namespace, API key) pairs that need an API key Secret.
  std::vector<std::pair<int, int>> key_secrets() const;
};

// The fake's seed (YAML) for a layout.
std::string fake_config_yaml(const Layout& layout);

// The SysdigToken of resource i (JSON).
std::string sysdig_token_json(const Layout& layout, int i, const std::string& ibm_url,
                              const std::string& refresh_interval);

// "sha256:" + the first 16 hex digits of SHA-256(token): the operator's
// fingerprint.
std::string token_fingerprint(std::string_view token);

// ---- formatting --------------------------------------------------------------------

std::string format_seconds(double s);      // "1.23 s", "45 ms"
std::string format_mib(std::int64_t kib);  // "12.3 MiB"

// ---- comparing two runs (bench_driver compare) ---------------------------------------

// How a compared value is shown.
enum class Unit { Count, Seconds, KiB, Text };

// A value as the comparison table shows it: "n/a" when absent; Count as an
// integer (one decimal when fractional), Seconds with format_seconds, KiB
// with format_mib.
std::string format_value(std::optional<double> v, Unit unit);

// The change from a to b, relative to a: "-63 %", "+12 %", "+2.5 %" (one
// decimal under 10 % and for "-99.6 %", which is not all gone), "+0 %" for a
// change under 0.05 %, "=" when equal; when a is 0 and b is not, the absolute
// change in the value's unit ("+3", "+1.20 s"); "n/a" when either is absent.
std::string format_change(std::optional<double> a, std::optional<double> b, Unit unit);

struct CompareRow {
  std::string section;  // "Create burst", ...
  std::string label;
  std::string a, b, change;
};

// The rows comparing two report() documents (JSON text): parameters, the
// burst (time to Ready, requests by method and by API server resource, IAM
// and Monitoring), the quiet and idle phases, the storm and the operator's
// memory and CPU. Values a document does not hold show "n/a". nullopt, with
// *error set, when a document is not a JSON object.
std::optional<std::vector<CompareRow>> compare_reports(std::string_view a, std::string_view b,
                                                       std::string* error = nullptr);

// The rows as a text table with a heading per section, under a legend that
// names the two runs.
std::string format_compare(const std::vector<CompareRow>& rows, const std::string& label_a,
                           const std::string& label_b);

}  // namespace sto::bench
