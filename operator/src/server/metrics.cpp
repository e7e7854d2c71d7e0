#include "server/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace sto::server {

namespace {

std::string_view type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Histogram:
      return "histogram";
  }
  return "untyped";
}

void append_uint(std::string& out, std::uint64_t value) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, r.ptr);
}

// name{labels} or name{labels,extra} or name, then the space before the value.
void append_series(std::string& out, std::string_view name, std::string_view suffix,
                   std::string_view labels, std::string_view extra = {}) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
}

template <typename Values>
std::string render_labels(const std::vector<std::string>& names, const Values& values) {
  std::string out;
  std::size_t i = 0;
  for (std::string_view value : values) {
    if (i > 0) out += ',';
    out += names[i++];
    out += "=\"";
    append_escaped_label_value(out, value);
    out += '"';
  }
  return out;
}

[[noreturn]] void invalid(std::string_view name, std::string_view what) {
  throw std::invalid_argument("metric \"" + std::string(name) + "\": " + std::string(what));
}

void check_label_names(std::string_view name, const std::vector<std::string>& labels,
                       MetricType type) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (!is_valid_label_name(labels[i])) invalid(name, "invalid label name \"" + labels[i] + "\"");
    if (type == MetricType::Histogram && labels[i] == "le")
      invalid(name, "a histogram cannot have a label named \"le\"");
    for (std::size_t j = 0; j < i; ++j)
      if (labels[j] == labels[i]) invalid(name, "duplicate label name \"" + labels[i] + "\"");
  }
}

std::vector<double> check_buckets(std::string_view name, std::vector<double> bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i])) invalid(name, "a bucket bound is NaN");
    if (i > 0 && !(bounds[i - 1] < bounds[i]))
      invalid(name, "bucket bounds must be strictly increasing");
  }
  return bounds;
}

}  // namespace

// ---------------------------------------------------------------- helpers

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, r.ptr);
  }
}

// ---------------------------------------------------------------- buckets

const std::vector<double>& default_buckets() {
  static const std::vector<double> buckets{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
      0.7,   0.8,  0.9,   1.0,  1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0,  4.5, 5,
      6,     7,    8,     9,    10,  15,  20,   25,  30,  40,  50,  60};
  return buckets;
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (!(start > 0) || !(factor > 1) || count < 1)
    throw std::invalid_argument("exponential_buckets: need start > 0, factor > 1, count >= 1");
  std::vector<double> out;
  out.reserve(count);
  for (double b = start; out.size() < count; b *= factor) out.push_back(b);
  return out;
}

std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (!(width > 0) || count < 1)
    throw std::invalid_argument("linear_buckets: need width > 0, count >= 1");
  std::vector<double> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(start + width * static_cast<double>(i));
  return out;
}

// ---------------------------------------------------------------- Histogram

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(&bounds), counts_(bounds.size() + 1, 0) {}

void Histogram::observe(double value) {
  // First bound >= value: buckets are "less than or equal"; NaN lands in +Inf.
  auto it = std::lower_bound(bounds_->begin(), bounds_->end(), value);
  ++counts_[static_cast<std::size_t>(it - bounds_->begin())];
  sum_ += value;
  ++count_;
}

std::uint64_t Histogram::cumulative_count(std::size_t i) const {
  std::uint64_t total = 0;
  for (std::size_t k = 0; k <= i && k < counts_.size(); ++k) total += counts_[k];
  return total;
}

// ---------------------------------------------------------------- families

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

void FamilyBase::render_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  if (!help_.empty()) {
    out += ' ';
    append_escaped_help(out, help_);
  }
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
}

template <typename T>
Family<T>::Family(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names, std::vector<double> bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bounds_(std::move(bounds)) {}

template <typename T>
template <typename Values>
T& Family<T>::find_or_create(const Values& values) {
  if (values.size() != label_names().size()) {
    invalid(name(), std::to_string(values.size()) + " label values given for " +
                        std::to_string(label_names().size()) + " labels");
  }
  auto it = children_.find(values);
  if (it != children_.end()) return it->second.metric;
  std::vector<std::string> key(values.begin(), values.end());
  std::string labels = render_labels(label_names(), values);
  if constexpr (std::is_same_v<T, Histogram>) {
    it = children_.emplace(std::move(key), Child{std::move(labels), Histogram(bounds_)}).first;
  } else {
    it = children_.emplace(std::move(key), Child{std::move(labels), T{}}).first;
  }
  return it->second.metric;
}

template <typename T>
T& Family<T>::with(std::initializer_list<std::string_view> values) {
  return find_or_create(std::span<const std::string_view>(values.begin(), values.size()));
}

template <typename T>
T& Family<T>::with(std::span<const std::string_view> values) {
  return find_or_create(values);
}

template <typename T>
T& Family<T>::with(const std::vector<std::string>& values) {
  return find_or_create(values);
}

template <typename T>
void Family<T>::render(std::string& out) const {
  if (children_.empty()) return;
  render_header(out);
  if constexpr (std::is_same_v<T, Histogram>) {
    std::vector<std::string> le;
    le.reserve(bounds_.size() + 1);
    for (double b : bounds_) {
      std::string s = "le=\"";
      append_value(s, b);
      s += '"';
      le.push_back(std::move(s));
    }
    le.emplace_back("le=\"+Inf\"");
    for (const auto& [key, child] : children_) {
      const Histogram& h = child.metric;
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < le.size(); ++i) {
        cumulative += h.counts_[i];
        append_series(out, name(), "_bucket", child.labels, le[i]);
        append_uint(out, cumulative);
        out += '\n';
      }
      append_series(out, name(), "_sum", child.labels);
      append_value(out, h.sum_);
      out += '\n';
      append_series(out, name(), "_count", child.labels);
      append_uint(out, h.count_);
      out += '\n';
    }
  } else {
    for (const auto& [key, child] : children_) {
      append_series(out, name(), {}, child.labels);
      append_value(out, child.metric.value());
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// A family whose samples come from a function at render time.
class CallbackFamily final : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names, std::function<void(SampleSink&)> collect)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        collect_(std::move(collect)) {}

  void render(std::string& out) const override {
    std::size_t mark = out.size();
    render_header(out);
    SampleSink sink(out, *this);
    try {
      collect_(sink);
    } catch (...) {
      out.resize(mark);
      throw;
    }
    if (sink.samples_ == 0) out.resize(mark);
  }

 private:
  std::function<void(SampleSink&)> collect_;
};

void SampleSink::add(std::initializer_list<std::string_view> label_values, double value) {
  add(std::span<const std::string_view>(label_values.begin(), label_values.size()), value);
}

void SampleSink::add(std::span<const std::string_view> label_values, double value) {
  if (label_values.size() != family_.label_names().size()) return;
  std::string labels = render_labels(family_.label_names(), label_values);
  append_series(out_, family_.name(), {}, labels);
  append_value(out_, value);
  out_ += '\n';
  ++samples_;
}

void SampleSink::add(const std::vector<std::string>& label_values, double value) {
  std::vector<std::string_view> views(label_values.begin(), label_values.end());
  add(std::span<const std::string_view>(views), value);
}

// ---------------------------------------------------------------- Registry

Registry::Registry() = default;
Registry::~Registry() = default;

template <typename F>
F& Registry::add_family(std::string_view name, std::string_view help, MetricType type,
                        std::vector<std::string> label_names, std::vector<double> bounds) {
  if (!is_valid_metric_name(name)) invalid(name, "invalid metric name");
  check_label_names(name, label_names, type);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* existing = dynamic_cast<F*>(it->second.get());
    if (existing && existing->type() == type && existing->label_names() == label_names &&
        existing->bounds() == bounds)
      return *existing;
    invalid(name, "already registered with another type, labels or buckets");
  }
  auto family = std::make_unique<F>(std::string(name), std::string(help), type,
                                    std::move(label_names), std::move(bounds));
  F& ref = *family;
  families_.emplace(std::string(name), std::move(family));
  return ref;
}

CounterFamily& Registry::counter(std::string_view name, std::string_view help,
                                 std::vector<std::string> label_names) {
  return add_family<CounterFamily>(name, help, MetricType::Counter, std::move(label_names), {});
}

GaugeFamily& Registry::gauge(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names) {
  return add_family<GaugeFamily>(name, help, MetricType::Gauge, std::move(label_names), {});
}

HistogramFamily& Registry::histogram(std::string_view name, std::string_view help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> buckets) {
  return add_family<HistogramFamily>(name, help, MetricType::Histogram, std::move(label_names),
                                     check_buckets(name, std::move(buckets)));
}

void Registry::add_callback(std::string_view name, std::string_view help, MetricType type,
                            std::vector<std::string> label_names,
                            std::function<void(SampleSink&)> collect) {
  if (!is_valid_metric_name(name)) invalid(name, "invalid metric name");
  check_label_names(name, label_names, type);
  if (!collect) invalid(name, "no callback given");
  if (families_.count(name) != 0) invalid(name, "already registered");
  families_.emplace(std::string(name),
                    std::make_unique<CallbackFamily>(std::string(name), std::string(help), type,
                                                     std::move(label_names), std::move(collect)));
}

void Registry::gauge_callback(std::string_view name, std::string_view help,
                              std::function<double()> value) {
  if (!value) invalid(name, "no callback given");
  add_callback(name, help, MetricType::Gauge, {},
               [value = std::move(value)](SampleSink& sink) { sink.add({}, value()); });
}

void Registry::gauge_callback(std::string_view name, std::string_view help,
                              std::vector<std::string> label_names,
                              std::function<void(SampleSink&)> collect) {
  add_callback(name, help, MetricType::Gauge, std::move(label_names), std::move(collect));
}

void Registry::counter_callback(std::string_view name, std::string_view help,
                                std::function<double()> value) {
  if (!value) invalid(name, "no callback given");
  add_callback(name, help, MetricType::Counter, {},
               [value = std::move(value)](SampleSink& sink) { sink.add({}, value()); });
}

void Registry::counter_callback(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names,
                                std::function<void(SampleSink&)> collect) {
  add_callback(name, help, MetricType::Counter, std::move(label_names), std::move(collect));
}

bool Registry::unregister(std::string_view name) {
  auto it = families_.find(name);
  if (it == families_.end()) return false;
  families_.erase(it);
  return true;
}

std::string Registry::render() const {
  std::string out;
  render(out);
  return out;
}

void Registry::render(std::string& out) const {
  std::size_t start = out.size();
  out.reserve(start + last_size_ + last_size_ / 8);
  for (const auto& [name, family] : families_) family->render(out);
  last_size_ = out.size() - start;
}

// ---------------------------------------------------------------- process metrics

namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_ticks = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

std::optional<ProcStat> read_proc_stat() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 1));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields),
                             std::istream_iterator<std::string>()};
  // f[0] is field 3 (state); field n is f[n - 3].
  if (f.size() < 22) return std::nullopt;
  try {
    static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    static const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    ProcStat s;
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;  // utime + stime
    s.start_ticks = std::stod(f[19]) / ticks;                         // seconds after boot
    s.virtual_bytes = std::stod(f[20]);
    s.resident_bytes = std::stod(f[21]) * page;
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> read_boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double value = 0;
      if (in >> value) return value;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

}  // namespace

void register_process_metrics(Registry& registry) {
  registry.counter_callback("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", {},
                            [](SampleSink& sink) {
                              if (auto s = read_proc_stat()) sink.add({}, s->cpu_seconds);
                            });
  registry.gauge_callback("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                          [](SampleSink& sink) {
                            if (auto s = read_proc_stat()) sink.add({}, s->resident_bytes);
                          });
  registry.gauge_callback("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
                          [](SampleSink& sink) {
                            if (auto s = read_proc_stat()) sink.add({}, s->virtual_bytes);
                          });
  std::optional<double> start_time;
  if (auto boot = read_boot_time()) {
    if (auto s = read_proc_stat()) start_time = *boot + s->start_ticks;
  }
  if (start_time) {
    registry.gauge_callback("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            [t = *start_time] { return t; });
  }
  registry.gauge_callback("process_open_fds", "Number of open file descriptors.", {},
                          [](SampleSink& sink) {
                            std::error_code ec;
                            std::filesystem::directory_iterator it("/proc/self/fd", ec);
                            if (ec) return;
                            double n = 0;
                            for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
                              if (ec) return;
                              ++n;
                            }
                            sink.add({}, n);
                          });
  registry.gauge_callback("process_max_fds", "Maximum number of open file descriptors.", {},
                          [](SampleSink& sink) {
                            rlimit limit{};
                            if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
                                limit.rlim_cur != RLIM_INFINITY)
                              sink.add({}, static_cast<double>(limit.rlim_cur));
                          });
}

}  // namespace sto::server
