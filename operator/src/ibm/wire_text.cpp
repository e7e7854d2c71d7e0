#include "ibm/wire_text.h"

#include <algorithm>

namespace sto::ibm {

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  return out;
}

std::string quote_server_text(std::string_view text,
                              std::initializer_list<std::string_view> secrets,
                              std::size_t max_chars) {
  std::string out(text);
  for (std::string_view secret : secrets) {
    if (secret.empty()) continue;
    for (auto pos = out.find(secret); pos != std::string::npos; pos = out.find(secret, pos + 10)) {
      out.replace(pos, secret.size(), "<redacted>");
    }
  }
  std::replace_if(
      out.begin(), out.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }, ' ');
  // Trim, and cut at a character boundary (never inside a UTF-8 sequence).
  while (!out.empty() && out.back() == ' ') out.pop_back();
  auto first = out.find_first_not_of(' ');
  out.erase(0, first == std::string::npos ? out.size() : first);
  if (out.size() > max_chars) {
    std::size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

bool is_header_safe(std::string_view value, std::size_t max_size) {
  return !value.empty() && value.size() <= max_size &&
         std::all_of(value.begin(), value.end(),
                     [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace sto::ibm
