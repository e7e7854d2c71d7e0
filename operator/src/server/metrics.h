// A small Prometheus metrics registry: counters, gauges and histograms with
// label families, gauges and counters computed at scrape time, and the text
// exposition format 0.0.4.
//
// Families are registered once (usually at startup); a family hands out one
// child per set of label values, created at first use. The reference it
// returns stays valid as long as the registry lives, so callers look a child
// up once and keep it: an increment is then one addition, no lookup.
//
//   Registry registry;
//   auto& total = registry.counter("controller_runtime_reconcile_total",
//                                  "Total number of reconciliations per controller",
//                                  {"controller", "result"});
//   Counter& ok = total.with({"sysdigtoken", "success"});
//   ok.inc();
//
// Not thread-safe: the operator updates and renders metrics on one event loop.
// Programming errors (invalid names, a name registered twice with another
// shape, a wrong number of label values) throw std::invalid_argument.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sto::server {

enum class MetricType { Counter, Gauge, Histogram };

// A value that only goes up (or is reset by a restart).
class Counter {
 public:
  void inc() { value_ += 1; }
  // Negative (and NaN) increments are ignored: a counter never goes down.
  void inc(double amount) {
    if (amount > 0) value_ += amount;
  }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

// A value that goes up and down.
class Gauge {
 public:
  void set(double value) { value_ = value; }
  void inc(double amount = 1) { value_ += amount; }
  void dec(double amount = 1) { value_ -= amount; }
  double value() const { return value_; }

 private:
  double value_ = 0;
};

// Observations counted into buckets with inclusive upper bounds ("le"), plus
// their sum and count. The bounds belong to the family.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double value);

  const std::vector<double>& bounds() const { return *bounds_; }
  // Observations <= bounds()[i], cumulative; i == bounds().size() is +Inf.
  std::uint64_t cumulative_count(std::size_t i) const;
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  template <typename>
  friend class Family;
  const std::vector<double>* bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket (not cumulative); last is +Inf
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

// controller-runtime's reconcile-time buckets: 0.005 s .. 60 s.
const std::vector<double>& default_buckets();
// count bounds: start, start*factor, ...; start > 0, factor > 1, count >= 1.
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);
// count bounds: start, start+width, ...; width > 0, count >= 1.
std::vector<double> linear_buckets(double start, double width, std::size_t count);

namespace detail {

// Orders label-value tuples; also compares them with string_view spans so a
// lookup needs no allocation.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    auto less = [](std::string_view x, std::string_view y) { return x < y; };
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), less);
  }
};

}  // namespace detail

// What every family has; rendering is per type.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Appends the family (HELP, TYPE and every sample); nothing when it has no
  // samples.
  virtual void render(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> label_names);
  void render_header(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// The children of one metric name, one per set of label values.
template <typename T>
class Family final : public FamilyBase {
 public:
  // The child for these label values, given in the order of label_names();
  // created (at zero) on first use. The reference stays valid for the
  // registry's lifetime. with() without values is the single child of a
  // family without labels.
  T& with(std::initializer_list<std::string_view> values = {});
  T& with(std::span<const std::string_view> values);
  T& with(const std::vector<std::string>& values);
  std::size_t size() const { return children_.size(); }

  void render(std::string& out) const override;

  // Use Registry to create families.
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::vector<double> bounds);

  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct Child {
    std::string labels;  // rendered: l1="v1",l2="v2" (escaped), empty without labels
    T metric;
  };
  template <typename Values>
  T& find_or_create(const Values& values);

  std::vector<double> bounds_;  // histograms only
  std::map<std::vector<std::string>, Child, detail::LabelValuesLess> children_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Receives the samples of a callback family at render time.
class SampleSink {
 public:
  // A sample with label values in the order of the family's label names; a
  // sample with the wrong number of values is dropped.
  void add(std::initializer_list<std::string_view> label_values, double value);
  void add(std::span<const std::string_view> label_values, double value);
  void add(const std::vector<std::string>& label_values, double value);

 private:
  friend class CallbackFamily;
  SampleSink(std::string& out, const FamilyBase& family) : out_(out), family_(family) {}
  std::string& out_;
  const FamilyBase& family_;
  std::size_t samples_ = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the one already registered under this
  // name with the same type, label names (and buckets); the first help text
  // stays.
  CounterFamily& counter(std::string_view name, std::string_view help,
                         std::vector<std::string> label_names = {});
  GaugeFamily& gauge(std::string_view name, std::string_view help,
                     std::vector<std::string> label_names = {});
  HistogramFamily& histogram(std::string_view name, std::string_view help,
                             std::vector<std::string> label_names = {},
                             std::vector<double> buckets = default_buckets());

  // Families whose samples are computed by a function at render time, e.g.
  // a queue's depth or resources counted by status. The function must stay
  // callable for as long as the registry is rendered (or until unregister()).
  void gauge_callback(std::string_view name, std::string_view help, std::function<double()> value);
  void gauge_callback(std::string_view name, std::string_view help,
                      std::vector<std::string> label_names,
                      std::function<void(SampleSink&)> collect);
  void counter_callback(std::string_view name, std::string_view help,
                        std::function<double()> value);
  void counter_callback(std::string_view name, std::string_view help,
                        std::vector<std::string> label_names,
                        std::function<void(SampleSink&)> collect);

  // Removes a family; references to its children dangle afterwards. True if
  // it existed.
  bool unregister(std::string_view name);

  // Text exposition format 0.0.4, families sorted by name, children by label
  // values.
  std::string render() const;
  void render(std::string& out) const;

 private:
  template <typename F>
  F& add_family(std::string_view name, std::string_view help, MetricType type,
                std::vector<std::string> label_names, std::vector<double> bounds);
  void add_callback(std::string_view name, std::string_view help, MetricType type,
                    std::vector<std::string> label_names,
                    std::function<void(SampleSink&)> collect);

  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
  mutable std::size_t last_size_ = 0;  // capacity hint for the next render
};

// Registers the standard process_* metrics of the Prometheus client libraries
// (CPU seconds, resident and virtual memory, start time, open and maximum
// file descriptors), read from /proc at render time. Linux only; values that
// cannot be read are left out.
void register_process_metrics(Registry& registry);

// Exposition-format helpers (exposed for tests and other writers).
bool is_valid_metric_name(std::string_view name);
bool is_valid_label_name(std::string_view name);
// Label value: backslash, double quote and line feed escaped.
void append_escaped_label_value(std::string& out, std::string_view value);
// HELP text: backslash and line feed escaped.
void append_escaped_help(std::string& out, std::string_view help);
// Shortest round-trip form; "+Inf", "-Inf", "NaN".
void append_value(std::string& out, double value);

}  // namespace sto::server
