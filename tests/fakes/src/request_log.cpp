#include "request_log.h"

#include <array>
#include <chrono>
#include <ctime>

namespace sto::fake {
namespace {

std::string format_time(std::int64_t time_ms) {
  std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 40> text{};
  std::size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out(text.data(), n);
  auto millis = std::to_string(time_ms % 1000);
  return out + "." + std::string(3 - millis.size(), '0') + millis + "Z";
}

}  // namespace

std::string redact(std::string_view name, std::string_view value) {
  if (name == "authorization" || name == "proxy-authorization") {
    auto space = value.find(' ');
    if (space == std::string_view::npos) return "<redacted>";
    return std::string(value.substr(0, space)) + " <redacted>";
  }
  static constexpr std::array<std::string_view, 9> kSecrets = {
      "cookie",  "set-cookie",    "x-api-key", "apikey",       "api_key",
      "refresh_token", "password", "client_secret", "cr_token"};
  for (auto secret : kSecrets) {
    if (name == secret) return "<redacted>";
  }
  return std::string(value);
}

void RequestLog::record(RequestRecord record) {
  ++counts_[record.endpoint][record.outcome];
  if (max_recent_ == 0) return;
  if (recent_.size() == max_recent_) recent_.pop_front();
  recent_.push_back(std::move(record));
}

void RequestLog::reset() {
  counts_.clear();
  recent_.clear();
}

nlohmann::json RequestLog::to_json() const {
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [endpoint, outcomes] : counts_) {
    for (const auto& [outcome, n] : outcomes) counts[endpoint][outcome] = n;
  }
  nlohmann::json recent = nlohmann::json::array();
  for (const auto& r : recent_) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : r.headers) {
      auto& slot = headers[name];
      slot = slot.is_null() ? value : slot.get<std::string>() + ", " + value;
    }
    nlohmann::json entry = {
        {"time", format_time(r.time_ms)}, {"method", r.method},   {"path", r.target},
        {"endpoint", r.endpoint},         {"outcome", r.outcome}, {"fault", r.fault},
        {"headers", std::move(headers)}};
    if (!r.form.empty()) {
      nlohmann::json form = nlohmann::json::object();
      for (const auto& [name, value] : r.form) form[name] = value;
      entry["form"] = std::move(form);
    }
    recent.push_back(std::move(entry));
  }
  return {{"counts", std::move(counts)}, {"recent", std::move(recent)}};
}

}  // namespace sto::fake
