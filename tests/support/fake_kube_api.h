// FakeApi: an in-memory stand-in for the API server behind the kube::Client
// interface, enough for Leases, Events and lists: create (AlreadyExists), get
// (NotFound), update with resourceVersion checks (Conflict), merge patch,
// list and delete. Requests can be slowed down or answered with an injected
// error, and every request is recorded. Arguments are copied before the first
// suspension: callers' views need not outlive it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "kube/client.h"

namespace sto::kube::testing {

inline ApiError api_error(ApiErrorKind kind, int status, std::string reason, std::string message) {
  ApiError e;
  e.kind = kind;
  e.status = status;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

class FakeApi final : public Client {
 public:
  struct Call {
    std::string verb;  // get, list, watch, create, update, patch, delete
    std::string plural;
    std::string ns;
    std::string name;
    std::string body;
    std::int64_t limit = 0;  // a list's page size (0: all)
  };

  std::vector<Call> calls;
  // Answers a request with this error instead of serving it (nullopt: serve).
  std::function<std::optional<ApiError>(const Call&)> inject;
  // Time each request takes.
  std::chrono::milliseconds latency{0};
  // A list answer larger than this fails as the HTTP client's limit does.
  std::size_t max_list_bytes = 0;

  std::map<std::string, nlohmann::json> objects;  // plural/ns/name

  static std::string key(const std::string& plural, const std::string& ns,
                         const std::string& name) {
    return plural + "/" + ns + "/" + name;
  }
  nlohmann::json* find(const std::string& plural, const std::string& ns, const std::string& name) {
    auto it = objects.find(key(plural, ns, name));
    return it == objects.end() ? nullptr : &it->second;
  }
  // Stores obj (as another writer would), bumping its resourceVersion.
  void put(const std::string& plural, const std::string& ns, nlohmann::json obj) {
    obj["metadata"]["resourceVersion"] = std::to_string(++rv_);
    obj["metadata"]["namespace"] = ns;
    if (!obj["metadata"].contains("uid")) obj["metadata"]["uid"] = "uid-" + std::to_string(rv_);
    std::string k = key(plural, ns, obj["metadata"]["name"].get<std::string>());
    objects[k] = std::move(obj);
  }
  std::vector<nlohmann::json> all(const std::string& plural) const {
    std::vector<nlohmann::json> out;
    for (const auto& [k, v] : objects) {
      if (k.rfind(plural + "/", 0) == 0) out.push_back(v);
    }
    return out;
  }
  std::size_t count(const std::string& verb, const std::string& plural) const {
    std::size_t n = 0;
    for (const auto& c : calls) n += c.verb == verb && c.plural == plural;
    return n;
  }

  const ClusterConfig& config() const override { return config_; }

  Async<Json> get(const Resource& r, std::string_view ns, std::string_view name,
                  std::string_view) override {
    Call c{"get", r.plural, std::string(ns), std::string(name), ""};
    co_await pause();
    co_return serve(c);
  }
  // Pages by limit; the continue token is the index of the next object.
  Async<Json> list(const Resource& r, std::string_view ns, const ListOptions& options) override {
    Call c{"list", r.plural, std::string(ns), "", options.continue_token, options.limit};
    co_await pause();
    co_return serve(c);
  }
  Async<Json> create(const Resource& r, std::string_view ns, const Json& body) override {
    Call c{"create", r.plural, std::string(ns), "", body};
    co_await pause();
    co_return serve(c);
  }
  Async<Json> update(const Resource& r, std::string_view ns, std::string_view name,
                     const Json& body, std::string_view) override {
    Call c{"update", r.plural, std::string(ns), std::string(name), body};
    co_await pause();
    co_return serve(c);
  }
  Async<Json> patch(const Resource& r, std::string_view ns, std::string_view name, PatchType,
                    const Json& body, const PatchOptions&, std::string_view) override {
    Call c{"patch", r.plural, std::string(ns), std::string(name), body};
    co_await pause();
    co_return serve(c);
  }
  Async<Json> remove(const Resource& r, std::string_view ns, std::string_view name,
                     const DeleteOptions&) override {
    Call c{"delete", r.plural, std::string(ns), std::string(name), ""};
    co_await pause();
    co_return serve(c);
  }
  // A watch answers what inject says, else 405: the fake streams nothing.
  Async<std::unique_ptr<WatchStream>> watch(const Resource& r, std::string_view ns,
                                            const WatchOptions&) override {
    Call c{"watch", r.plural, std::string(ns), "", ""};
    co_await pause();
    calls.push_back(c);
    if (inject) {
      if (auto e = inject(c)) co_return fail(std::move(*e));
    }
    co_return fail(api_error(ApiErrorKind::MethodNotAllowed, 405, "MethodNotAllowed", "no watch"));
  }
  Async<Json> request(std::string_view, const std::string&, const Json&,
                      std::string_view) override {
    co_return fail(
        api_error(ApiErrorKind::MethodNotAllowed, 405, "MethodNotAllowed", "no request"));
  }
  void shutdown() override {}

 private:
  boost::asio::awaitable<void> pause() {
    if (latency.count() <= 0) co_return;
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor, latency);
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

  Result<std::string, ApiError> serve(const Call& c) {
    calls.push_back(c);
    if (inject) {
      if (auto e = inject(c)) return fail(std::move(*e));
    }
    if (c.verb == "list") {
      nlohmann::json items = nlohmann::json::array();
      const std::size_t from = c.body.empty() ? 0 : std::stoul(c.body);
      std::size_t index = 0;
      for (const auto& [k, v] : objects) {
        // A list without a namespace lists them all, as the API server does.
        const std::string prefix = c.ns.empty() ? c.plural + "/" : c.plural + "/" + c.ns + "/";
        if (k.rfind(prefix, 0) != 0) continue;
        if (index++ < from) continue;
        if (c.limit > 0 && items.size() == static_cast<std::size_t>(c.limit)) {
          --index;
          break;
        }
        items.push_back(v);
      }
      std::size_t listed = 0;
      for (const auto& [k, v] : objects) listed += k.rfind(c.plural + "/" + c.ns + "/", 0) == 0;
      nlohmann::json meta{{"resourceVersion", std::to_string(rv_)}};
      if (index < listed) meta["continue"] = std::to_string(index);
      std::string body = nlohmann::json{{"metadata", meta}, {"items", items}}.dump();
      if (max_list_bytes > 0 && body.size() > max_list_bytes) {
        ApiError e;
        e.kind = ApiErrorKind::TooLarge;
        e.message = "answer larger than " + std::to_string(max_list_bytes) + " bytes";
        return fail(std::move(e));
      }
      return body;
    }
    if (c.verb == "create") {
      auto obj = nlohmann::json::parse(c.body);
      std::string name = obj["metadata"].value("name", "");
      if (name.empty()) return fail(api_error(ApiErrorKind::Invalid, 422, "Invalid", "no name"));
      if (find(c.plural, c.ns, name)) {
        return fail(api_error(ApiErrorKind::AlreadyExists, 409, "AlreadyExists", name + " exists"));
      }
      put(c.plural, c.ns, obj);
      return find(c.plural, c.ns, name)->dump();
    }
    auto* existing = find(c.plural, c.ns, c.name);
    if (!existing) {
      return fail(api_error(ApiErrorKind::NotFound, 404, "NotFound", c.name + " not found"));
    }
    if (c.verb == "get") return existing->dump();
    if (c.verb == "delete") {
      objects.erase(key(c.plural, c.ns, c.name));
      return std::string("{}");
    }
    if (c.verb == "update") {
      auto obj = nlohmann::json::parse(c.body);
      std::string rv = obj["metadata"].value("resourceVersion", "");
      if (!rv.empty() && rv != (*existing)["metadata"]["resourceVersion"].get<std::string>()) {
        return fail(
            api_error(ApiErrorKind::Conflict, 409, "Conflict", "the object has been modified"));
      }
      obj["metadata"]["uid"] = (*existing)["metadata"]["uid"];
      put(c.plural, c.ns, obj);
      return find(c.plural, c.ns, c.name)->dump();
    }
    // patch (merge)
    nlohmann::json obj = *existing;
    obj.merge_patch(nlohmann::json::parse(c.body));
    put(c.plural, c.ns, obj);
    return find(c.plural, c.ns, c.name)->dump();
  }

  ClusterConfig config_;
  int rv_ = 0;
};

}  // namespace sto::kube::testing
