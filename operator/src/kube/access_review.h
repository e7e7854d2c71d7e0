// AccessReviewer: decides whether a bearer token may GET a non-resource URL
// (such as /metrics), asking the API server as controller-runtime's
// WithAuthenticationAndAuthorization does: a TokenReview
// (authentication.k8s.io/v1) says who the token belongs to, then a
// SubjectAccessReview (authorization.k8s.io/v1, nonResourceAttributes) says
// whether that user may use the URL.
//
// Decisions (allowed, unauthenticated, forbidden) are cached for a short
// time, keyed by the SHA-256 of the token, never the token itself; a review
// that failed (API server unreachable, an answer that does not parse) denies
// and is not cached. The token never reaches a log line or an error text.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace sto::kube {

class Client;

enum class AccessDecision {
  Allowed,          // authenticated and authorized
  Unauthenticated,  // no token, or the API server does not know it
  Forbidden,        // authenticated, not authorized
};

std::string_view to_string(AccessDecision decision);

// --- the JSON of the two reviews (pure functions, unit-tested) -------------

struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  // "extra": key -> values, kept as given.
  std::vector<std::pair<std::string, std::vector<std::string>>> extra;
};

struct TokenReviewAnswer {
  bool authenticated = false;
  UserInfo user;   // when authenticated
  std::string error;  // status.error, when the API server gave one
};

// The TokenReview request body for a token. The audiences are left empty:
// the API server's own audiences apply.
std::string token_review_request(std::string_view token);
// Parses a TokenReview answer. An error names what is wrong with it (never
// quoting the answer, which may echo the token).
Result<TokenReviewAnswer, std::string> parse_token_review(std::string_view json);

// The SubjectAccessReview request body: may USER do VERB on PATH.
std::string subject_access_review_request(const UserInfo& user, std::string_view path,
                                          std::string_view verb);
struct SubjectAccessReviewAnswer {
  bool allowed = false;
  bool denied = false;
  std::string reason;
};
Result<SubjectAccessReviewAnswer, std::string> parse_subject_access_review(std::string_view json);

// --- the decision cache ------------------------------------------------------

// Decisions by token digest, each for `ttl`; at most `capacity` entries (the
// oldest entry goes first). Single-threaded.
class ReviewCache {
 public:
  using Clock = std::chrono::steady_clock;
  ReviewCache(std::chrono::milliseconds ttl, std::size_t capacity);

  // The digest a token is cached under: "sha256:" + hex.
  static std::string key_of(std::string_view token);

  std::optional<AccessDecision> get(const std::string& key, Clock::time_point now);
  void put(const std::string& key, AccessDecision decision, Clock::time_point now);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    AccessDecision decision;
    Clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  std::chrono::milliseconds ttl_;
  std::size_t capacity_;
  std::list<std::string> order_;  // oldest first
  std::unordered_map<std::string, Entry> entries_;
};

// --- the reviewer ------------------------------------------------------------

struct AccessReviewOptions {
  std::string path = "/metrics";
  std::string verb = "get";
  std::chrono::milliseconds cache_ttl{std::chrono::minutes(1)};
  std::size_t cache_capacity = 1024;
  // Longest token accepted (longer ones are refused without a review).
  std::size_t max_token_bytes = 8 * 1024;
  // Reviews waiting for the API server at once; a request beyond it is
  // denied without one, so a flood of made-up tokens cannot take the API
  // client's rate budget from the reconciles.
  std::size_t max_in_flight = 8;
  std::function<ReviewCache::Clock::time_point()> now;  // default steady_clock::now
};

class AccessReviewer {
 public:
  AccessReviewer(std::shared_ptr<Client> client, AccessReviewOptions options = {});

  // The decision for a bearer token (empty: Unauthenticated). Failed reviews
  // are logged (throttled) and deny.
  boost::asio::awaitable<AccessDecision> review(const std::string& token);

  std::size_t cached() const { return cache_.size(); }
  std::size_t in_flight() const { return in_flight_; }

 private:
  boost::asio::awaitable<AccessDecision> ask(const std::string& token, const std::string& key);

  std::shared_ptr<Client> client_;
  AccessReviewOptions options_;
  ReviewCache cache_;
  std::size_t in_flight_ = 0;
};

// Whether a token is well-formed enough to send for review: 1..max bytes of
// visible ASCII (RFC 6750 b64token and the JWTs Kubernetes issues).
bool plausible_bearer_token(std::string_view token, std::size_t max_bytes);

}  // namespace sto::kube
