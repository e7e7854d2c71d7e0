#include "iam_api.h"

#include <array>
#include <ctime>

#include <nlohmann/json.hpp>

#include "tokens.h"

namespace sto::fake {
namespace {

constexpr std::string_view kApiKeyGrant = "urn:ibm:params:oauth:grant-type:apikey";

// IAM's context timestamps read "28.11.2026 10:00:00:123 UTC".
std::string iam_time(std::int64_t now_ms) {
  std::time_t seconds = static_cast<std::time_t>(now_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  std::array<char, 40> text{};
  std::size_t n = std::strftime(text.data(), text.size(), "%d.%m.%Y %H:%M:%S", &utc);
  auto millis = std::to_string(now_ms % 1000);
  return std::string(text.data(), n) + ":" + std::string(3 - millis.size(), '0') + millis + " UTC";
}

// IAM answers every request with a transaction id, in a header and, for
// errors, in the body's context.
std::string transaction_id(const Request& request) {
  if (auto given = header_value(request, "Transaction-Id"); given && !given->empty()) {
    return std::string(*given);
  }
  return random_token();
}

Response with_iam_headers(Response response, const std::string& transaction) {
  response.set("Transaction-Id", transaction);
  response.set(http::field::cache_control, "no-cache, no-store, must-revalidate");
  response.set(http::field::pragma, "no-cache");
  return response;
}

Response iam_error_with(const Request& request, const World& world, http::status status,
                        std::string_view code, std::string_view message,
                        const std::string& transaction) {
  auto now = iam_time(world.now_ms());
  nlohmann::json context = {
      {"requestId", transaction},
      {"requestType", "incoming.Identity_Token"},
      {"userAgent", std::string(header_value(request, "User-Agent").value_or(""))},
      {"url", "https://iam.cloud.ibm.com"},
      {"instanceId", "iamid-fake-ibm-cloud"},
      {"threadId", "1"},
      {"host", "fake-ibm-cloud"},
      {"startTime", now},
      {"endTime", now},
      {"elapsedTime", "0"},
      {"locale", "en_US"},
      {"clusterName", "fake-ibm-cloud"},
  };
  nlohmann::json body = {
      {"errorCode", code}, {"errorMessage", message}, {"context", std::move(context)}};
  return with_iam_headers(json_response(status, body), transaction);
}

}  // namespace

Response iam_error(const Request& request, const World& world, http::status status,
                   std::string_view code, std::string_view message) {
  return iam_error_with(request, world, status, code, message, transaction_id(request));
}

Response serve_iam_token(const Request& request, World& world) {
  const std::string transaction = transaction_id(request);
  auto error = [&](http::status status, std::string_view code, const std::string& message) {
    return iam_error_with(request, world, status, code, message, transaction);
  };

  if (request.method() != http::verb::post) {
    auto response =
        error(http::status::method_not_allowed, "BXNIM0107E",
              "Method " + std::string(request.method_string()) + " is not supported; use POST");
    response.set(http::field::allow, "POST");
    return response;
  }
  auto content_type = header_value(request, "Content-Type");
  if (!content_type || !has_media_type(*content_type, "application/x-www-form-urlencoded")) {
    return error(http::status::unsupported_media_type, "BXNIM0102E",
                 "Content-Type must be application/x-www-form-urlencoded");
  }
  auto form = parse_form(request.body());
  if (!form) {
    return error(http::status::bad_request, "BXNIM0101E", "Request body is not valid form data");
  }

  const std::string* grant_type = find_field(*form, "grant_type");
  if (grant_type == nullptr || grant_type->empty()) {
    return error(http::status::bad_request, "BXNIM0109E",
                 "Property 'grant_type' either missing or empty");
  }
  if (*grant_type != kApiKeyGrant) {
    return error(http::status::bad_request, "BXNIM0106E",
                 "Validation of property 'grant_type' with value '" + *grant_type +
                     "' failed. Valid values: '" + std::string(kApiKeyGrant) + "'");
  }
  if (const std::string* type = find_field(*form, "response_type");
      type != nullptr && *type != "cloud_iam") {
    return error(http::status::bad_request, "BXNIM0106E",
                 "Validation of property 'response_type' with value '" + *type +
                     "' failed. Valid values: 'cloud_iam'");
  }
  const std::string* apikey = find_field(*form, "apikey");
  if (apikey == nullptr || apikey->empty()) {
    return error(http::status::bad_request, "BXNIM0109E",
                 "Property 'apikey' either missing or empty");
  }
  const ApiKey* key = world.state.find_api_key(*apikey);
  if (key == nullptr || !key->enabled) {
    return error(http::status::bad_request, "BXNIM0415E", "Provided API key could not be found");
  }

  const std::int64_t now = world.now_seconds();
  const std::int64_t ttl = world.state.token_ttl_seconds;
  nlohmann::json body = {
      {"access_token", world.access_tokens.issue(key->iam_id, now, ttl)},
      {"refresh_token", "not_supported"},
      {"token_type", "Bearer"},
      {"expires_in", ttl},
      {"expiration", now + ttl},
      {"scope", "ibm openid"},
  };
  return with_iam_headers(json_response(http::status::ok, body), transaction);
}

}  // namespace sto::fake
