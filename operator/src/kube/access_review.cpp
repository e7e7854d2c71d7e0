#include "kube/access_review.h"

#include <utility>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/logging.h"
#include "kube/client.h"

namespace sto::kube {

using json = nlohmann::json;

namespace {

// Bounds on what an answer may hold: a hostile or broken API server cannot
// make the cache or the SubjectAccessReview grow without limit.
constexpr std::size_t kMaxAnswerBytes = 1024 * 1024;
constexpr std::size_t kMaxNameBytes = 1024;
constexpr std::size_t kMaxGroups = 256;
constexpr std::size_t kMaxExtraKeys = 64;
constexpr std::size_t kMaxExtraValues = 64;

Result<json, std::string> parse_object(std::string_view text, std::string_view kind) {
  if (text.size() > kMaxAnswerBytes)
    return fail(std::string(kind) + " answer is larger than 1 MiB");
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return fail(std::string(kind) + " answer is not JSON");
  if (!doc.is_object()) return fail(std::string(kind) + " answer is not a JSON object");
  return doc;
}

Result<std::string, std::string> string_field(const json& obj, const char* name,
                                              std::string_view where) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return fail(std::string(where) + "." + name + " is not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxNameBytes)
    return fail(std::string(where) + "." + name + " is longer than 1024 bytes");
  return s;
}

Result<std::vector<std::string>, std::string> string_list(const json& value, std::size_t max,
                                                          const std::string& where) {
  std::vector<std::string> out;
  if (value.is_null()) return out;
  if (!value.is_array()) return fail(where + " is not a list");
  if (value.size() > max) return fail(where + " has more than " + std::to_string(max) + " entries");
  for (const auto& v : value) {
    if (!v.is_string()) return fail(where + " holds a value that is not a string");
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > kMaxNameBytes) return fail(where + " holds a value longer than 1024 bytes");
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::string_view to_string(AccessDecision decision) {
  switch (decision) {
    case AccessDecision::Allowed:
      return "allowed";
    case AccessDecision::Unauthenticated:
      return "unauthenticated";
    case AccessDecision::Forbidden:
      return "forbidden";
  }
  return "unknown";
}

bool plausible_bearer_token(std::string_view token, std::size_t max_bytes) {
  if (token.empty() || token.size() > max_bytes) return false;
  for (char c : token) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

std::string token_review_request(std::string_view token) {
  json body = {{"apiVersion", "authentication.k8s.io/v1"},
               {"kind", "TokenReview"},
               {"spec", {{"token", std::string(token)}}}};
  return body.dump();
}

Result<TokenReviewAnswer, std::string> parse_token_review(std::string_view text) {
  auto doc = parse_object(text, "TokenReview");
  if (!doc) return fail(doc.error());
  const json& root = doc.value();
  if (auto kind = root.find("kind"); kind != root.end() && *kind != "TokenReview")
    return fail("the answer is not a TokenReview (kind is not \"TokenReview\")");
  auto status = root.find("status");
  if (status == root.end() || !status->is_object())
    return fail("TokenReview answer has no status object");
  TokenReviewAnswer out;
  if (auto a = status->find("authenticated"); a != status->end() && !a->is_null()) {
    if (!a->is_boolean()) return fail("TokenReview status.authenticated is not a boolean");
    out.authenticated = a->get<bool>();
  }
  if (auto e = string_field(*status, "error", "TokenReview status"); e) {
    // Kept for the log: the API server's text, cut short (it does not quote
    // the token, but is not trusted to be short).
    out.error = e.value().substr(0, 200);
  }
  if (!out.authenticated) return out;
  auto user = status->find("user");
  if (user == status->end() || !user->is_object())
    return fail("TokenReview says authenticated but has no status.user object");
  auto name = string_field(*user, "username", "TokenReview status.user");
  if (!name) return fail(name.error());
  if (name.value().empty())
    return fail("TokenReview says authenticated but status.user.username is empty");
  out.user.username = name.value();
  auto uid = string_field(*user, "uid", "TokenReview status.user");
  if (!uid) return fail(uid.error());
  out.user.uid = uid.value();
  if (auto g = user->find("groups"); g != user->end()) {
    auto groups = string_list(*g, kMaxGroups, "TokenReview status.user.groups");
    if (!groups) return fail(groups.error());
    out.user.groups = std::move(groups).value();
  }
  if (auto x = user->find("extra"); x != user->end() && !x->is_null()) {
    if (!x->is_object()) return fail("TokenReview status.user.extra is not an object");
    if (x->size() > kMaxExtraKeys) return fail("TokenReview status.user.extra has too many keys");
    for (const auto& [key, values] : x->items()) {
      if (key.size() > kMaxNameBytes)
        return fail("TokenReview status.user.extra has a key longer than 1024 bytes");
      auto list = string_list(values, kMaxExtraValues, "TokenReview status.user.extra values");
      if (!list) return fail(list.error());
      out.user.extra.emplace_back(key, std::move(list).value());
    }
  }
  return out;
}

std::string subject_access_review_request(const UserInfo& user, std::string_view path,
                                          std::string_view verb) {
  json spec = {{"user", user.username},
               {"nonResourceAttributes", {{"path", std::string(path)}, {"verb", std::string(verb)}}}};
  if (!user.uid.empty()) spec["uid"] = user.uid;
  if (!user.groups.empty()) spec["groups"] = user.groups;
  if (!user.extra.empty()) {
    json extra = json::object();
    for (const auto& [k, v] : user.extra) extra[k] = v;
    spec["extra"] = std::move(extra);
  }
  json body = {{"apiVersion", "authorization.k8s.io/v1"},
               {"kind", "SubjectAccessReview"},
               {"spec", std::move(spec)}};
  return body.dump();
}

Result<SubjectAccessReviewAnswer, std::string> parse_subject_access_review(std::string_view text) {
  auto doc = parse_object(text, "SubjectAccessReview");
  if (!doc) return fail(doc.error());
  const json& root = doc.value();
  if (auto kind = root.find("kind"); kind != root.end() && *kind != "SubjectAccessReview")
    return fail("the answer is not a SubjectAccessReview (kind is not \"SubjectAccessReview\")");
  auto status = root.find("status");
  if (status == root.end() || !status->is_object())
    return fail("SubjectAccessReview answer has no status object");
  SubjectAccessReviewAnswer out;
  auto allowed = status->find("allowed");
  if (allowed == status->end() || !allowed->is_boolean())
    return fail("SubjectAccessReview status.allowed is missing or not a boolean");
  out.allowed = allowed->get<bool>();
  if (auto d = status->find("denied"); d != status->end() && !d->is_null()) {
    if (!d->is_boolean()) return fail("SubjectAccessReview status.denied is not a boolean");
    out.denied = d->get<bool>();
  }
  if (out.allowed && out.denied)
    return fail("SubjectAccessReview status says both allowed and denied");
  if (auto r = string_field(*status, "reason", "SubjectAccessReview status"); r)
    out.reason = r.value().substr(0, 200);
  return out;
}

// ---------------------------------------------------------------- cache

ReviewCache::ReviewCache(std::chrono::milliseconds ttl, std::size_t capacity)
    : ttl_(ttl), capacity_(capacity == 0 ? 1 : capacity) {}

std::string ReviewCache::key_of(std::string_view token) { return "sha256:" + sha256_hex(token); }

std::optional<AccessDecision> ReviewCache::get(const std::string& key, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (now >= it->second.expires) {
    order_.erase(it->second.order);
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.decision;
}

void ReviewCache::put(const std::string& key, AccessDecision decision, Clock::time_point now) {
  if (auto it = entries_.find(key); it != entries_.end()) {
    order_.erase(it->second.order);
    entries_.erase(it);
  }
  while (entries_.size() >= capacity_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  order_.push_back(key);
  entries_.emplace(key, Entry{decision, now + ttl_, std::prev(order_.end())});
}

// ---------------------------------------------------------------- reviewer

namespace {

log::Throttle& review_log() {
  static log::Throttle throttle(std::chrono::minutes(1));
  return throttle;
}

}  // namespace

AccessReviewer::AccessReviewer(std::shared_ptr<Client> client, AccessReviewOptions options)
    : client_(std::move(client)),
      options_(std::move(options)),
      cache_(options_.cache_ttl, options_.cache_capacity) {
  if (!options_.now) options_.now = [] { return ReviewCache::Clock::now(); };
}

boost::asio::awaitable<AccessDecision> AccessReviewer::review(const std::string& token) {
  if (!plausible_bearer_token(token, options_.max_token_bytes))
    co_return AccessDecision::Unauthenticated;
  const std::string key = ReviewCache::key_of(token);
  if (auto hit = cache_.get(key, options_.now())) co_return *hit;
  if (in_flight_ >= options_.max_in_flight) {
    review_log().write("busy", log::Level::Warn,
                       "metrics request denied: too many token reviews waiting for the API server",
                       {{"path", options_.path},
                        {"inFlight", std::to_string(in_flight_)}});
    co_return AccessDecision::Unauthenticated;
  }
  // Counted while the API server is asked (the guard lives in this frame).
  struct InFlight {
    std::size_t& n;
    explicit InFlight(std::size_t& count) : n(count) { ++n; }
    ~InFlight() { --n; }
  } guard(in_flight_);
  AccessDecision decision = co_await ask(token, key);
  co_return decision;
}

boost::asio::awaitable<AccessDecision> AccessReviewer::ask(const std::string& token,
                                                           const std::string& key) {
  // Who is it? (The client's error texts quote the API server's Status,
  // never the request body that holds the token.)
  const std::string tr_path = "/apis/authentication.k8s.io/v1/tokenreviews";
  const std::string tr_body = token_review_request(token);
  auto tr = co_await client_->request("POST", tr_path, tr_body, "application/json");
  if (!tr) {
    review_log().write("tokenreview-failed", log::Level::Warn,
                       "metrics request denied: the TokenReview failed",
                       {{"path", options_.path}, {"error", tr.error().describe()}});
    co_return AccessDecision::Unauthenticated;
  }
  auto who = parse_token_review(tr.value());
  if (!who) {
    review_log().write("tokenreview-bad", log::Level::Warn,
                       "metrics request denied: the API server's TokenReview answer is not "
                       "usable",
                       {{"path", options_.path}, {"error", who.error()}});
    co_return AccessDecision::Unauthenticated;
  }
  if (!who->authenticated) {
    cache_.put(key, AccessDecision::Unauthenticated, options_.now());
    co_return AccessDecision::Unauthenticated;
  }

  // May it GET the path?
  const std::string sar_path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
  const std::string sar_body =
      subject_access_review_request(who->user, options_.path, options_.verb);
  auto sar = co_await client_->request("POST", sar_path, sar_body, "application/json");
  if (!sar) {
    review_log().write("sar-failed", log::Level::Warn,
                       "metrics request denied: the SubjectAccessReview failed",
                       {{"path", options_.path},
                        {"user", who->user.username},
                        {"error", sar.error().describe()}});
    co_return AccessDecision::Forbidden;
  }
  auto may = parse_subject_access_review(sar.value());
  if (!may) {
    review_log().write("sar-bad", log::Level::Warn,
                       "metrics request denied: the API server's SubjectAccessReview answer is "
                       "not usable",
                       {{"path", options_.path},
                        {"user", who->user.username},
                        {"error", may.error()}});
    co_return AccessDecision::Forbidden;
  }
  AccessDecision decision = may->allowed ? AccessDecision::Allowed : AccessDecision::Forbidden;
  if (decision == AccessDecision::Forbidden) {
    review_log().write("forbidden", log::Level::Info,
                       "metrics request forbidden by the API server",
                       {{"path", options_.path},
                        {"verb", options_.verb},
                        {"user", who->user.username},
                        {"reason", may->reason}});
  }
  cache_.put(key, decision, options_.now());
  co_return decision;
}

}  // namespace sto::kube
