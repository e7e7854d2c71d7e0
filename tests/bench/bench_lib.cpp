#include "bench_lib.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/encoding.h"

namespace sto::bench {

// ---- Prometheus ----------------------------------------------------------------

std::string_view Sample::label(std::string_view key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return {};
}

namespace {

bool is_name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}

std::optional<double> parse_value(std::string_view v) {
  if (v == "+Inf" || v == "Inf") return HUGE_VAL;
  if (v == "-Inf") return -HUGE_VAL;
  if (v == "NaN") return std::nan("");
  std::string s(v);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return std::nullopt;
  return d;
}

std::optional<Sample> parse_line(std::string_view line) {
  Sample s;
  std::size_t i = 0;
  while (i < line.size() && is_name_char(line[i], i == 0)) ++i;
  if (i == 0) return std::nullopt;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i >= line.size()) return std::nullopt;
      if (line[i] == '}') {
        ++i;
        break;
      }
      std::size_t k = i;
      while (i < line.size() && is_name_char(line[i], i == k)) ++i;
      std::string key(line.substr(k, i - k));
      if (key.empty() || i >= line.size() || line[i] != '=') return std::nullopt;
      ++i;
      if (i >= line.size() || line[i] != '"') return std::nullopt;
      ++i;
      std::string value;
      for (;;) {
        if (i >= line.size()) return std::nullopt;
        char c = line[i++];
        if (c == '"') break;
        if (c == '\\' && i < line.size()) {
          char e = line[i++];
          value += e == 'n' ? '\n' : e;
        } else {
          value += c;
        }
      }
      s.labels.emplace_back(std::move(key), std::move(value));
    }
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  std::size_t v = i;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
  auto value = parse_value(line.substr(v, i - v));
  if (!value) return std::nullopt;
  s.value = *value;  // an optional timestamp may follow; it is ignored
  return s;
}

}  // namespace

std::vector<Sample> parse_prometheus_text(std::string_view text,
                                          const std::vector<std::string_view>& prefixes) {
  std::vector<Sample> out;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    if (!prefixes.empty() &&
        std::none_of(prefixes.begin(), prefixes.end(),
                     [&](std::string_view p) { return line.starts_with(p); }))
      continue;
    if (auto s = parse_line(line)) out.push_back(std::move(*s));
  }
  return out;
}

std::map<std::string, double> sum_by(const Metrics& m, std::string_view name,
                                     std::string_view label) {
  std::map<std::string, double> out;
  for (const auto& s : m) {
    if (s.name != name) continue;
    out[label.empty() ? std::string() : std::string(s.label(label))] += s.value;
  }
  return out;
}

std::map<std::string, double> sum_by(const Metrics& m, std::string_view name,
                                     const std::vector<std::string_view>& labels) {
  std::map<std::string, double> out;
  for (const auto& s : m) {
    if (s.name != name) continue;
    std::string key;
    for (auto l : labels) {
      auto v = s.label(l);
      if (v.empty()) continue;
      if (!key.empty()) key += ' ';
      key += v;
    }
    out[key] += s.value;
  }
  return out;
}

std::optional<double> sum_of(const Metrics& m, std::string_view name) {
  std::optional<double> out;
  for (const auto& s : m)
    if (s.name == name) out = out.value_or(0) + s.value;
  return out;
}

std::map<std::string, double> delta(const std::map<std::string, double>& before,
                                    const std::map<std::string, double>& after) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : after) out[k] = v;
  for (const auto& [k, v] : before) out[k] -= v;
  return out;
}

// ---- fake counts ----------------------------------------------------------------

std::optional<FakeCounts> parse_fake_counts(std::string_view json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("counts") || !j["counts"].is_object())
    return std::nullopt;
  FakeCounts out;
  for (const auto& [endpoint, outcomes] : j["counts"].items()) {
    if (!outcomes.is_object()) continue;
    for (const auto& [outcome, n] : outcomes.items())
      if (n.is_number_integer()) out[endpoint][outcome] = n.get<std::int64_t>();
  }
  return out;
}

namespace {
std::int64_t total(const FakeCounts& c, const std::string& endpoint) {
  auto it = c.find(endpoint);
  if (it == c.end()) return 0;
  std::int64_t n = 0;
  for (const auto& [outcome, count] : it->second) n += count;
  return n;
}
}  // namespace

std::int64_t fake_delta(const FakeCounts& before, const FakeCounts& after,
                        std::string_view endpoint) {
  std::string e(endpoint);
  return total(after, e) - total(before, e);
}

std::map<std::string, std::int64_t> fake_deltas(const FakeCounts& before,
                                                const FakeCounts& after) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [e, _] : after) out[e] = total(after, e) - total(before, e);
  for (const auto& [e, _] : before)
    if (!out.count(e)) out[e] = -total(before, e);
  return out;
}

// ---- /proc ------------------------------------------------------------------------

namespace {
std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

double parse_stat_cpu_ticks(std::string_view stat) {
  // The command name (field 2) is in parentheses and may hold spaces: the
  // fields that follow start after the last ')'. utime and stime are fields
  // 14 and 15, i.e. the 12th and 13th after the parenthesis.
  std::size_t p = stat.rfind(')');
  if (p == std::string_view::npos) return 0;
  std::istringstream in(std::string(stat.substr(p + 1)));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return utime + stime;
}

std::optional<std::int64_t> parse_status_kib(std::string_view status, std::string_view field) {
  std::size_t pos = 0;
  while (pos < status.size()) {
    std::size_t nl = status.find('\n', pos);
    std::string_view line = status.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    if (line.size() > field.size() && line.substr(0, field.size()) == field &&
        line[field.size()] == ':') {
      std::string rest(line.substr(field.size() + 1));
      return std::strtoll(rest.c_str(), nullptr, 10);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return std::nullopt;
}

ProcStats read_proc(int pid) {
  ProcStats out;
  if (pid <= 0) return out;
  std::string base = "/proc/" + std::to_string(pid);
  auto stat = slurp(base + "/stat");
  auto status = slurp(base + "/status");
  if (!stat || !status) return out;
  out.alive = true;
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  out.cpu_seconds = parse_stat_cpu_ticks(*stat) / ticks;
  out.rss_kib = parse_status_kib(*status, "VmRSS").value_or(0);
  out.hwm_kib = parse_status_kib(*status, "VmHWM").value_or(0);
  out.rss_anon_kib = parse_status_kib(*status, "RssAnon").value_or(0);
  out.rss_file_kib = parse_status_kib(*status, "RssFile").value_or(0);
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> parse_smaps_rss(std::string_view smaps) {
  std::map<std::string, std::int64_t> by;
  std::string current = "[anonymous]";
  std::size_t pos = 0;
  while (pos < smaps.size()) {
    std::size_t nl = smaps.find('\n', pos);
    std::string_view line = smaps.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? smaps.size() : nl + 1;
    if (line.empty()) continue;
    // A mapping's header starts with "start-end perms"; its fields are "Name: value".
    std::size_t dash = line.find('-');
    std::size_t space = line.find(' ');
    if (dash != std::string_view::npos && space != std::string_view::npos && dash < space &&
        line.find(':') > space) {
      std::istringstream in{std::string(line)};
      std::string range, perms, offset, dev, inode, path;
      in >> range >> perms >> offset >> dev >> inode;
      std::getline(in >> std::ws, path);
      current = path.empty() ? "[anonymous]" : path;
      continue;
    }
    if (line.starts_with("Rss:")) {
      std::string v(line.substr(4));
      by[current] += std::strtoll(v.c_str(), nullptr, 10);
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> out(by.begin(), by.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> read_smaps_rss(int pid) {
  auto text = slurp("/proc/" + std::to_string(pid) + "/smaps");
  return text ? parse_smaps_rss(*text) : std::vector<std::pair<std::string, std::int64_t>>{};
}

MachineCpu parse_machine_cpu(std::string_view proc_stat) {
  MachineCpu out;
  if (!proc_stat.starts_with("cpu ")) return out;
  std::istringstream in(std::string(proc_stat.substr(4, proc_stat.find('\n') - 4)));
  double v[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // user nice system idle iowait irq softirq steal
  for (double& x : v)
    if (!(in >> x)) break;
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  out.busy_seconds = busy / ticks;
  out.total_seconds = (busy + v[3] + v[4]) / ticks;
  return out;
}

MachineCpu read_machine_cpu() {
  auto stat = slurp("/proc/stat");
  return stat ? parse_machine_cpu(*stat) : MachineCpu{};
}

// ---- statistics ---------------------------------------------------------------------

Distribution distribution(std::vector<double> values) {
  Distribution d;
  d.count = values.size();
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  auto rank = [&](double p) {
    // Nearest rank: the smallest value with at least p of the values at or below it.
    auto k = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(k, 1, values.size()) - 1];
  };
  d.p50 = rank(0.50);
  d.p95 = rank(0.95);
  d.p99 = rank(0.99);
  d.max = values.back();
  double sum = 0;
  for (double v : values) sum += v;
  d.mean = sum / static_cast<double>(values.size());
  return d;
}

// ---- layout ------------------------------------------------------------------------------

std::string Layout::namespace_name(int m) const { return "bench-" + std::to_string(m); }
std::string Layout::resource_name(int i) { return "sdt-" + std::to_string(i); }

int Layout::resource_index(std::string_view name) {
  if (!name.starts_with("sdt-") || name.size() == 4 || name.size() > 14) return -1;
  std::int64_t v = 0;
  for (char c : name.substr(4)) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v > 0x7fffffff ? -1 : static_cast<int>(v);
}

std::string Layout::api_key(int a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "bench-api-key-%04d", a);
  return buf;
}
std::string Layout::api_key_secret_name(int a) { return "ibm-api-key-" + std::to_string(a); }

int Layout::team_key_pairs() const {
  std::set<std::pair<int, int>> pairs;
  for (int i = 0; i < n; ++i) pairs.emplace(team_of(i), key_of(i));
  return static_cast<int>(pairs.size());
}

int Layout::keys_used() const { return std::min(n, api_keys); }

std::vector<std::pair<int, int>> Layout::key_secrets() const {
  std::set<std::pair<int, int>> pairs;
  for (int i = 0; i < n; ++i) pairs.emplace(namespace_of(i), key_of(i));
  return {pairs.begin(), pairs.end()};
}

std::string fake_config_yaml(const Layout& layout) {
  std::string out = "iam:\n  tokenTTLSeconds: 3600\napiKeys:\n";
  for (int a = 0; a < layout.api_keys; ++a)
    out += "  - {key: \"" + Layout::api_key(a) + "\", iamID: \"IBMid-BENCH" + std::to_string(a) +
           "\", enabled: true}\n";
  out += "instances:\n  - guid: \"" + std::string(Layout::kInstanceGuid) +
         "\"\n    region: us-south\n    externalApiAuth: ANY\n    teams:\n";
  for (int k = 0; k < layout.teams; ++k)
    out += "      - {id: " + std::to_string(Layout::team_id(k)) + ", name: \"bench-team-" +
           std::to_string(k) + "\"}\n";
  return out;
}

std::string sysdig_token_json(const Layout& layout, int i, const std::string& ibm_url,
                              const std::string& refresh_interval) {
  nlohmann::json j = {
      {"apiVersion", "monitoring.ibm.com/v1alpha1"},
      {"kind", "SysdigToken"},
      {"metadata",
       {{"name", Layout::resource_name(i)},
        {"namespace", layout.namespace_name(layout.namespace_of(i))},
        {"labels", {{"sto-bench", "1"}}}}},
      {"spec",
       {{"instanceID", Layout::kInstanceGuid},
        {"teamID", Layout::team_id(layout.team_of(i))},
        {"endpoint", ibm_url},
        {"iamEndpoint", ibm_url},
        {"apiKeySecretRef", {{"name", Layout::api_key_secret_name(layout.key_of(i))}}},
        {"refreshInterval", refresh_interval}}}};
  return j.dump();
}

std::string token_fingerprint(std::string_view token) {
  return "sha256:" + sha256_hex(token).substr(0, 16);
}

// ---- formatting -----------------------------------------------------------------------------

std::string format_seconds(double s) {
  char buf[64];
  if (s < 1) std::snprintf(buf, sizeof buf, "%.0f ms", s * 1e3);
  else if (s < 100) std::snprintf(buf, sizeof buf, "%.2f s", s);
  else std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

std::string format_mib(std::int64_t kib) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(kib) / 1024.0);
  return buf;
}

}  // namespace sto::bench
