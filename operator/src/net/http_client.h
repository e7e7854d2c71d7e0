// HttpClient: the one HTTP/1.1 client of the operator, over TCP or TLS.
//
// One client per origin (scheme://host:port). It keeps idle keep-alive
// connections for reuse, puts a deadline on every operation, verifies the
// server's certificate and host name (or IP address) by default, and reports
// failures as values. Bodies can be read whole (send) or as a stream (open),
// the latter for long-running watch responses.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "net/proxy.h"

namespace sto::net {

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;    // host name or IP address (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string path;  // path and query, "/" when absent

  // Parses an absolute http(s) URL; the error names what is wrong.
  static Result<Url, std::string> parse(std::string_view text);
  // "https://host:port" (IPv6 in brackets), no path.
  std::string origin() const;
  // Value for the Host header: host, with the port unless it is the default.
  std::string host_header() const;
  bool tls() const { return scheme == "https"; }
};

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// Case-insensitive header lookup; the first match.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";  // path and query
  Headers headers;
  std::string body;
  // Deadline for the whole exchange (send); for open() it covers the response
  // head only.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  std::optional<std::string_view> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

enum class NetErrorKind {
  InvalidRequest,  // the request could not be sent as given
  Resolve,         // name resolution failed
  Connect,         // TCP connect failed or was refused
  Tls,             // TLS handshake or certificate verification failed
  Timeout,         // a deadline passed
  Closed,          // the peer closed the connection mid-exchange
  Protocol,        // the peer did not speak valid HTTP/1.1
  TooLarge,        // the response exceeded the configured body limit
  Cancelled,       // the operation was cancelled (shutdown)
  Proxy,           // the proxy refused the tunnel (CONNECT answered other than 2xx)
};

struct NetError {
  NetErrorKind kind;
  std::string message;
};

std::string_view to_string(NetErrorKind kind);

struct TlsConfig {
  bool verify_peer = true;       // false only for an explicit insecure setting
  bool use_system_store = true;  // system CAs plus SSL_CERT_FILE / SSL_CERT_DIR
  std::string ca_pem;            // additional trusted CAs (PEM)
  std::string server_name;       // name to verify and send as SNI instead of the host
  std::string client_cert_pem;   // client certificate chain (PEM), optional
  std::string client_key_pem;    // its private key (PEM)
};

// A TLS client setup (trust store, verification mode, client certificate)
// built once and shared by any number of HttpClients: an OpenSSL context that
// holds the system CA bundle takes most of a MiB, so clients of many origins
// must not each build their own. SNI and the host name (or IP address) to
// verify are set per connection from the client's origin, or from
// TlsConfig::server_name when it is given.
class TlsContext {
 public:
  static Result<std::shared_ptr<TlsContext>, NetError> create(const TlsConfig& config);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool verify_peer() const { return verify_peer_; }
  const std::string& server_name() const { return server_name_; }

  // How many TlsContexts exist in this process right now.
  static std::size_t live_count();

  struct Native;  // the OpenSSL context, for the client's implementation
  Native& native() { return *native_; }

 private:
  TlsContext();
  std::unique_ptr<Native> native_;
  bool verify_peer_ = true;
  std::string server_name_;
};

struct ClientOptions {
  // Deadline for name resolution and TCP connect together, and then again
  // for the TLS handshake.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::size_t max_idle_connections = 32;
  // Most exchanges (send) under way at once, 0 for no limit; more wait for
  // one to end, within their own timeout. Streams (open) do not count.
  std::size_t max_exchanges = 0;
  std::size_t max_body_bytes = 64u * 1024 * 1024;
  std::string user_agent = "sysdig-token-operator";
  // When set, connections go to this host and port instead of the origin's;
  // the Host header, SNI and certificate verification still name the origin
  // (see net/connect_to.h).
  std::string connect_host;
  std::uint16_t connect_port = 0;
  // Connect through this HTTP proxy: a CONNECT tunnel to the origin (for
  // http:// origins too), then TLS with the origin as usual. The proxy's
  // answer to CONNECT counts against connect_timeout.
  std::optional<Proxy> proxy;
};

// A response whose body is read incrementally (chunked or sized).
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual const Headers& headers() const = 0;
  // Next piece of the body; an empty view means the body ended. A read that
  // waits longer than idle_timeout fails with Timeout.
  virtual boost::asio::awaitable<Result<std::string_view, NetError>> read_some(
      std::chrono::milliseconds idle_timeout) = 0;
  // Abort the stream from another coroutine (for example on shutdown).
  virtual void cancel() = 0;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;

  static Result<std::shared_ptr<HttpClient>, NetError> create(boost::asio::any_io_executor executor,
                                                              const Url& origin,
                                                              const TlsConfig& tls,
                                                              const ClientOptions& options = {});

  // A client that uses a shared TLS context (which may be null for an
  // http:// origin).
  static Result<std::shared_ptr<HttpClient>, NetError> create(boost::asio::any_io_executor executor,
                                                              const Url& origin,
                                                              std::shared_ptr<TlsContext> tls,
                                                              const ClientOptions& options = {});

  virtual const Url& origin() const = 0;
  // The TLS context its connections use (null for http://).
  virtual const TlsContext* tls_context() const = 0;
  // The request is taken by reference (GCC 12 mishandles class-type prvalue
  // arguments of coroutines, PR 100611): co_await the call at once.
  virtual boost::asio::awaitable<Result<HttpResponse, NetError>> send(
      const HttpRequest& request) = 0;
  virtual boost::asio::awaitable<Result<std::unique_ptr<ResponseStream>, NetError>> open(
      const HttpRequest& request) = 0;
  // Close idle connections and fail further requests with Cancelled.
  // Requests already under way finish.
  virtual void shutdown() = 0;
  // Idle keep-alive connections held for reuse.
  virtual std::size_t idle_connections() const = 0;
};

}  // namespace sto::net
