#include "cli/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace sto::log {
namespace {

struct LoggerState {
  Level level = Level::Info;
  Format format = Format::Json;
  std::shared_ptr<spdlog::logger> logger;
};

LoggerState& state() {
  static LoggerState s = [] {
    LoggerState st;
    st.logger = spdlog::stderr_logger_mt("sysdig-token-operator");
    st.logger->set_pattern("%v");
    st.logger->set_level(spdlog::level::trace);
    st.logger->flush_on(spdlog::level::trace);
    return st;
  }();
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

std::string format_record(Format format, Level level, std::string_view time,
                          std::string_view message, std::initializer_list<Field> fields) {
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

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  auto& st = state();
  if (level < st.level) return;
  st.logger->info(format_record(st.format, level, now_rfc3339(), message, fields));
}

}  // namespace sto::log
