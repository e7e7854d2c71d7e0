#include "ibm/http_gateway.h"

#include <utility>

#include "net/retry_after.h"

namespace sto::ibm {
namespace {

IbmErrorKind unavailable(Service service) {
  return service == Service::Iam ? IbmErrorKind::IAMUnavailable
                                 : IbmErrorKind::MonitoringUnavailable;
}

net::ClientOptions client_options(const GatewayOptions& options) {
  net::ClientOptions out;
  out.connect_timeout = options.connect_timeout;
  out.max_body_bytes = options.max_response_bytes;
  out.max_idle_connections = 8;
  return out;
}

}  // namespace

std::string_view service_name(Service service) {
  return service == Service::Iam ? "IAM" : "Monitoring";
}

Result<std::shared_ptr<HttpGateway>, std::string> HttpGateway::create(
    boost::asio::any_io_executor executor, HostAllowlist allowlist, GatewayOptions options) {
  // Building a client checks the TLS settings once, at start-up, rather than
  // at the first request of every origin.
  auto probe_url = net::Url::parse("https://localhost");
  auto probe = net::HttpClient::create(executor, *probe_url, options.tls, client_options(options));
  if (!probe) return fail("TLS settings for IBM Cloud: " + probe.error().message);
  return std::make_shared<HttpGateway>(std::move(executor), std::move(allowlist),
                                       std::move(options));
}

HttpGateway::HttpGateway(boost::asio::any_io_executor executor, HostAllowlist allowlist,
                         GatewayOptions options)
    : executor_(std::move(executor)),
      allowlist_(std::move(allowlist)),
      options_(std::move(options)),
      limiter_(options_.rate) {}

Result<std::shared_ptr<net::HttpClient>, IbmError> HttpGateway::client_for(const net::Url& url,
                                                                           Service service) {
  const std::string origin = url.origin();
  if (auto it = clients_.find(origin); it != clients_.end()) return it->second;
  auto created = net::HttpClient::create(executor_, url, options_.tls, client_options(options_));
  if (!created) {
    return fail(make_error(unavailable(service), std::string(service_name(service)) + " at " +
                                                     origin + ": " + created.error().message));
  }
  clients_.emplace(origin, *created);
  return std::move(created).value();
}

Result<Ok, IbmError> HttpGateway::check_allowed(const std::string& base_url,
                                                Service service) const {
  const std::string service_text(service_name(service));
  auto url = net::Url::parse(base_url);
  if (!url || !url->tls()) {
    return fail(make_error(IbmErrorKind::InvalidSpec,
                           service_text + " endpoint \"" + base_url + "\" is not an https URL"));
  }
  if (!allowlist_.allows(url->host)) {
    return fail(make_error(IbmErrorKind::EndpointNotAllowed,
                           service_text + " host \"" + url->host +
                               "\" is not on the operator's allowed hosts (--allowed-hosts)"));
  }
  return Ok{};
}

boost::asio::awaitable<Result<net::HttpResponse, IbmError>> HttpGateway::send(
    const std::string& base_url, net::HttpRequest request, Service service) {
  const std::string service_text(service_name(service));
  if (auto allowed = check_allowed(base_url, service); !allowed) {
    co_return fail(std::move(allowed.error()));
  }
  auto url = net::Url::parse(base_url);
  if (shut_down_) {
    co_return fail(make_error(unavailable(service), "the operator is shutting down"));
  }
  const std::string origin = url->origin();
  if (auto wait = limiter_.backing_off(origin)) {
    IbmError error = make_error(IbmErrorKind::RateLimited,
                                service_text + " at " + base_url + " asked to wait " +
                                    std::to_string(wait->count()) + "s (Retry-After)");
    error.retry_after = *wait;
    co_return fail(std::move(error));
  }
  auto client = client_for(*url, service);
  if (!client) co_return fail(std::move(client.error()));
  std::shared_ptr<net::HttpClient> http = std::move(client).value();

  co_await limiter_.acquire(origin);
  request.timeout = options_.request_timeout;
  auto response = co_await http->send(std::move(request));
  if (options_.on_response) options_.on_response(service, response ? response->status : 0);
  if (!response) {
    const auto& error = response.error();
    co_return fail(make_error(unavailable(service), service_text + " at " + base_url + ": " +
                                                        std::string(net::to_string(error.kind)) +
                                                        ": " + error.message));
  }
  if (response->status == 429 || response->status >= 500) {
    if (auto header = response->header("Retry-After")) {
      if (auto wait = net::parse_retry_after(*header, std::chrono::system_clock::now())) {
        limiter_.back_off(origin, *wait);
      }
    }
  }
  co_return std::move(response).value();
}

void HttpGateway::shutdown() {
  shut_down_ = true;
  for (auto& [origin, client] : clients_) client->shutdown();
}

}  // namespace sto::ibm
