#include "net/proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

#include "common/ascii.h"
#include "common/encoding.h"

namespace sto::net {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view strip_brackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool valid_scheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '+' || c == '-' || c == '.';
  });
}

// The URL for messages: everything before the last '@' but a valid scheme
// (the user name and password) replaced, whatever else is wrong with it.
std::string redacted(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  auto sep = text.find("://");
  std::string out = sep != std::string_view::npos && sep < at && valid_scheme(text.substr(0, sep))
                        ? std::string(text.substr(0, sep + 3))
                        : std::string();
  return out + "***@" + std::string(text.substr(at + 1));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      cleanse(out);
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// An IP literal's bytes and family (4 or 6); family 0 when it is not one.
int parse_ip(std::string_view text, std::array<unsigned char, 16>& out) {
  std::string s(strip_brackets(text));
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) return 4;
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) return 6;
  return 0;
}

bool prefix_equal(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b,
                  int bits) {
  int whole = bits / 8;
  if (std::memcmp(a.data(), b.data(), static_cast<std::size_t>(whole)) != 0) return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

bool is_loopback(std::string_view host) {
  if (ascii_lower(host) == "localhost") return true;
  std::array<unsigned char, 16> ip{};
  int family = parse_ip(host, ip);
  if (family == 4) return ip[0] == 127;
  if (family == 6) {
    static const std::array<unsigned char, 16> one = {0, 0, 0, 0, 0, 0, 0, 0,
                                                      0, 0, 0, 0, 0, 0, 0, 1};
    return ip == one;
  }
  return false;
}

}  // namespace

std::string Proxy::display() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "http://" + h + ":" + std::to_string(port);
}

std::string Proxy::authorization() const {
  if (!has_credentials()) return {};
  std::string plain = username.str() + ":" + password.str();
  std::string out = "Basic " + base64_encode(plain);
  cleanse(plain);
  return out;
}

Result<Proxy, std::string> parse_proxy_url(std::string_view text, std::string_view variable,
                                           std::uint16_t default_port) {
  const std::string where(variable);
  auto bad = [&](std::string_view what) {
    return where + ": " + std::string(what) + " in \"" + redacted(text) + "\"";
  };
  std::string_view rest = text;
  if (auto sep = text.find("://"); sep != std::string_view::npos) {
    std::string scheme = ascii_lower(text.substr(0, sep));
    if (!valid_scheme(scheme)) return fail(bad("invalid scheme"));
    if (scheme != "http") {
      return fail(where + ": proxy scheme \"" + scheme +
                  "\" is not supported; use an http:// proxy (HTTP CONNECT)");
    }
    rest = text.substr(sep + 3);
  }
  // The authority ends at the path, if any (a path means nothing to a proxy).
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  Proxy out;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    auto user = percent_decode(userinfo.substr(0, colon));
    auto pass = colon == std::string_view::npos ? std::optional<std::string>(std::string())
                                                : percent_decode(userinfo.substr(colon + 1));
    if (!user || !pass) return fail(bad("invalid percent-encoding in the credentials"));
    out.username = SecureString(std::move(*user));
    out.password = SecureString(std::move(*pass));
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(bad("unterminated IPv6 address"));
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(bad("malformed host"));
      port = after.substr(1);
      if (port.empty()) return fail(bad("invalid port"));
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return fail(bad("invalid port"));
  }
  if (host.empty()) return fail(bad("missing host"));
  for (unsigned char c : host) {
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':')) {
      return fail(bad("invalid character in the host"));
    }
  }
  out.host = ascii_lower(host);
  out.port = default_port;
  if (!port.empty()) {
    auto value = parse_port(port);
    if (!value) return fail(bad("invalid port"));
    out.port = *value;
  }
  return out;
}

NoProxy NoProxy::parse(std::string_view list) {
  NoProxy out;
  out.text_ = std::string(list);
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;
    if (item == "*") {
      out.all_ = true;
      continue;
    }
    Entry entry;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      // A CIDR range; a port is not part of it.
      std::array<unsigned char, 16> ip{};
      int family = parse_ip(item.substr(0, slash), ip);
      unsigned bits = 0;
      std::string_view len = item.substr(slash + 1);
      auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
      if (family == 0 || len.empty() || ec != std::errc() || ptr != len.data() + len.size() ||
          bits > (family == 4 ? 32u : 128u)) {
        continue;  // not a range: ignored, as Go and curl ignore what they cannot use
      }
      entry.ip = ip;
      entry.family = family;
      entry.prefix = static_cast<int>(bits);
      out.entries_.push_back(entry);
      continue;
    }
    std::string_view host = item;
    if (int family = parse_ip(item, entry.ip); family != 0) {
      entry.family = family;  // a bare IPv6 address: its colons are not a port
    } else {
      if (item.front() == '[') {
        auto close = item.find(']');
        if (close == std::string_view::npos) continue;
        host = item.substr(1, close - 1);
        std::string_view after = item.substr(close + 1);
        if (after.size() > 1 && after.front() == ':') {
          if (auto port = parse_port(after.substr(1))) entry.port = *port;
        }
      } else if (auto colon = item.rfind(':'); colon != std::string_view::npos) {
        host = item.substr(0, colon);
        if (auto port = parse_port(item.substr(colon + 1))) entry.port = *port;
        else continue;
      }
      entry.family = parse_ip(host, entry.ip);
      if (entry.family == 0) {
        // "*.example.com", ".example.com" and "example.com" alike.
        if (host.substr(0, 2) == "*.") host.remove_prefix(2);
        while (!host.empty() && host.front() == '.') host.remove_prefix(1);
        while (!host.empty() && host.back() == '.') host.remove_suffix(1);
        if (host.empty()) continue;
        entry.domain = ascii_lower(host);
      }
    }
    out.entries_.push_back(entry);
  }
  return out;
}

bool NoProxy::matches(std::string_view host_text, std::uint16_t port) const {
  if (all_) return true;
  std::string_view bare = strip_brackets(host_text);
  std::array<unsigned char, 16> ip{};
  const int family = parse_ip(bare, ip);
  std::string host = ascii_lower(bare);
  while (!host.empty() && host.back() == '.') host.pop_back();
  for (const auto& entry : entries_) {
    if (entry.port != 0 && entry.port != port) continue;
    if (!entry.domain.empty()) {
      if (family != 0) continue;
      if (host == entry.domain) return true;
      if (host.size() > entry.domain.size() &&
          host.compare(host.size() - entry.domain.size(), entry.domain.size(), entry.domain) ==
              0 &&
          host[host.size() - entry.domain.size() - 1] == '.') {
        return true;
      }
      continue;
    }
    if (family != entry.family) continue;
    const int bits = entry.prefix >= 0 ? entry.prefix : (family == 4 ? 32 : 128);
    if (prefix_equal(ip, entry.ip, bits)) return true;
  }
  return false;
}

std::optional<Proxy> ProxySettings::for_host(std::string_view host, std::uint16_t port,
                                             Loopback loopback) const {
  if (!https) return std::nullopt;
  if (loopback == Loopback::Direct && is_loopback(strip_brackets(host))) return std::nullopt;
  if (no_proxy.matches(host, port)) return std::nullopt;
  return https;
}

Result<ProxySettings, std::string> proxy_settings_from_environment(
    const std::function<const char*(const char*)>& getenv) {
  auto value = [&](const char* name) -> std::string_view {
    const char* v = getenv ? getenv(name) : nullptr;
    return v ? std::string_view(v) : std::string_view();
  };
  ProxySettings out;
  // curl's order: the lowercase variable first.
  for (const char* name : {"https_proxy", "HTTPS_PROXY"}) {
    std::string_view text = value(name);
    if (text.empty()) continue;
    auto proxy = parse_proxy_url(text, name, 1080);
    if (!proxy) return fail(std::move(proxy.error()));
    out.https = std::move(proxy).value();
    out.https_variable = name;
    break;
  }
  for (const char* name : {"no_proxy", "NO_PROXY"}) {
    std::string_view text = value(name);
    if (text.empty()) continue;
    out.no_proxy = NoProxy::parse(text);
    out.no_proxy_variable = name;
    break;
  }
  return out;
}

}  // namespace sto::net
