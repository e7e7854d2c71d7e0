// HttpServer: the operator's own small HTTP/1.1 server for GET /metrics,
// /healthz and /readyz, on the operator's event loop (Boost.Beast, C++20
// coroutines).
//
// It is built for probes and scrapers, not the open internet, but a bad
// client cannot hurt it: request heads and bodies are bounded, every request
// has a deadline (an idle keep-alive connection is closed after it too, and a
// new connection that sends nothing after a shorter one), the number of
// connections is capped, and errors end one connection, never the server.
//
// Idle connections cannot starve the probes: at the cap, a new connection
// closes the connection that has waited longest for a request (an idle or
// half-sent one, never one being answered unless its answer has been stuck
// for a while) instead of being refused. So whoever holds many idle sockets
// open only ever holds the newest ones, and the kubelet's probe, which sends
// its request at once, is answered. Each HttpServer has its own cap and its
// own accept loop: a flood on one listener does not touch another.
//
//   HttpServer metrics(io.get_executor());
//   metrics.serve_metrics(registry);
//   if (auto r = metrics.start(address); !r) { print r.error(); exit 2; }
//   ... on SIGTERM: metrics.stop();
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace boost::asio::ssl {
class context;
}

namespace sto::server {

class Registry;

// A listen address in controller-runtime's form.
struct BindAddress {
  std::string host;  // IP address or host name (IPv6 without brackets); empty = all interfaces
  std::uint16_t port = 0;  // 0 = any free port
  // ":8080", "127.0.0.1:8080", "[::1]:8080"
  std::string to_string() const;
  friend bool operator==(const BindAddress&, const BindAddress&) = default;
};

// Parses ":8080" (all interfaces), "127.0.0.1:8080", "[::1]:8080",
// "localhost:8080"; "0" means disabled (an empty optional). The error is one
// line naming the value, prefixed with "<flag>: " when a flag is given, e.g.
//   --metrics-bind-address: "127.0.0.1:99999" is not a valid listen address:
//   port 99999 is out of range (0-65535) (want HOST:PORT, :PORT, or 0 to disable)
Result<std::optional<BindAddress>, std::string> parse_bind_address(std::string_view text,
                                                                   std::string_view flag = {});

// What /readyz reports.
struct ReadyStatus {
  bool ready = true;
  std::string reason;  // why not ready: a short line for the 503 body
};
using ReadinessCheck = std::function<ReadyStatus()>;

// Who may GET /metrics: the decision for the request's bearer token (empty
// when the request has none, or its Authorization header is not "Bearer
// TOKEN"). The token must not be kept, logged or echoed.
enum class AuthDecision { Allowed, Unauthenticated, Forbidden };
using MetricsAuthorizer = std::function<boost::asio::awaitable<AuthDecision>(const std::string&)>;

struct ServerOptions {
  std::size_t max_header_bytes = 8 * 1024;  // request line and headers
  std::size_t max_body_bytes = 8 * 1024;
  // Deadline for reading one request (including the idle wait before it on a
  // kept-alive connection) and for writing its response.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
  // Deadline for the first request of a new connection (at most timeout): a
  // client that connects and sends nothing is closed sooner than one that
  // was served and keeps its connection alive.
  std::chrono::milliseconds first_request_timeout{std::chrono::seconds(3)};
  // At this many open connections a new one evicts the connection waiting
  // longest for a request; when none waits, it is closed at once.
  std::size_t max_connections = 64;
  // A response still being written after this long may be evicted too (a
  // client that asked and does not read), after every waiting connection.
  std::chrono::milliseconds stalled_response{std::chrono::seconds(1)};
  // Told about events worth a log line (accept errors, connections evicted
  // or refused at the cap), with a text that does not vary per connection;
  // silent when empty.
  std::function<void(std::string_view)> on_error;
};

class HttpServer {
 public:
  explicit HttpServer(boost::asio::any_io_executor executor, ServerOptions options = {});
  ~HttpServer();  // stop()s
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes, set before start(). Routes not served answer 404.
  // GET /metrics: registry.render(); the registry must outlive the server
  // (or stop() must be called first).
  void serve_metrics(const Registry& registry);
  // GET /healthz: 200 "ok". GET /readyz: 200 "ok" when readiness() says
  // ready (or no check is given), else 503 with the reason.
  void serve_health(ReadinessCheck readiness = {});
  // /metrics only for requests the authorizer allows: 401 without a usable
  // token or when it is not authenticated, 403 when it is not authorized.
  // The probes stay open.
  void require_authorization(MetricsAuthorizer authorizer);
  // Serve HTTPS with this context (a server context with its certificate
  // and key), set before start().
  void use_tls(std::shared_ptr<boost::asio::ssl::context> context);

  // Binds, listens and starts accepting on the executor. The error names the
  // address and the cause ("listen on 127.0.0.1:8080: Address already in use").
  Result<Ok, std::string> start(const BindAddress& address);
  // Closes the listener and every open connection and drops the routes'
  // callbacks, so the io_context runs out of work. Idempotent. Call it on the
  // thread that runs the executor (or while nothing runs it).
  void stop();

  // The bound port (the chosen one when started with port 0); 0 before start().
  std::uint16_t port() const;
  // The bound address, e.g. "127.0.0.1:8080" or "[::]:8080"; empty before start().
  std::string local_address() const;
  // Connections open now.
  std::size_t connections() const;
  // Connections closed to make room for a new one, and new connections
  // closed at once because every open one was busy, since start().
  std::uint64_t evicted() const;
  std::uint64_t refused() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sto::server
