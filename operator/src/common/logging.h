// Structured logging for every layer: one line per record on stderr, JSON
// (default) or text, with level, time, message and key/value fields such as
// resource and reason. Callers never pass secrets as fields or messages.
// A Throttle keeps a repeating failure to one line per interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sto::log {

enum class Level { Debug, Info, Warn, Error };
enum class Format { Json, Text };

std::optional<Level> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Sets the level threshold and output format of the process-wide logger.
void configure(Level level, Format format);
bool enabled(Level level);
Level level();

struct Field {
  std::string_view key;
  std::string_view value;
};

// Renders one record as a line (no trailing newline); used by write() and tests.
std::string format_record(Format format, Level level, std::string_view time,
                          std::string_view message, std::span<const Field> fields);
inline std::string format_record(Format format, Level level, std::string_view time,
                                 std::string_view message, std::initializer_list<Field> fields) {
  return format_record(format, level, time, message,
                       std::span<const Field>(fields.begin(), fields.size()));
}

// A record that passed the level threshold, as a sink receives it.
struct Record {
  Level level = Level::Info;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of a field; empty when absent.
  std::string field(std::string_view key) const;
};

// Where records go instead of stderr (tests read them through this). An
// empty sink restores stderr. Returns the sink it replaces.
using Sink = std::function<void(const Record&)>;
Sink set_sink(Sink sink);

void write(Level level, std::string_view message, std::span<const Field> fields);
inline void write(Level level, std::string_view message,
                  std::initializer_list<Field> fields = {}) {
  write(level, message, std::span<const Field>(fields.begin(), fields.size()));
}

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

// Rate limit for a record that may repeat (a failing watch, a Lease that
// cannot be renewed): at most one line per key per interval. The line that
// ends a quiet period carries "suppressed", the number of lines left out
// since the previous one. Single-threaded.
class Throttle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Throttle(Clock::duration interval = std::chrono::seconds(30),
                    std::function<Clock::time_point()> now = {});

  // Writes the record unless one with this key was written within the
  // interval; returns whether it was written.
  bool write(std::string_view key, Level level, std::string_view message,
             std::initializer_list<Field> fields);

 private:
  struct Entry {
    Clock::time_point last;
    std::uint64_t suppressed = 0;
  };
  Clock::duration interval_;
  std::function<Clock::time_point()> now_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace sto::log
