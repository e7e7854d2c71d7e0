// HttpGateway: the IBM Cloud layer's only way to the network.
//
// Every request goes through send(), which
// - refuses hosts that are not on the allowlist (EndpointNotAllowed; no
//   connection is even attempted),
// - takes a net::HttpClient for the origin from a bounded pool (keep-alive
//   reuse; at most max_clients at once, the least recently used idle one
//   evicted for a new origin, clients idle for client_idle_timeout dropped),
//   all of them sharing ONE TLS context that verifies certificates against
//   the system store plus an optional extra CA,
// - rate-limits per host and honours Retry-After per caller (the API key's
//   SHA-256) on that host (HostRateLimiter),
// - puts a deadline on the exchange and a cap on the answer's size,
// - clears the request's body (which may hold an API key) and its
//   Authorization header from memory once sent,
// - and turns transport failures into IbmErrors (IAMUnavailable or
//   MonitoringUnavailable, retryable).
// An answer of any status is returned as a value: what it means is for the
// IAM and Monitoring wire formats to say. Use from the executor's thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "ibm/errors.h"
#include "ibm/host_allowlist.h"
#include "ibm/host_rate_limiter.h"
#include "net/connect_to.h"
#include "net/http_client.h"

namespace sto::ibm {

class ClientPool;

// Which service a request is for: it names the failure kind and the message.
enum class Service { Iam, Monitoring };

struct GatewayOptions {
  net::TlsConfig tls;  // verify with the system store; tls.ca_pem adds trusted CAs
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_response_bytes = 1024 * 1024;  // IBM's answers are small
  HostRateLimiter::Options rate;
  // HTTP clients (one per origin) held at once. Tenants choose endpoints;
  // this bounds what that costs.
  std::size_t max_clients = 32;
  // A client unused this long is dropped with its connections (by
  // maintain()).
  std::chrono::milliseconds client_idle_timeout{std::chrono::minutes(2)};
  // --connect-to: connections for these hosts and ports go elsewhere (the
  // allowlist, TLS and the Host header still see the endpoint's own host).
  std::vector<net::ConnectTo> connect_to;
  // Called once per request sent: the service and the HTTP status (0 when
  // no answer came). Feeds sysdigtoken_ibm_requests_total.
  std::function<void(Service service, int code)> on_response;
  // HTTPS_PROXY / NO_PROXY: each origin's client tunnels through the proxy
  // chosen for its host (curl's rules: loopback hosts too, unless NO_PROXY
  // names them).
  net::ProxySettings proxy;
};

class HttpGateway : public std::enable_shared_from_this<HttpGateway> {
 public:
  // Fails when the TLS settings are unusable (for example an invalid CA PEM).
  static Result<std::shared_ptr<HttpGateway>, std::string> create(
      boost::asio::any_io_executor executor, HostAllowlist allowlist, GatewayOptions options = {});

  HttpGateway(boost::asio::any_io_executor executor, HostAllowlist allowlist,
              GatewayOptions options, std::shared_ptr<net::TlsContext> tls);
  ~HttpGateway();

  // Sends `request` to `base_url` ("https://host[:port]", see
  // normalize_endpoint). The request's timeout is the gateway's; the gateway
  // stays alive until the call ends. `caller`
  // scopes Retry-After: an answer that asks to wait holds back later
  // requests to that origin with the same caller only (the SHA-256 of the
  // API key; empty for none). Reference parameters: co_await the call at
  // once.
  boost::asio::awaitable<Result<net::HttpResponse, IbmError>> send(const std::string& base_url,
                                                                   net::HttpRequest request,
                                                                   Service service,
                                                                   const std::string& caller);

  // Whether `base_url` may be called: InvalidSpec when it is not an https
  // URL, EndpointNotAllowed when its host is not on the allowlist. send()
  // checks this too; callers that make several requests check first so that
  // none is made.
  Result<Ok, IbmError> check_allowed(const std::string& base_url, Service service) const;

  const HostAllowlist& allowlist() const { return allowlist_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

  // Drops clients idle for client_idle_timeout, periodically, until
  // shutdown(). The operator runs it next to the controller; without it
  // idle clients are only evicted when new origins need room.
  boost::asio::awaitable<void> maintain();

  // HTTP clients held (sysdigtoken_ibm_http_clients), and how many of them
  // have a request under way.
  std::size_t client_count() const;
  std::size_t clients_in_use() const;
  bool has_client(std::string_view origin) const;
  // The one TLS context every client shares.
  const net::TlsContext& tls_context() const { return *tls_; }
  const HostRateLimiter& rate_limiter() const { return limiter_; }

  // Closes idle connections; requests under way finish, later ones fail.
  void shutdown();

 private:
  boost::asio::any_io_executor executor_;
  HostAllowlist allowlist_;
  GatewayOptions options_;
  HostRateLimiter limiter_;
  std::shared_ptr<net::TlsContext> tls_;
  std::shared_ptr<ClientPool> pool_;
  bool shut_down_ = false;
};

// "IAM" or "Monitoring", as messages name the service.
std::string_view service_name(Service service);

}  // namespace sto::ibm
