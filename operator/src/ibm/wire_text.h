// Text on the wire to and from IBM Cloud: percent-encoding what goes into a
// form or a path, and making what a server says fit to quote in an error
// message (credentials redacted, control characters dropped, length capped).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace sto::ibm {

// Percent-encodes every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~);
// valid both in application/x-www-form-urlencoded and in a path segment.
std::string percent_encode(std::string_view text);

// `text` from a server, safe to put in a message: each of `secrets` (API key,
// tokens) replaced by "<redacted>", control characters by spaces, and at most
// `max_chars` characters ("..." marks a cut).
std::string quote_server_text(std::string_view text,
                              std::initializer_list<std::string_view> secrets,
                              std::size_t max_chars = 300);

// Whether `value` can travel in an HTTP header and be stored as is: 1 to
// `max_size` visible ASCII characters.
bool is_header_safe(std::string_view value, std::size_t max_size);

}  // namespace sto::ibm
