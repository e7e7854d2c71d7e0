// What the fake was asked: per-endpoint counts of outcomes and the most recent
// requests, for tests to assert on (GET /_fake/requests). Credentials never
// enter the log: Authorization-like headers and the API key are redacted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sto::fake {

struct RequestRecord {
  std::int64_t time_ms = 0;  // milliseconds since the epoch
  std::string method;
  std::string target;    // path and query as sent
  std::string endpoint;  // "METHOD /route/{param}", the key of the counts
  std::string outcome;   // status code ("200") or "dropped"
  bool fault = false;    // answered by an injected fault
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names, redacted
  std::vector<std::pair<std::string, std::string>> form;     // form fields, redacted
};

// The value to log for a header or form field: credentials are redacted
// ("Bearer <redacted>" keeps the scheme).
std::string redact(std::string_view lower_case_name, std::string_view value);

class RequestLog {
 public:
  explicit RequestLog(std::size_t max_recent) : max_recent_(max_recent) {}

  void record(RequestRecord record);
  void reset();
  // {"counts":{"POST /identity/token":{"200":3}},"recent":[...]}, oldest first.
  nlohmann::json to_json() const;

 private:
  std::size_t max_recent_;
  std::map<std::string, std::map<std::string, std::uint64_t>> counts_;
  std::deque<RequestRecord> recent_;
};

}  // namespace sto::fake
