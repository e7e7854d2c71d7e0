#include "ibm/http_gateway.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "common/secure_string.h"
#include "ibm/client_pool.h"
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

bool is_authorization(std::string_view name) {
  constexpr std::string_view kName = "authorization";
  return name.size() == kName.size() &&
         std::equal(name.begin(), name.end(), kName.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// Clears what a request may carry of credentials (IAM's body holds the API
// key, Monitoring's Authorization header an access token) when it goes.
class WipeRequest {
 public:
  explicit WipeRequest(net::HttpRequest& request) : request_(request) {}
  ~WipeRequest() {
    cleanse(request_.body);
    for (auto& header : request_.headers) {
      if (is_authorization(header.name)) cleanse(header.value);
    }
  }
  WipeRequest(const WipeRequest&) = delete;
  WipeRequest& operator=(const WipeRequest&) = delete;

 private:
  net::HttpRequest& request_;
};

}  // namespace

std::string_view service_name(Service service) {
  return service == Service::Iam ? "IAM" : "Monitoring";
}

Result<std::shared_ptr<HttpGateway>, std::string> HttpGateway::create(
    boost::asio::any_io_executor executor, HostAllowlist allowlist, GatewayOptions options) {
  // The one TLS context of every IBM Cloud client, built (and its settings
  // checked) once, at start-up.
  auto tls = net::TlsContext::create(options.tls);
  if (!tls) return fail("TLS settings for IBM Cloud: " + tls.error().message);
  return std::make_shared<HttpGateway>(std::move(executor), std::move(allowlist),
                                       std::move(options), std::move(tls).value());
}

HttpGateway::HttpGateway(boost::asio::any_io_executor executor, HostAllowlist allowlist,
                         GatewayOptions options, std::shared_ptr<net::TlsContext> tls)
    : executor_(std::move(executor)),
      allowlist_(std::move(allowlist)),
      options_(std::move(options)),
      limiter_(options_.rate),
      tls_(std::move(tls)) {
  // The CA and client key PEMs are in the context now; no copy is kept.
  cleanse(options_.tls.client_key_pem);
  ClientPool::Factory factory = [executor = executor_, tls = tls_, client = client_options(options_),
                                 proxy = options_.proxy,
                                 connect_to = options_.connect_to](const net::Url& url) {
    net::ClientOptions for_origin = client;
    for_origin.proxy = proxy.for_host(url.host, url.port);
    if (const auto* rule = net::find_connect_to(connect_to, url)) {
      for_origin.connect_host = rule->to_host;
      for_origin.connect_port = rule->to_port;
    }
    return net::HttpClient::create(executor, url, tls, for_origin);
  };
  ClientPool::Options pool_options;
  pool_options.max_clients = options_.max_clients;
  pool_options.idle_timeout = options_.client_idle_timeout;
  pool_ = ClientPool::create(executor_, std::move(factory), pool_options);
}

HttpGateway::~HttpGateway() = default;

std::size_t HttpGateway::client_count() const { return pool_->size(); }
std::size_t HttpGateway::clients_in_use() const { return pool_->in_use(); }
bool HttpGateway::has_client(std::string_view origin) const { return pool_->contains(origin); }

boost::asio::awaitable<void> HttpGateway::maintain() {
  std::weak_ptr<ClientPool> pool = pool_;
  return ClientPool::run(pool);
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
    const std::string& base_url, net::HttpRequest request, Service service,
    const std::string& caller) {
  auto self = shared_from_this();
  WipeRequest wipe(request);
  const std::string service_text(service_name(service));
  if (auto allowed = check_allowed(base_url, service); !allowed) {
    co_return fail(std::move(allowed.error()));
  }
  auto url = net::Url::parse(base_url);
  if (shut_down_) {
    co_return fail(make_error(unavailable(service), "the operator is shutting down"));
  }
  const std::string origin = url->origin();
  if (auto wait = limiter_.backing_off(origin, caller)) {
    IbmError error = make_error(IbmErrorKind::RateLimited,
                                service_text + " at " + base_url + " asked to wait " +
                                    std::to_string(wait->count()) + "s (Retry-After)");
    error.retry_after = *wait;
    co_return fail(std::move(error));
  }
  // The pool's wait for a free client counts against the request's time.
  const auto deadline = std::chrono::steady_clock::now() + options_.request_timeout;
  auto lease = co_await pool_->acquire(*url, deadline);
  if (!lease) {
    const auto& error = lease.error();
    if (error.failure == ClientPool::Failure::ShutDown) {
      co_return fail(make_error(unavailable(service), "the operator is shutting down"));
    }
    co_return fail(make_error(unavailable(service),
                              service_text + " at " + origin + ": " + error.message));
  }
  net::HttpClient& http = lease->client();

  co_await limiter_.acquire(origin);
  request.timeout = options_.request_timeout;
  auto response = co_await http.send(request);
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
        limiter_.back_off(origin, caller, *wait);
      }
    }
  }
  co_return std::move(response).value();
}

void HttpGateway::shutdown() {
  shut_down_ = true;
  pool_->shutdown();
}

}  // namespace sto::ibm
