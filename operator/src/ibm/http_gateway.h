// HttpGateway: the IBM Cloud layer's only way to the network.
//
// Every request goes through send(), which
// - refuses hosts that are not on the allowlist (EndpointNotAllowed; no
//   connection is even attempted),
// - keeps one net::HttpClient per origin (keep-alive reuse, certificates
//   verified against the system store plus an optional extra CA),
// - rate-limits per host and honours Retry-After (HostRateLimiter),
// - puts a deadline on the exchange and a cap on the answer's size,
// - and turns transport failures into IbmErrors (IAMUnavailable or
//   MonitoringUnavailable, retryable).
// An answer of any status is returned as a value: what it means is for the
// IAM and Monitoring wire formats to say. Use from the executor's thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "ibm/errors.h"
#include "ibm/host_allowlist.h"
#include "ibm/host_rate_limiter.h"
#include "net/http_client.h"

namespace sto::ibm {

// Which service a request is for: it names the failure kind and the message.
enum class Service { Iam, Monitoring };

struct GatewayOptions {
  net::TlsConfig tls;  // verify with the system store; tls.ca_pem adds trusted CAs
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_response_bytes = 1024 * 1024;  // IBM's answers are small
  HostRateLimiter::Options rate;
  // Called once per request sent: the service and the HTTP status (0 when
  // no answer came). Feeds sysdigtoken_ibm_requests_total.
  std::function<void(Service service, int code)> on_response;
};

class HttpGateway {
 public:
  // Fails when the TLS settings are unusable (for example an invalid CA PEM).
  static Result<std::shared_ptr<HttpGateway>, std::string> create(
      boost::asio::any_io_executor executor, HostAllowlist allowlist, GatewayOptions options = {});

  HttpGateway(boost::asio::any_io_executor executor, HostAllowlist allowlist,
              GatewayOptions options);

  // Sends `request` to `base_url` ("https://host[:port]", see
  // normalize_endpoint). The request's timeout is the gateway's.
  boost::asio::awaitable<Result<net::HttpResponse, IbmError>> send(const std::string& base_url,
                                                                   net::HttpRequest request,
                                                                   Service service);

  // Whether `base_url` may be called: InvalidSpec when it is not an https
  // URL, EndpointNotAllowed when its host is not on the allowlist. send()
  // checks this too; callers that make several requests check first so that
  // none is made.
  Result<Ok, IbmError> check_allowed(const std::string& base_url, Service service) const;

  const HostAllowlist& allowlist() const { return allowlist_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

  // Closes idle connections; later requests fail.
  void shutdown();

 private:
  Result<std::shared_ptr<net::HttpClient>, IbmError> client_for(const net::Url& url,
                                                                Service service);

  boost::asio::any_io_executor executor_;
  HostAllowlist allowlist_;
  GatewayOptions options_;
  HostRateLimiter limiter_;
  std::map<std::string, std::shared_ptr<net::HttpClient>, std::less<>> clients_;  // by origin
  bool shut_down_ = false;
};

// "IAM" or "Monitoring", as messages name the service.
std::string_view service_name(Service service);

}  // namespace sto::ibm
