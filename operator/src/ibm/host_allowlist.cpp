#include "ibm/host_allowlist.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <boost/asio/ip/address.hpp>

#include "common/ascii.h"

namespace sto::ibm {
namespace {

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = name.find('.', start);
    if (!valid_label(name.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// The canonical text of an IP address literal ("::1" for "0:0::1"), or
// nothing when `s` is not one.
std::optional<std::string> canonical_ip(const std::string& s) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(s, ec);
  if (ec) return std::nullopt;
  return address.to_string();
}

bool looks_like_ipv6(std::string_view s) {
  return s.find(':') != std::string_view::npos &&
         std::all_of(s.begin(), s.end(),
                     [](unsigned char c) { return std::isxdigit(c) || c == ':' || c == '.'; });
}

}  // namespace

const std::vector<std::string>& HostAllowlist::default_patterns() {
  static const std::vector<std::string> defaults = {
      "*.monitoring.cloud.ibm.com", "*.security-compliance-secure.cloud.ibm.com",
      "iam.cloud.ibm.com", "*.iam.cloud.ibm.com"};
  return defaults;
}

Result<HostAllowlist, std::string> HostAllowlist::parse(const std::vector<std::string>& patterns) {
  HostAllowlist list;
  for (const auto& raw : patterns) {
    std::string p = ascii_lower(raw);
    if (p.empty()) return fail(std::string("empty host pattern"));
    if (p.size() > 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    if (looks_like_ipv6(p)) {
      auto ip = canonical_ip(p);
      if (!ip) return fail("host pattern \"" + raw + "\" is not a valid IPv6 address");
      list.patterns_.push_back(*ip);
      continue;
    }
    if (auto ip = canonical_ip(p)) {
      list.patterns_.push_back(*ip);
      continue;
    }
    if (p.find(':') != std::string::npos) {
      return fail("host pattern \"" + raw + "\" must not include a port or scheme");
    }
    if (p.find('/') != std::string::npos) {
      return fail("host pattern \"" + raw + "\" must be a host name, not a URL");
    }
    std::string_view name = p;
    if (name.starts_with("*.")) name.remove_prefix(2);
    if (!valid_host_name(name)) {
      return fail("host pattern \"" + raw +
                  "\" is not a host name, IP address or \"*.\" followed by a domain");
    }
    list.patterns_.push_back(p);
  }
  return list;
}

bool HostAllowlist::allows(std::string_view host) const {
  std::string h = ascii_lower(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (h.empty()) return false;
  // An IP address matches an IP pattern exactly, never a wildcard.
  if (auto ip = canonical_ip(h)) {
    return std::find(patterns_.begin(), patterns_.end(), *ip) != patterns_.end();
  }
  for (const auto& p : patterns_) {
    if (p.starts_with("*.")) {
      std::string_view suffix = std::string_view(p).substr(1);  // ".domain"
      if (h.size() > suffix.size() && h.ends_with(suffix)) return true;
    } else if (h == p) {
      return true;
    }
  }
  return false;
}

}  // namespace sto::ibm
