#include "iam_api.h"

#include <array>
#include <ctime>
#include <functional>

#include <nlohmann/json.hpp>

#include "tokens.h"

namespace sto::fake {
namespace {

constexpr std::string_view kApiKeyGrant = "urn:ibm:params:oauth:grant-type:apikey";
constexpr std::string_view kCrTokenGrant = "urn:ibm:params:oauth:grant-type:cr-token";
constexpr std::string_view kServiceAccountPrefix = "system:serviceaccount:";

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

// The ServiceAccount a compute resource token names, read from its JWT
// claims (the signature is not checked: see README).
struct CrTokenSubject {
  std::string ns;
  std::string service_account;
};

bool has_audience(const nlohmann::json& aud, std::string_view wanted) {
  if (aud.is_string()) return aud.get_ref<const std::string&>() == wanted;
  if (!aud.is_array()) return false;
  for (const auto& a : aud) {
    if (a.is_string() && a.get_ref<const std::string&>() == wanted) return true;
  }
  return false;
}

// The subject of a ServiceAccount token with audience "iam" that has not
// expired, or what is wrong with the token.
Result<CrTokenSubject, std::string> read_cr_token(std::string_view token, std::int64_t now) {
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return fail(std::string("the compute resource token is not a JWT"));
  auto payload = base64url_decode(token.substr(first + 1, second - first - 1));
  if (!payload) return fail(std::string("the compute resource token's payload is not base64url"));
  auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object())
    return fail(std::string("the compute resource token's claims are not JSON"));
  if (!has_audience(claims.value("aud", nlohmann::json()), "iam"))
    return fail(std::string("the compute resource token's audience does not include iam"));
  auto exp = claims.find("exp");
  if (exp == claims.end() || !exp->is_number_integer() || exp->get<std::int64_t>() <= now)
    return fail(std::string("the compute resource token has expired"));
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string())
    return fail(std::string("the compute resource token has no subject"));
  const std::string& subject = sub->get_ref<const std::string&>();
  if (!subject.starts_with(kServiceAccountPrefix))
    return fail(std::string("the compute resource token is not a ServiceAccount's"));
  std::string_view rest = std::string_view(subject).substr(kServiceAccountPrefix.size());
  auto colon = rest.find(':');
  if (colon == std::string_view::npos)
    return fail(std::string("the compute resource token's subject is malformed"));
  CrTokenSubject out{std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
  // The kubernetes.io claims, when present, must agree with the subject.
  if (auto k8s = claims.find("kubernetes.io"); k8s != claims.end() && k8s->is_object()) {
    const std::string ns = k8s->value("namespace", "");
    std::string sa;
    if (auto s = k8s->find("serviceaccount"); s != k8s->end() && s->is_object())
      sa = s->value("name", "");
    if (ns != out.ns || sa != out.service_account)
      return fail(std::string("the compute resource token's claims disagree with its subject"));
  }
  return out;
}

// The cr-token grant: the token's ServiceAccount must be trusted by the
// profile named by profile_id (or profile_name).
Response grant_cr_token(const FormFields& form, World& world,
                        const std::function<Response(http::status, std::string_view,
                                                     const std::string&)>& error,
                        const std::function<Response(const std::string&)>& grant) {
  const std::string* cr_token = find_field(form, "cr_token");
  if (cr_token == nullptr || cr_token->empty()) {
    return error(http::status::bad_request, "BXNIM0109E",
                 "Property 'cr_token' either missing or empty");
  }
  const std::string* id = find_field(form, "profile_id");
  const std::string* name = find_field(form, "profile_name");
  if ((id == nullptr || id->empty()) && (name == nullptr || name->empty())) {
    return error(http::status::bad_request, "BXNIM0109E",
                 "Property 'profile_id' or 'profile_name' must be given");
  }
  auto subject = read_cr_token(*cr_token, world.now_seconds());
  if (!subject) return error(http::status::bad_request, "BXNIM0490E", subject.error());
  const TrustedProfile* profile = id != nullptr && !id->empty()
                                      ? world.state.find_profile(*id)
                                      : world.state.find_profile_by_name(*name);
  if (profile == nullptr) {
    return error(http::status::bad_request, "BXNIM0491E",
                 "Trusted profile '" + (id != nullptr && !id->empty() ? *id : *name) +
                     "' could not be found");
  }
  if (!profile->trusts(subject->ns, subject->service_account)) {
    return error(http::status::forbidden, "BXNIM0492E",
                 "Trusted profile '" + profile->id + "' does not trust compute resource " +
                     "system:serviceaccount:" + subject->ns + ":" + subject->service_account);
  }
  return grant(profile->iam_id);
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
  if (*grant_type != kApiKeyGrant && *grant_type != kCrTokenGrant) {
    return error(http::status::bad_request, "BXNIM0106E",
                 "Validation of property 'grant_type' with value '" + *grant_type +
                     "' failed. Valid values: '" + std::string(kApiKeyGrant) + "', '" +
                     std::string(kCrTokenGrant) + "'");
  }
  if (const std::string* type = find_field(*form, "response_type");
      type != nullptr && *type != "cloud_iam") {
    return error(http::status::bad_request, "BXNIM0106E",
                 "Validation of property 'response_type' with value '" + *type +
                     "' failed. Valid values: 'cloud_iam'");
  }
  auto grant = [&](const std::string& iam_id) {
    const std::int64_t now = world.now_seconds();
    const std::int64_t ttl = world.state.token_ttl_seconds;
    nlohmann::json body = {
        {"access_token", world.access_tokens.issue(iam_id, now, ttl)},
        {"refresh_token", "not_supported"},
        {"token_type", "Bearer"},
        {"expires_in", ttl},
        {"expiration", now + ttl},
        {"scope", "ibm openid"},
    };
    return with_iam_headers(json_response(http::status::ok, body), transaction);
  };
  if (*grant_type == kCrTokenGrant) return grant_cr_token(*form, world, error, grant);
  const std::string* apikey = find_field(*form, "apikey");
  if (apikey == nullptr || apikey->empty()) {
    return error(http::status::bad_request, "BXNIM0109E",
                 "Property 'apikey' either missing or empty");
  }
  const ApiKey* key = world.state.find_api_key(*apikey);
  if (key == nullptr || !key->enabled) {
    return error(http::status::bad_request, "BXNIM0415E", "Provided API key could not be found");
  }

  return grant(key->iam_id);
}

}  // namespace sto::fake
