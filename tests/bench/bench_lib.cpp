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

// ---- comparing two runs ---------------------------------------------------------------------

std::string format_value(std::optional<double> v, Unit unit) {
  if (!v || !std::isfinite(*v)) return "n/a";
  char buf[64];
  switch (unit) {
    case Unit::Seconds:
      if (*v < 0) return "-" + format_seconds(-*v);
      return format_seconds(*v);
    case Unit::KiB:
      return format_mib(std::llround(*v));
    case Unit::Count:
    case Unit::Text:
      break;
  }
  if (*v == std::round(*v)) std::snprintf(buf, sizeof buf, "%.0f", *v);
  else std::snprintf(buf, sizeof buf, "%.1f", *v);
  return buf;
}

std::string format_change(std::optional<double> a, std::optional<double> b, Unit unit) {
  if (!a || !b || !std::isfinite(*a) || !std::isfinite(*b)) return "n/a";
  if (*a == *b) return "=";
  if (*a == 0) {
    double d = *b - *a;
    return (d > 0 ? "+" : "-") + format_value(std::fabs(d), unit);
  }
  double pct = 100 * (*b - *a) / std::fabs(*a);
  if (std::fabs(pct) < 0.05) return pct > 0 ? "+0 %" : "-0 %";  // not equal, but close
  // One decimal under 10 %, and where rounding would claim all was gone.
  bool fine = std::fabs(pct) < 9.95 || (*b != 0 && std::fabs(pct) >= 99.5 && std::fabs(pct) < 100.5);
  char buf[64];
  std::snprintf(buf, sizeof buf, fine ? "%+.1f %%" : "%+.0f %%", pct);
  return buf;
}

namespace {

using nlohmann::json;
using Path = std::vector<std::string>;

// The value at path (object keys, which may hold '/'), or nullptr.
const json* value_at(const json& doc, const Path& path) {
  const json* cur = &doc;
  for (const auto& key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::optional<double> number_at(const json& doc, const Path& path) {
  const json* v = value_at(doc, path);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

// The sum of the numbers at the paths; nullopt when one is absent.
std::optional<double> sum_at(const json& doc, const std::vector<Path>& paths) {
  double s = 0;
  for (const auto& p : paths) {
    auto v = number_at(doc, p);
    if (!v) return std::nullopt;
    s += *v;
  }
  return s;
}

// The sum of an object's numbers (a member that is an object counts its
// member `field`); nullopt when path is not an object.
std::optional<double> object_total(const json& doc, const Path& path, const std::string& field = {}) {
  const json* v = value_at(doc, path);
  if (!v || !v->is_object()) return std::nullopt;
  double s = 0;
  for (const auto& [k, x] : v->items()) {
    const json& n = field.empty() || !x.is_object() ? x : x.value(field, json());
    if (n.is_number()) s += n.get<double>();
  }
  return s;
}

// The entry key of the object at path: the report leaves out zero counts, so
// a key missing from an object that is there means 0; nullopt when the object
// is not.
std::optional<double> entry_at(const json& doc, const Path& path, const std::string& key,
                               const std::string& field = {}) {
  const json* v = value_at(doc, path);
  if (!v || !v->is_object()) return std::nullopt;
  auto it = v->find(key);
  if (it == v->end()) return 0.0;
  const json& n = field.empty() || !it->is_object() ? *it : it->value(field, json());
  if (!n.is_number()) return std::nullopt;
  return n.get<double>();
}

std::set<std::string> keys_at(const json& a, const json& b, const Path& path) {
  std::set<std::string> out;
  for (const json* doc : {&a, &b}) {
    const json* v = value_at(*doc, path);
    if (v && v->is_object())
      for (const auto& [k, x] : v->items()) out.insert(k);
  }
  return out;
}

// A text value: strings as they are, numbers as format_value shows them, ""
// when absent.
std::string text_at(const json& doc, const Path& path) {
  const json* v = value_at(doc, path);
  if (!v || v->is_null()) return {};
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number()) return format_value(v->get<double>(), Unit::Count);
  return v->dump();
}

std::string parameters_text(const json& doc) {
  const json* p = value_at(doc, {"parameters"});
  if (!p || !p->is_object()) return {};
  std::string out;
  for (const char* k : {"n", "namespaces", "teams", "api_keys"}) {
    std::string v = text_at(*p, {k});
    out += (out.empty() ? "" : " / ") + (v.empty() ? std::string("?") : v);
  }
  return out;
}

std::string latency_text(const json& doc) {
  std::string latency = text_at(doc, {"parameters", "latency_ms"});
  std::string interval = text_at(doc, {"parameters", "refresh_interval"});
  if (latency.empty() && interval.empty()) return {};
  return (latency.empty() ? "?" : latency + " ms") + ", " + (interval.empty() ? "?" : interval);
}

std::string targets_text(const json& doc) {
  const json* t = value_at(doc, {"targets"});
  if (!t || !t->is_array()) return {};
  int met = 0, known = 0;
  for (const auto& x : *t) {
    if (!x.is_object() || !x.contains("met") || !x["met"].is_boolean()) continue;
    ++known;
    if (x["met"].get<bool>()) ++met;
  }
  return std::to_string(met) + " of " + std::to_string(known);
}

struct RowBuilder {
  const json& a;
  const json& b;
  std::vector<CompareRow> rows;
  std::string section;

  void values(const std::string& label, std::optional<double> va, std::optional<double> vb,
              Unit unit) {
    rows.push_back({section, label, format_value(va, unit), format_value(vb, unit),
                    format_change(va, vb, unit)});
  }
  void number(const std::string& label, const Path& path, Unit unit = Unit::Count) {
    values(label, number_at(a, path), number_at(b, path), unit);
  }
  void sum(const std::string& label, const std::vector<Path>& paths, Unit unit = Unit::Count) {
    values(label, sum_at(a, paths), sum_at(b, paths), unit);
  }
  // Text values ("" when absent): "same" or "differs".
  void text(const std::string& label, const std::string& ta, const std::string& tb) {
    std::string change = ta.empty() || tb.empty() ? "n/a" : ta == tb ? "same" : "differs";
    rows.push_back({section, label, ta.empty() ? "n/a" : ta, tb.empty() ? "n/a" : tb, change});
  }
};

}  // namespace

std::optional<std::vector<CompareRow>> compare_reports(std::string_view a_text,
                                                       std::string_view b_text,
                                                       std::string* error) {
  json a = json::parse(a_text, nullptr, false);
  json b = json::parse(b_text, nullptr, false);
  for (const auto* doc : {&a, &b}) {
    if (doc->is_discarded() || !doc->is_object()) {
      if (error) *error = std::string(doc == &a ? "the first" : "the second") + " report is not a JSON object";
      return std::nullopt;
    }
  }
  RowBuilder r{a, b, {}, "Run"};
  {
    r.text("operator (version, commit)", text_at(a, {"environment", "operator"}),
           text_at(b, {"environment", "operator"}));
    bool args_a = value_at(a, {"environment", "operator_args"}) != nullptr;
    bool args_b = value_at(b, {"environment", "operator_args"}) != nullptr;
    std::string ta = text_at(a, {"environment", "operator_args"});
    std::string tb = text_at(b, {"environment", "operator_args"});
    // Present but empty: the default flags.
    r.rows.push_back({r.section, "operator flags", args_a ? (ta.empty() ? "none" : ta) : "n/a",
                      args_b ? (tb.empty() ? "none" : tb) : "n/a",
                      !args_a || !args_b ? "n/a" : ta == tb ? "same" : "differs"});
  }
  r.text("SysdigTokens / namespaces / teams / API keys", parameters_text(a), parameters_text(b));
  r.text("IBM latency, refresh interval", latency_text(a), latency_text(b));
  r.text("targets met", targets_text(a), targets_text(b));

  r.section = "Create burst";
  r.number("all Ready after the last create", {"burst", "all_ready_after_last_create_seconds"},
           Unit::Seconds);
  r.number("all Ready after the first create", {"burst", "all_ready_after_first_create_seconds"},
           Unit::Seconds);
  r.number("time to Ready p50", {"burst", "time_to_ready_seconds", "p50"}, Unit::Seconds);
  r.number("time to Ready p99", {"burst", "time_to_ready_seconds", "p99"}, Unit::Seconds);
  r.number("creates per second", {"burst", "creates_per_second"});
  r.values("operator API requests", object_total(a, {"burst", "api_requests_by_method"}),
           object_total(b, {"burst", "api_requests_by_method"}), Unit::Count);
  for (const auto& m : keys_at(a, b, {"burst", "api_requests_by_method"}))
    r.values("  " + m, entry_at(a, {"burst", "api_requests_by_method"}, m),
             entry_at(b, {"burst", "api_requests_by_method"}, m), Unit::Count);
  r.values("API server requests (all clients)",
           object_total(a, {"burst", "apiserver_requests"}, "requests"),
           object_total(b, {"burst", "apiserver_requests"}, "requests"), Unit::Count);
  for (const auto& k : keys_at(a, b, {"burst", "apiserver_requests"}))
    r.values("  " + k, entry_at(a, {"burst", "apiserver_requests"}, k, "requests"),
             entry_at(b, {"burst", "apiserver_requests"}, k, "requests"), Unit::Count);
  r.values("reconciles", object_total(a, {"burst", "reconciles_by_result"}),
           object_total(b, {"burst", "reconciles_by_result"}), Unit::Count);
  r.number("IAM requests", {"burst", "iam_requests"});
  r.number("Monitoring token requests", {"burst", "monitoring_token_requests"});
  r.number("Monitoring requests (all)", {"burst", "monitoring_requests"});
  r.number("operator CPU", {"burst", "process", "operator_cpu_seconds"}, Unit::Seconds);

  r.section = "Quiet (nothing changing)";
  r.number("window", {"quiet", "window_seconds"}, Unit::Seconds);
  r.number("operator API writes", {"quiet", "api_writes"});
  r.sum("writes seen by the watches",
        {{"quiet", "sysdigtoken_writes_observed"}, {"quiet", "secret_writes_observed"}});
  r.number("IBM requests (IAM + Monitoring)", {"quiet", "ibm_requests"});

  r.section = "Idle (one refresh interval)";
  r.number("window", {"idle", "window_seconds"}, Unit::Seconds);
  r.number("operator API writes (operator metrics)", {"idle", "api_writes"});
  r.sum("writes seen by the watches",
        {{"idle", "sysdigtoken_writes_observed"}, {"idle", "secret_writes_observed"}});
  r.number("operator API reads", {"idle", "api_reads"});
  r.sum("IAM + Monitoring requests", {{"idle", "iam_requests"}, {"idle", "monitoring_requests"}});

  r.section = "Rotation storm";
  r.number("every Secret rotated after the first patch",
           {"storm", "all_secrets_rotated_after_storm_start_seconds"}, Unit::Seconds);
  r.number("patch to new Secret p99", {"storm", "rotation_latency_seconds", "p99"}, Unit::Seconds);
  r.number("Monitoring token requests", {"storm", "monitoring_token_requests"});
  r.values("operator API requests", object_total(a, {"storm", "api_requests_by_method"}),
           object_total(b, {"storm", "api_requests_by_method"}), Unit::Count);

  r.section = "Operator";
  r.number("peak RSS", {"operator", "peak_rss_kib"}, Unit::KiB);
  r.number("steady RSS (after the idle window)", {"operator", "steady_rss_kib"}, Unit::KiB);
  r.number("CPU seconds during the benchmark", {"operator", "cpu_seconds_during_bench"},
           Unit::Seconds);
  return std::move(r.rows);
}

std::string format_compare(const std::vector<CompareRow>& rows, const std::string& label_a,
                           const std::string& label_b) {
  constexpr std::size_t kMaxValue = 40;
  auto clip = [](const std::string& s) {
    return s.size() <= kMaxValue ? s : s.substr(0, kMaxValue - 3) + "...";
  };
  // Short labels head their columns; long ones are only in the legend.
  std::string head_a = label_a.size() <= 24 ? label_a : "A";
  std::string head_b = label_b.size() <= 24 ? label_b : "B";
  std::size_t wl = 0, wa = head_a.size(), wb = head_b.size(), wc = std::string("change").size();
  for (const auto& r : rows) {
    wl = std::max(wl, r.label.size());
    wa = std::max(wa, clip(r.a).size());
    wb = std::max(wb, clip(r.b).size());
    wc = std::max(wc, r.change.size());
  }
  std::string out;
  auto line = [&](const std::string& l, const std::string& a, const std::string& b,
                  const std::string& c) {
    auto pad_left = [](const std::string& s, std::size_t w) {
      return std::string(w > s.size() ? w - s.size() : 0, ' ') + s;
    };
    std::string text = "    " + l + std::string(wl - std::min(wl, l.size()), ' ') + "   " +
                       pad_left(a, wa) + "   " + pad_left(b, wb) + "   " + pad_left(c, wc);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  out += "A: " + label_a + "\n";
  out += "B: " + label_b + "\n";
  out += "change: B relative to A\n\n";
  line("", head_a, head_b, "change");
  std::string section;
  bool first = true;
  for (const auto& r : rows) {
    if (first || r.section != section) {
      section = r.section;
      first = false;
      out += "  " + section + "\n";
    }
    line(r.label, clip(r.a), clip(r.b), r.change);
  }
  return out;
}

}  // namespace sto::bench
