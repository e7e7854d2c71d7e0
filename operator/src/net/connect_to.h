// ConnectTo: "requests for HOST:PORT connect to OTHER_HOST:OTHER_PORT", as
// curl's --connect-to. The request, the Host header, TLS SNI and certificate
// verification still name HOST; only the TCP connection goes elsewhere (a
// private gateway, a test double on loopback).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sto::net {

struct Url;

struct ConnectTo {
  std::string host;  // lower case; IPv6 without brackets
  std::uint16_t port = 0;
  std::string to_host;
  std::uint16_t to_port = 0;

  // "HOST:PORT:TO_HOST:TO_PORT" (IPv6 addresses in brackets), the form the
  // operator prints and parses.
  std::string to_string() const;
};

// Parses "HOST:PORT:TO_HOST:TO_PORT"; the error names what is wrong.
Result<ConnectTo, std::string> parse_connect_to(std::string_view text);

// The rule for `url`'s host and port, or null.
const ConnectTo* find_connect_to(std::span<const ConnectTo> rules, const Url& url);

}  // namespace sto::net
