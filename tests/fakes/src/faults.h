// Fault injection: rules, added through the admin API, that make matching
// requests fail (a status code, optionally with Retry-After), slow down
// (added latency) or lose their connection (drop). Faults never apply to the
// admin API itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"

namespace sto::fake {

struct FaultRule {
  std::uint64_t id = 0;
  std::string path_prefix;               // matches request paths starting with it
  int status = 0;                        // 0: answer normally (latency and/or drop only)
  std::optional<std::int64_t> times;     // remaining applications; nullopt = unlimited
  double probability = 1.0;              // chance that a matching request is hit
  std::chrono::milliseconds latency{0};  // added before answering (or dropping)
  std::int64_t retry_after_seconds = 0;  // Retry-After header when > 0
  bool drop = false;                     // close the connection without an answer
};

// Reads `{"pathPrefix":"/api/token","status":503,"times":3,"probability":1.0,
// "latencyMs":0,"retryAfterSeconds":0,"drop":false}`; errors name the field.
Result<FaultRule, std::string> parse_fault(const nlohmann::json& document);
nlohmann::json to_json(const FaultRule& rule);

// What a request that hit a fault experiences.
struct FaultEffect {
  int status = 0;
  std::chrono::milliseconds latency{0};
  std::int64_t retry_after_seconds = 0;
  bool drop = false;
};

class FaultSet {
 public:
  FaultSet();

  const FaultRule& add(FaultRule rule);
  std::size_t clear();
  const std::vector<FaultRule>& rules() const { return rules_; }

  // The first rule matching `path` that fires (by its probability) and still
  // has applications left; consumes one application.
  std::optional<FaultEffect> hit(std::string_view path);

 private:
  std::vector<FaultRule> rules_;
  std::uint64_t next_id_ = 1;
  std::mt19937_64 random_;
};

}  // namespace sto::fake
