// The HTTP vocabulary shared by the fake's APIs: request and response types,
// JSON answers, and reading targets, headers and form bodies.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json_fwd.hpp>

namespace sto::fake {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

using FormFields = std::vector<std::pair<std::string, std::string>>;

// A response with `body` serialized as JSON and its Content-Type set.
Response json_response(http::status status, const nlohmann::json& body,
                       std::string_view content_type = "application/json");

// The path of a request target, without the query.
std::string_view path_of(std::string_view target);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); nullopt for a
// malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// Parses an application/x-www-form-urlencoded body; nullopt if malformed.
std::optional<FormFields> parse_form(std::string_view body);
const std::string* find_field(const FormFields& fields, std::string_view name);

// A request header's value, if present (case-insensitive name).
std::optional<std::string_view> header_value(const Request& request, std::string_view name);

// ASCII case-insensitive comparison, as header names and schemes need.
bool equals_ignoring_case(std::string_view a, std::string_view b);

// Whether a Content-Type value names `media_type` (parameters and case ignored).
bool has_media_type(std::string_view content_type, std::string_view media_type);

}  // namespace sto::fake
