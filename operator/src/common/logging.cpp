#include "common/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace sto::log {
namespace {

struct LoggerState {
  Level level = Level::Info;
  Format format = Format::Json;
  std::shared_ptr<spdlog::logger> logger;
  std::mutex sink_mutex;
  Sink sink;
};

LoggerState& state() {
  static LoggerState s;
  static const bool initialised = [] {
    s.logger = spdlog::stderr_logger_mt("sysdig-token-operator");
    s.logger->set_pattern("%v");
    s.logger->set_level(spdlog::level::trace);
    s.logger->flush_on(spdlog::level::trace);
    return true;
  }();
  (void)initialised;
  return s;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - secs).count();
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
  if (text == "debug") return Level::Debug;
  if (text == "info") return Level::Info;
  if (text == "warn" || text == "warning") return Level::Warn;
  if (text == "error") return Level::Error;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "json") return Format::Json;
  if (text == "text") return Format::Text;
  return std::nullopt;
}

void configure(Level level, Format format) {
  state().level = level;
  state().format = format;
}

bool enabled(Level level) { return level >= state().level; }

Level level() { return state().level; }

std::string Record::field(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return v;
  }
  return {};
}

Sink set_sink(Sink sink) {
  auto& st = state();
  std::lock_guard lock(st.sink_mutex);
  std::swap(st.sink, sink);
  return sink;
}

std::string format_record(Format format, Level level, std::string_view time,
                          std::string_view message, std::span<const Field> fields) {
  if (format == Format::Json) {
    nlohmann::ordered_json j;
    j["level"] = level_name(level);
    j["time"] = time;
    j["msg"] = message;
    for (const auto& f : fields) j[std::string(f.key)] = f.value;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string line;
  line.reserve(64 + message.size());
  line.append(time).append(" ");
  std::string lvl(level_name(level));
  for (auto& c : lvl) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  line.append(lvl).append(" ").append(message);
  for (const auto& f : fields) {
    line.append(" ").append(f.key).append("=");
    if (needs_quotes(f.value)) {
      line.append(nlohmann::json(std::string(f.value))
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      line.append(f.value);
    }
  }
  return line;
}

void write(Level level, std::string_view message, std::span<const Field> fields) {
  auto& st = state();
  if (level < st.level) return;
  {
    std::lock_guard lock(st.sink_mutex);
    if (st.sink) {
      Record record{level, std::string(message), {}};
      for (const auto& f : fields) record.fields.emplace_back(f.key, f.value);
      st.sink(record);
      return;
    }
  }
  st.logger->info(format_record(st.format, level, now_rfc3339(), message, fields));
}

Throttle::Throttle(Clock::duration interval, std::function<Clock::time_point()> now)
    : interval_(interval), now_(now ? std::move(now) : [] { return Clock::now(); }) {}

bool Throttle::write(std::string_view key, Level level, std::string_view message,
                     std::initializer_list<Field> fields) {
  if (!enabled(level)) return false;
  const auto now = now_();
  auto it = entries_.find(key);
  if (it != entries_.end() && now - it->second.last < interval_) {
    ++it->second.suppressed;
    return false;
  }
  if (it == entries_.end()) {
    // Forget keys that have been quiet for a while, so the map stays small.
    if (entries_.size() >= 1024) {
      std::erase_if(entries_, [&](const auto& e) { return now - e.second.last >= interval_; });
    }
    it = entries_.emplace(std::string(key), Entry{}).first;
  }
  std::vector<Field> all(fields);
  const std::string suppressed = std::to_string(it->second.suppressed);
  if (it->second.suppressed > 0) all.push_back({"suppressed", suppressed});
  it->second = Entry{now, 0};
  log::write(level, message, std::span<const Field>(all));
  return true;
}

}  // namespace sto::log
