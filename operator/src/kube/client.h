// Client: REST access to any Kubernetes resource — get, list (selectors,
// pagination), create, update, patch (merge, JSON, server-side apply), delete
// (preconditions, propagation) and subresources such as status — plus watch
// streams. Objects cross this boundary as JSON text; callers decode what they
// need. Every request carries a deadline and passes a client-side QPS/burst
// limit; failures come back as ApiError values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "kube/api_error.h"
#include "kube/config.h"
#include "kube/resource.h"

namespace sto::kube {

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  std::int64_t limit = 0;  // 0: no pagination
  std::string continue_token;
  std::string resource_version;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  bool allow_bookmarks = true;
  // Server-side timeout of one watch request; the watcher reconnects after it.
  std::chrono::seconds timeout{300};
};

enum class PatchType { Merge, Json, Strategic, Apply };

struct PatchOptions {
  std::string field_manager;  // required for Apply
  bool force = false;         // Apply: take ownership of conflicting fields
};

struct DeleteOptions {
  std::string precondition_uid;
  std::string precondition_resource_version;
  std::string propagation_policy;  // "", Background, Foreground, Orphan
};

enum class WatchEventType { Added, Modified, Deleted, Bookmark, Error };

struct WatchEvent {
  WatchEventType type;
  std::string object;            // JSON of the object (or of the Status for Error)
  std::string resource_version;  // the object's metadata.resourceVersion
};

// One watch response: events as the server streams them.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // The next event; nullopt when the server ended the stream normally. An
  // ERROR event is returned as ApiError (410 Gone has kind Gone).
  virtual boost::asio::awaitable<Result<std::optional<WatchEvent>, ApiError>> next() = 0;
  virtual void cancel() = 0;
};

struct ClientOptions {
  double qps = 200;
  int burst = 400;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // A watch that delivers nothing (not even a bookmark) for this long is
  // considered dead.
  std::chrono::milliseconds watch_idle_timeout{std::chrono::minutes(6)};
  std::size_t max_body_bytes = 256u * 1024 * 1024;
  std::size_t max_watch_event_bytes = 16u * 1024 * 1024;
  std::string user_agent = "sysdig-token-operator";
  // Most requests under way at once (watches aside), 0 for no limit; the
  // rest wait their turn within their timeout. Each one under way holds a
  // connection (and its TLS state).
  std::size_t max_in_flight = 0;
  // Called once per completed request: method, HTTP status (0 on transport
  // failure), host. Feeds rest_client_requests_total.
  std::function<void(std::string_view method, int code, std::string_view host)> on_request;
};

class Client {
 public:
  virtual ~Client() = default;

  static Result<std::shared_ptr<Client>, std::string> create(boost::asio::any_io_executor executor,
                                                             ClusterConfig config,
                                                             ClientOptions options = {});

  virtual const ClusterConfig& config() const = 0;

  using Json = std::string;
  template <typename T>
  using Async = boost::asio::awaitable<Result<T, ApiError>>;

  // Coroutine parameters are references: GCC 12 destroys class-type
  // prvalue arguments of coroutines twice (GCC PR 100611), so callers keep
  // arguments alive in their own frame and co_await at once.
  virtual Async<Json> get(const Resource& r, std::string_view ns, std::string_view name,
                          std::string_view subresource = {}) = 0;
  virtual Async<Json> list(const Resource& r, std::string_view ns, const ListOptions& options) = 0;
  virtual Async<Json> create(const Resource& r, std::string_view ns, const Json& body) = 0;
  virtual Async<Json> update(const Resource& r, std::string_view ns, std::string_view name,
                             const Json& body, std::string_view subresource = {}) = 0;
  virtual Async<Json> patch(const Resource& r, std::string_view ns, std::string_view name,
                            PatchType type, const Json& body, const PatchOptions& options,
                            std::string_view subresource = {}) = 0;
  // The answer of a delete is the deleted object or a Status.
  virtual Async<Json> remove(const Resource& r, std::string_view ns, std::string_view name,
                             const DeleteOptions& options) = 0;
  virtual Async<std::unique_ptr<WatchStream>> watch(const Resource& r, std::string_view ns,
                                                    const WatchOptions& options) = 0;
  // Any other request; path includes the query.
  virtual Async<Json> request(std::string_view method, const std::string& path, const Json& body,
                              std::string_view content_type) = 0;

  // Closes idle connections and ends credential work in progress (an exec
  // plugin is killed); requests after it fail. Idempotent.
  virtual void shutdown() = 0;
};

}  // namespace sto::kube
