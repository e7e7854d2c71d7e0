#include "net/connect_to.h"

#include "net/http_client.h"

namespace sto::net {
namespace {

// Splits "HOST:PORT" (HOST may be "[v6]") off the front of `text` and
// checks it as a URL authority would be checked.
Result<std::pair<std::string, std::uint16_t>, std::string> take_authority(std::string_view& text,
                                                                           std::string_view what) {
  std::size_t host_end = 0;
  if (!text.empty() && text.front() == '[') {
    host_end = text.find(']');
    if (host_end == std::string_view::npos)
      return fail(std::string(what) + ": unterminated IPv6 address");
    ++host_end;
  } else {
    host_end = text.find(':');
    if (host_end == std::string_view::npos) return fail(std::string(what) + ": missing port");
  }
  if (host_end >= text.size() || text[host_end] != ':')
    return fail(std::string(what) + ": missing port");
  std::size_t port_end = text.find(':', host_end + 1);
  std::string_view authority = text.substr(0, port_end);
  if (host_end == 0) return fail(std::string(what) + ": missing host");
  if (authority.size() == host_end + 1) return fail(std::string(what) + ": missing port");
  auto url = Url::parse("https://" + std::string(authority));
  if (!url) return fail(std::string(what) + ": " + url.error());
  text = port_end == std::string_view::npos ? std::string_view{} : text.substr(port_end + 1);
  return std::pair{std::move(url->host), url->port};
}

std::string authority(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

std::string ConnectTo::to_string() const {
  return authority(host, port) + ":" + authority(to_host, to_port);
}

Result<ConnectTo, std::string> parse_connect_to(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  std::string_view rest = text;
  auto from = take_authority(rest, quoted + " (expected HOST:PORT:TO_HOST:TO_PORT)");
  if (!from) return fail(from.error());
  if (rest.empty()) return fail(quoted + ": missing TO_HOST:TO_PORT (expected HOST:PORT:TO_HOST:TO_PORT)");
  auto to = take_authority(rest, quoted + " (expected HOST:PORT:TO_HOST:TO_PORT)");
  if (!to) return fail(to.error());
  if (!rest.empty() || text.back() == ':') return fail(quoted + ": trailing text after TO_PORT");
  return ConnectTo{std::move(from->first), from->second, std::move(to->first), to->second};
}

const ConnectTo* find_connect_to(std::span<const ConnectTo> rules, const Url& url) {
  for (const auto& rule : rules) {
    if (rule.port == url.port && rule.host == url.host) return &rule;
  }
  return nullptr;
}

}  // namespace sto::net
