// Structured logging for the operator: one line per record on stderr, JSON
// (default) or text, with level, time, message and key/value fields such as
// resource and reason. Callers never pass secrets as fields or messages.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace sto::log {

enum class Level { Debug, Info, Warn, Error };
enum class Format { Json, Text };

std::optional<Level> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Sets the level threshold and output format of the process-wide logger.
void configure(Level level, Format format);
bool enabled(Level level);

struct Field {
  std::string_view key;
  std::string_view value;
};

// Renders one record as a line (no trailing newline); used by write() and tests.
std::string format_record(Format format, Level level, std::string_view time,
                          std::string_view message, std::initializer_list<Field> fields);

void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::Error, m, f);
}

}  // namespace sto::log
