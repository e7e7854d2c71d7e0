#include "faults.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

namespace sto::fake {
namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxLatencyMs = 600'000;
constexpr std::int64_t kMaxRetryAfterSeconds = 86'400;

Result<std::int64_t, std::string> read_integer(const json& value, std::string_view name,
                                               std::int64_t min, std::int64_t max) {
  if (!value.is_number_integer()) {
    return fail(std::string(name) + ": expected an integer");
  }
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return fail(std::string(name) + ": must be at most " + std::to_string(max));
  }
  auto n = value.get<std::int64_t>();
  if (n < min || n > max) {
    return fail(std::string(name) + ": must be between " + std::to_string(min) + " and " +
                std::to_string(max));
  }
  return n;
}

}  // namespace

Result<FaultRule, std::string> parse_fault(const json& document) {
  static constexpr std::array<std::string_view, 7> kFields = {
      "pathPrefix", "status", "times", "probability", "latencyMs", "retryAfterSeconds", "drop"};
  if (!document.is_object()) return fail(std::string("expected a JSON object"));
  for (const auto& [key, value] : document.items()) {
    if (std::find(kFields.begin(), kFields.end(), key) == kFields.end()) {
      return fail(key +
                  ": unknown field (expected one of: pathPrefix, status, times, probability, "
                  "latencyMs, retryAfterSeconds, drop)");
    }
  }

  FaultRule rule;
  auto prefix = document.find("pathPrefix");
  if (prefix == document.end() || !prefix->is_string() ||
      prefix->get_ref<const std::string&>().empty()) {
    return fail(std::string("pathPrefix: required, a path such as \"/api/token\""));
  }
  rule.path_prefix = prefix->get<std::string>();
  if (rule.path_prefix.front() != '/') return fail(std::string("pathPrefix: must start with '/'"));
  if (rule.path_prefix.starts_with("/_fake")) {
    return fail(std::string("pathPrefix: faults cannot apply to the admin API (/_fake/)"));
  }

  if (auto it = document.find("status"); it != document.end() && !it->is_null()) {
    auto status = read_integer(*it, "status", 0, 599);
    if (!status) return fail(status.error());
    if (*status != 0 && *status < 400) return fail(std::string("status: must be 400-599 (or 0)"));
    rule.status = static_cast<int>(*status);
  }
  if (auto it = document.find("times"); it != document.end() && !it->is_null()) {
    auto times = read_integer(*it, "times", 0, std::numeric_limits<std::int64_t>::max());
    if (!times) return fail(times.error());
    if (*times > 0) rule.times = *times;  // 0 means unlimited
  }
  if (auto it = document.find("probability"); it != document.end() && !it->is_null()) {
    if (!it->is_number()) return fail(std::string("probability: expected a number"));
    rule.probability = it->get<double>();
    if (!(rule.probability >= 0.0 && rule.probability <= 1.0)) {
      return fail(std::string("probability: must be between 0 and 1"));
    }
  }
  if (auto it = document.find("latencyMs"); it != document.end() && !it->is_null()) {
    auto ms = read_integer(*it, "latencyMs", 0, kMaxLatencyMs);
    if (!ms) return fail(ms.error());
    rule.latency = std::chrono::milliseconds(*ms);
  }
  if (auto it = document.find("retryAfterSeconds"); it != document.end() && !it->is_null()) {
    auto seconds = read_integer(*it, "retryAfterSeconds", 0, kMaxRetryAfterSeconds);
    if (!seconds) return fail(seconds.error());
    rule.retry_after_seconds = *seconds;
  }
  if (auto it = document.find("drop"); it != document.end() && !it->is_null()) {
    if (!it->is_boolean()) return fail(std::string("drop: expected true or false"));
    rule.drop = it->get<bool>();
  }

  if (rule.drop && rule.status != 0) {
    return fail(std::string("drop: a dropped connection has no status; give one or the other"));
  }
  if (rule.retry_after_seconds > 0 && rule.status == 0) {
    return fail(std::string("retryAfterSeconds: needs a status (for example 429 or 503)"));
  }
  if (rule.status == 0 && !rule.drop && rule.latency.count() == 0) {
    return fail(std::string("a fault needs a status, latencyMs or drop"));
  }
  return rule;
}

json to_json(const FaultRule& rule) {
  json out = {{"id", rule.id},
              {"pathPrefix", rule.path_prefix},
              {"status", rule.status},
              {"probability", rule.probability},
              {"latencyMs", rule.latency.count()},
              {"retryAfterSeconds", rule.retry_after_seconds},
              {"drop", rule.drop}};
  out["times"] = rule.times ? json(*rule.times) : json(nullptr);
  return out;
}

FaultSet::FaultSet() : random_(std::random_device{}()) {}

const FaultRule& FaultSet::add(FaultRule rule) {
  rule.id = next_id_++;
  rules_.push_back(std::move(rule));
  return rules_.back();
}

std::size_t FaultSet::clear() { return std::exchange(rules_, {}).size(); }

std::optional<FaultEffect> FaultSet::hit(std::string_view path) {
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!path.starts_with(it->path_prefix)) continue;
    if (it->probability < 1.0 &&
        std::uniform_real_distribution<double>(0.0, 1.0)(random_) >= it->probability) {
      continue;
    }
    FaultEffect effect{it->status, it->latency, it->retry_after_seconds, it->drop};
    if (it->times && --*it->times == 0) rules_.erase(it);  // used up
    return effect;
  }
  return std::nullopt;
}

}  // namespace sto::fake
