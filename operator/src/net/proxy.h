// Proxies: an HTTP proxy that HttpClient tunnels through (HTTP CONNECT), and
// which one, if any, a connection should use.
//
// Settings come from the environment, read once at start-up:
// - HTTPS_PROXY / https_proxy (the lowercase one wins when both are set, as
//   in curl): http://[user:pass@]host[:port], or host:port without a scheme.
//   Only http:// proxies are supported; the user name and password may be
//   percent-encoded. They are secrets: no message, log line or error carries
//   them (display() is the proxy without them).
// - NO_PROXY / no_proxy: the hosts reached directly, curl's way:
//   comma-separated entries, "*" for every host, a domain ("example.com" or
//   ".example.com") for itself and its subdomains, IP addresses, and CIDR
//   ranges ("10.0.0.0/8", as Go's net/http); each optionally with ":port".
//   Names match case-insensitively and are never resolved.
// Like curl, loopback addresses go through the proxy unless NO_PROXY names
// them; like Go's net/http (client-go, for the API server), they can be told
// to go direct (Loopback::Direct).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secure_string.h"

namespace sto::net {

struct Proxy {
  std::string host;  // name or IP address (IPv6 without brackets), lowercase
  std::uint16_t port = 0;
  SecureString username;  // percent-decoded; empty for none
  SecureString password;

  bool has_credentials() const { return !username.empty() || !password.empty(); }
  // "http://host:port", never with the credentials: for messages and logs.
  std::string display() const;
  // The Proxy-Authorization value ("Basic ..."); empty without credentials.
  // A secret: clear it (cleanse) when sent.
  std::string authorization() const;
};

// Parses a proxy URL. `variable` names where it came from ("HTTPS_PROXY",
// "kubeconfig ...: proxy-url") for the error, which never repeats the
// credentials. Without a port, `default_port` (curl: 1080; Go: 80).
Result<Proxy, std::string> parse_proxy_url(std::string_view text, std::string_view variable,
                                           std::uint16_t default_port);

// A NO_PROXY list.
class NoProxy {
 public:
  static NoProxy parse(std::string_view list);
  // Whether a connection to host:port bypasses the proxy. `host` is a name
  // or an IP literal (IPv6 with or without brackets).
  bool matches(std::string_view host, std::uint16_t port) const;
  bool empty() const { return entries_.empty() && !all_; }
  // The list as given.
  const std::string& text() const { return text_; }

 private:
  struct Entry {
    std::string domain;                // lowercase, no leading dot; empty for an address
    std::array<unsigned char, 16> ip{};  // IPv4 in the first 4 bytes
    int family = 0;                    // 4 or 6 for an address or range
    int prefix = -1;                   // CIDR prefix length; -1 for a single address
    std::uint16_t port = 0;            // 0: any port
  };
  std::vector<Entry> entries_;
  bool all_ = false;
  std::string text_;
};

enum class Loopback {
  ViaProxy,  // curl: localhost and loopback addresses use the proxy too
  Direct,    // Go's net/http: they never do
};

struct ProxySettings {
  std::optional<Proxy> https;  // for https:// origins
  std::string https_variable;  // "HTTPS_PROXY" or "https_proxy"
  NoProxy no_proxy;
  std::string no_proxy_variable;

  // The proxy for a connection to host:port, none when it goes direct.
  std::optional<Proxy> for_host(std::string_view host, std::uint16_t port,
                                Loopback loopback = Loopback::ViaProxy) const;
};

// Reads HTTPS_PROXY/https_proxy and NO_PROXY/no_proxy through `getenv`. An
// empty variable counts as unset. Fails when the proxy URL is unusable; the
// error names the variable.
Result<ProxySettings, std::string> proxy_settings_from_environment(
    const std::function<const char*(const char*)>& getenv);

}  // namespace sto::net
