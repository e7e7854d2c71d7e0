// ASCII case folding for host names, schemes and header names (never
// locale-dependent).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace sto {

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  });
  return out;
}

}  // namespace sto
