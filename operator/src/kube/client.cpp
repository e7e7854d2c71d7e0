#include "kube/client.h"

#include <boost/asio/this_coro.hpp>

#include "kube/watch_decoder.h"
#include "net/http_client.h"
#include "net/rate_limiter.h"

namespace sto::kube {
namespace {

namespace asio = boost::asio;

ApiError transport_error(const net::NetError& e) {
  ApiError out;
  out.kind = e.kind == net::NetErrorKind::Timeout    ? ApiErrorKind::Timeout
             : e.kind == net::NetErrorKind::TooLarge ? ApiErrorKind::TooLarge
                                                     : ApiErrorKind::Transport;
  out.message = e.message;
  return out;
}

ApiError credentials_error(const std::string& message) {
  ApiError out;
  out.kind = ApiErrorKind::Unauthorized;
  out.message = "credentials: " + message;
  return out;
}

std::string query(std::initializer_list<std::pair<std::string_view, std::string>> params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += q.empty() ? "?" : "&";
    q.append(k).append("=").append(url_encode(v));
  }
  return q;
}

std::string_view content_type_for(PatchType type) {
  switch (type) {
    case PatchType::Merge:
      return "application/merge-patch+json";
    case PatchType::Json:
      return "application/json-patch+json";
    case PatchType::Strategic:
      return "application/strategic-merge-patch+json";
    case PatchType::Apply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

class WatchStreamImpl final : public WatchStream {
 public:
  WatchStreamImpl(std::unique_ptr<net::ResponseStream> stream, std::size_t max_event_bytes,
                  std::chrono::milliseconds idle_timeout)
      : stream_(std::move(stream)), decoder_(max_event_bytes), idle_timeout_(idle_timeout) {}

  asio::awaitable<Result<std::optional<WatchEvent>, ApiError>> next() override {
    while (pending_index_ >= pending_.size()) {
      pending_.clear();
      pending_index_ = 0;
      if (ended_) co_return std::optional<WatchEvent>{};
      auto chunk = co_await stream_->read_some(idle_timeout_);
      if (!chunk) co_return fail(transport_error(chunk.error()));
      if (chunk->empty()) {
        ended_ = true;
        auto r = decoder_.finish(pending_);
        if (!r) co_return fail(std::move(r.error()));
        continue;
      }
      auto r = decoder_.feed(*chunk, pending_);
      if (!r) co_return fail(std::move(r.error()));
    }
    WatchEvent ev = std::move(pending_[pending_index_++]);
    if (ev.type == WatchEventType::Error) {
      ApiError e = api_error_from_response(200, ev.object, std::nullopt);
      co_return fail(std::move(e));
    }
    co_return std::optional<WatchEvent>(std::move(ev));
  }

  void cancel() override { stream_->cancel(); }

 private:
  std::unique_ptr<net::ResponseStream> stream_;
  WatchDecoder decoder_;
  std::chrono::milliseconds idle_timeout_;
  std::vector<WatchEvent> pending_;
  std::size_t pending_index_ = 0;
  bool ended_ = false;
};

class ClientImpl final : public Client {
 public:
  ClientImpl(ClusterConfig config, ClientOptions options, std::shared_ptr<net::HttpClient> http)
      : config_(std::move(config)),
        options_(std::move(options)),
        http_(std::move(http)),
        limiter_(options_.qps, options_.burst),
        base_path_(config_.server.path == "/" ? "" : config_.server.path) {
    while (!base_path_.empty() && base_path_.back() == '/') base_path_.pop_back();
  }

  const ClusterConfig& config() const override { return config_; }

  Async<Json> get(const Resource& r, std::string_view ns, std::string_view name,
                  std::string_view subresource) override {
    std::string path = r.item_path(ns, name, subresource);
    co_return co_await call("GET", path, kNoBody, {});
  }

  Async<Json> list(const Resource& r, std::string_view ns, const ListOptions& o) override {
    std::string path =
        r.collection_path(ns) + query({{"labelSelector", o.label_selector},
                                       {"fieldSelector", o.field_selector},
                                       {"limit", o.limit > 0 ? std::to_string(o.limit) : ""},
                                       {"continue", o.continue_token},
                                       {"resourceVersion", o.resource_version}});
    co_return co_await call("GET", path, kNoBody, {});
  }

  Async<Json> create(const Resource& r, std::string_view ns, const Json& body) override {
    std::string path = r.collection_path(ns);
    co_return co_await call("POST", path, body, "application/json");
  }

  Async<Json> update(const Resource& r, std::string_view ns, std::string_view name,
                     const Json& body, std::string_view subresource) override {
    std::string path = r.item_path(ns, name, subresource);
    co_return co_await call("PUT", path, body, "application/json");
  }

  Async<Json> patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                    const Json& body, const PatchOptions& o,
                    std::string_view subresource) override {
    std::string path = r.item_path(ns, name, subresource) +
                       query({{"fieldManager", o.field_manager},
                              {"force", type == PatchType::Apply && o.force ? "true" : ""}});
    co_return co_await call("PATCH", path, body, content_type_for(type));
  }

  Async<Json> remove(const Resource& r, std::string_view ns, std::string_view name,
                     const DeleteOptions& o) override {
    std::string body;
    if (!o.precondition_uid.empty() || !o.precondition_resource_version.empty() ||
        !o.propagation_policy.empty()) {
      body = R"({"kind":"DeleteOptions","apiVersion":"v1")";
      if (!o.propagation_policy.empty())
        body += R"(,"propagationPolicy":")" + o.propagation_policy + "\"";
      if (!o.precondition_uid.empty() || !o.precondition_resource_version.empty()) {
        body += R"(,"preconditions":{)";
        bool first = true;
        if (!o.precondition_uid.empty()) {
          body += R"("uid":")" + o.precondition_uid + "\"";
          first = false;
        }
        if (!o.precondition_resource_version.empty()) {
          body += (first ? "" : ",") + std::string(R"("resourceVersion":")") +
                  o.precondition_resource_version + "\"";
        }
        body += "}";
      }
      body += "}";
    }
    std::string path = r.item_path(ns, name);
    co_return co_await call("DELETE", path, body, body.empty() ? "" : "application/json");
  }

  Async<std::unique_ptr<WatchStream>> watch(const Resource& r, std::string_view ns,
                                            const WatchOptions& o) override {
    std::string path = base_path_ + r.collection_path(ns) +
                       query({{"watch", "1"},
                              {"labelSelector", o.label_selector},
                              {"fieldSelector", o.field_selector},
                              {"resourceVersion", o.resource_version},
                              {"allowWatchBookmarks", o.allow_bookmarks ? "true" : ""},
                              {"timeoutSeconds", std::to_string(o.timeout.count())}});
    auto request = co_await prepare("GET", path, kNoBody, {});
    if (!request) co_return fail(std::move(request.error()));
    auto opened = co_await http_->open(request.value());
    if (!opened) {
      report("WATCH", 0);
      co_return fail(transport_error(opened.error()));
    }
    auto stream = std::move(opened.value());
    report("WATCH", stream->status());
    if (stream->status() != 200) {
      // Read the (small) error body for its Status.
      std::string body;
      for (int i = 0; i < 64 && body.size() < 64 * 1024; ++i) {
        auto piece = co_await stream->read_some(options_.timeout);
        if (!piece || piece->empty()) break;
        body.append(*piece);
      }
      if (stream->status() == 401) config_.credentials->invalidate();
      auto retry_after = net::find_header(stream->headers(), "Retry-After");
      co_return fail(api_error_from_response(stream->status(), body, retry_after));
    }
    co_return std::unique_ptr<WatchStream>(std::make_unique<WatchStreamImpl>(
        std::move(stream), options_.max_watch_event_bytes, options_.watch_idle_timeout));
  }

  Async<Json> request(std::string_view method, const std::string& path, const Json& body,
                      std::string_view content_type) override {
    co_return co_await call(method, path, body, content_type);
  }

  void shutdown() override {
    http_->shutdown();
    // A credential plugin still running is killed; its callers get an error
    // while their executor still runs.
    config_.credentials->shutdown();
  }

 private:
  // Applies the rate limit and credentials; path is absolute on the server.
  asio::awaitable<Result<net::HttpRequest, ApiError>> prepare(std::string_view method,
                                                              const std::string& path,
                                                              const std::string& body,
                                                              std::string_view content_type) {
    co_await limiter_.acquire();
    net::HttpRequest req;
    req.method = std::string(method);
    req.target = path;
    req.body = body;
    req.timeout = options_.timeout;
    req.headers.push_back({"Accept", "application/json"});
    if (!content_type.empty()) req.headers.push_back({"Content-Type", std::string(content_type)});
    // An exec plugin runs on a thread of its own: the loop goes on meanwhile.
    auto auth = co_await config_.credentials->authorization_async();
    if (!auth) co_return fail(credentials_error(auth.error()));
    if (!auth->empty()) req.headers.push_back({"Authorization", std::move(auth.value())});
    co_return req;
  }

  void report(std::string_view method, int code) {
    if (options_.on_request) options_.on_request(method, code, config_.server.host);
  }

  Async<Json> call(std::string_view method, const std::string& path, const std::string& body,
                   std::string_view content_type) {
    std::string full = base_path_ + path;
    for (int attempt = 0;; ++attempt) {
      auto request = co_await prepare(method, full, body, content_type);
      if (!request) co_return fail(std::move(request.error()));
      auto response = co_await http_->send(request.value());
      if (!response) {
        report(method, 0);
        co_return fail(transport_error(response.error()));
      }
      report(method, response->status);
      if (response->status >= 200 && response->status < 300) co_return std::move(response->body);
      if (response->status == 401 && attempt == 0) {
        // Rotated or expired credentials: refresh once and try again.
        config_.credentials->invalidate();
        continue;
      }
      auto error = api_error_from_response(response->status, response->body,
                                           response->header("Retry-After"));
      if (error.kind == ApiErrorKind::TooManyRequests && error.retry_after) {
        limiter_.pause_until(std::chrono::steady_clock::now() + *error.retry_after);
      }
      co_return fail(std::move(error));
    }
  }

  static inline const std::string kNoBody;

  ClusterConfig config_;
  ClientOptions options_;
  std::shared_ptr<net::HttpClient> http_;
  net::RateLimiter limiter_;
  std::string base_path_;
};

}  // namespace

Result<std::shared_ptr<Client>, std::string> Client::create(asio::any_io_executor executor,
                                                            ClusterConfig config,
                                                            ClientOptions options) {
  net::ClientOptions http_options;
  http_options.max_body_bytes = options.max_body_bytes;
  http_options.user_agent = options.user_agent;
  // No more idle connections than can be under way at once.
  http_options.max_idle_connections = options.max_in_flight > 0 ? options.max_in_flight : 64;
  http_options.max_exchanges = options.max_in_flight;
  http_options.proxy = config.proxy;
  auto http = net::HttpClient::create(std::move(executor), config.server, config.tls, http_options);
  if (!http) return fail("API server " + config.server.origin() + ": " + http.error().message);
  if (!config.credentials) return fail(std::string("cluster configuration has no credentials"));
  if (!(options.qps > 0) || options.burst < 1) return fail(std::string("invalid QPS or burst"));
  return std::shared_ptr<Client>(
      std::make_shared<ClientImpl>(std::move(config), std::move(options), std::move(http.value())));
}

}  // namespace sto::kube
