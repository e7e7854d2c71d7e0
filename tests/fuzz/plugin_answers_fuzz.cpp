// kubectl-sysdigtoken's reading of API server answers (a SysdigToken, a
// list, a discovery document): never throws, and the table it prints is
// one line per row, without control characters (no terminal escapes from a
// hostile status) and valid UTF-8.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "plugin/status.h"

namespace {

bool valid_utf8_without_controls(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
      ++i;
      continue;
    }
    const std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || i + len > text.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sto::plugin;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<TokenStatus> tokens;
  if (auto one = parse_token(text)) tokens.push_back(one.value());
  std::string next;
  if (auto list = parse_token_list(text, next)) {
    for (auto& t : list.value()) tokens.push_back(t);
    sto::fuzz::check(valid_utf8_without_controls(next) && next.find('\n') == std::string::npos,
                     "continue token with control characters");
  }
  (void)discovery_serves_sysdigtokens(text);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
  const auto rows = status_rows(tokens, true, now);
  const std::string table = format_table(rows);
  sto::fuzz::check(valid_utf8_without_controls(table), "table with control characters or bad UTF-8");
  std::size_t lines = 0;
  for (char c : table) lines += c == '\n' ? 1 : 0;
  sto::fuzz::check(lines == rows.size(), "a row took more than one line");
  for (const auto& t : tokens) {
    TokenStatus before;
    (void)judge_reset(before, t, "2026-12-02T10:00:00Z", true);
  }
  return 0;
}
