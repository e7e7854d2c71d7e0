#include <algorithm>
#include <cctype>
#include <charconv>

#include "net/http_client.h"

namespace sto::net {

Result<Url, std::string> Url::parse(std::string_view text) {
  Url url;
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return fail("\"" + std::string(text) + "\" is not an absolute URL");
  url.scheme = std::string(text.substr(0, sep));
  std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (url.scheme != "http" && url.scheme != "https") {
    return fail("\"" + std::string(text) + "\": scheme must be http or https");
  }
  std::string_view rest = text.substr(sep + 3);
  auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path = path_start == std::string_view::npos ? "" : rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) {
    return fail("\"" + std::string(text) + "\": credentials in URLs are not supported");
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return fail("\"" + std::string(text) + "\": unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("\"" + std::string(text) + "\": malformed host");
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("\"" + std::string(text) + "\": missing host");
  for (unsigned char c : host) {
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':')) {
      return fail("\"" + std::string(text) + "\": invalid character in host");
    }
  }
  url.host = std::string(host);
  std::transform(url.host.begin(), url.host.end(), url.host.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  url.port = url.tls() ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
      return fail("\"" + std::string(text) + "\": invalid port");
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  auto fragment = path.find('#');
  if (fragment != std::string_view::npos) path = path.substr(0, fragment);
  url.path = path.empty() ? "/" : std::string(path);
  if (url.path.front() == '?') url.path = "/" + url.path;
  return url;
}

std::string Url::origin() const {
  std::string out = scheme + "://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port);
  return out;
}

std::string Url::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  bool default_port = (tls() && port == 443) || (!tls() && port == 80);
  if (!default_port) h += ":" + std::to_string(port);
  return h;
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.name.size() == name.size() &&
        std::equal(h.name.begin(), h.name.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string_view(h.value);
    }
  }
  return std::nullopt;
}

std::string_view to_string(NetErrorKind kind) {
  switch (kind) {
    case NetErrorKind::InvalidRequest:
      return "InvalidRequest";
    case NetErrorKind::Resolve:
      return "Resolve";
    case NetErrorKind::Connect:
      return "Connect";
    case NetErrorKind::Tls:
      return "Tls";
    case NetErrorKind::Timeout:
      return "Timeout";
    case NetErrorKind::Closed:
      return "Closed";
    case NetErrorKind::Protocol:
      return "Protocol";
    case NetErrorKind::TooLarge:
      return "TooLarge";
    case NetErrorKind::Cancelled:
      return "Cancelled";
    case NetErrorKind::Proxy:
      return "Proxy";
  }
  return "Unknown";
}

}  // namespace sto::net
