#include "server/http_server.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "server/metrics.h"

namespace sto::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
// After an error response, how much of the rest of the request is read and
// dropped (so that closing does not reset the connection before the client
// reads the response), and for how long at most.
constexpr std::size_t kLingerBytes = 256 * 1024;
constexpr std::chrono::milliseconds kLingerTime = 2s;

bool is_hostname(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || (c == '-' && label > 0);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && host.back() != '-';
}

std::string endpoint_string(const tcp::endpoint& ep) {
  auto addr = ep.address();
  std::string out = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return out + ":" + std::to_string(ep.port());
}

enum class Route { None, Metrics, Healthz, Readyz };

}  // namespace

// ---------------------------------------------------------------- addresses

std::string BindAddress::to_string() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

Result<std::optional<BindAddress>, std::string> parse_bind_address(std::string_view text,
                                                                   std::string_view flag) {
  auto bad = [&](const std::string& why) {
    std::string msg = flag.empty() ? std::string() : std::string(flag) + ": ";
    msg += "\"" + std::string(text) + "\" is not a valid listen address: " + why +
           " (want HOST:PORT, :PORT, or 0 to disable)";
    return fail(std::move(msg));
  };
  if (text == "0") return std::optional<BindAddress>{};
  if (text.empty()) return bad("it is empty");
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("it has no port");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);

  BindAddress out;
  if (host.starts_with('[')) {
    if (host.size() < 2 || !host.ends_with(']')) return bad("unbalanced brackets");
    std::string inner(host.substr(1, host.size() - 2));
    boost::system::error_code ec;
    asio::ip::make_address_v6(inner, ec);
    if (ec) return bad("\"" + inner + "\" is not an IPv6 address");
    out.host = std::move(inner);
  } else if (host.find_first_of(":[]") != std::string_view::npos) {
    return bad("an IPv6 address needs brackets, as in [::1]:8080");
  } else if (!host.empty()) {
    bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
      return c == '.' || std::isdigit(static_cast<unsigned char>(c));
    });
    boost::system::error_code ec;
    if (numeric) {
      asio::ip::make_address_v4(std::string(host), ec);
      if (ec) return bad("\"" + std::string(host) + "\" is not an IPv4 address");
    } else if (!is_hostname(host)) {
      return bad("\"" + std::string(host) + "\" is not a host name or IP address");
    }
    out.host = std::string(host);
  }

  if (port.empty()) return bad("it has no port");
  if (!std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return bad("port \"" + std::string(port) + "\" is not a number");
  if (port.size() > 5 || std::stoul(std::string(port)) > 65535)
    return bad("port " + std::string(port) + " is out of range (0-65535)");
  out.port = static_cast<std::uint16_t>(std::stoul(std::string(port)));
  return std::optional<BindAddress>{std::move(out)};
}

// ---------------------------------------------------------------- server

namespace {

using Clock = std::chrono::steady_clock;

// Where a connection is, for choosing one to evict at the cap.
enum class Phase {
  Waiting,     // for a request, or reading one: the client's turn
  Responding,  // writing a response: the server's turn
  Closing,     // after an error response, draining before the close
};

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  // With TLS: the TLS layer over `stream` (whose deadlines still apply).
  // The identity the connection started with (a reload does not touch it).
  std::shared_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<asio::ssl::stream<beast::tcp_stream&>> tls;
  Phase phase = Phase::Waiting;
  Clock::time_point since = Clock::now();  // when the phase began

  void enter(Phase p) {
    phase = p;
    since = Clock::now();
  }
  void close() {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
  }
};

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// The response status for a request that could not be read, or none when the
// connection just ended (closed, reset, timed out).
std::optional<http::status> read_error_status(const boost::system::error_code& ec) {
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) return std::nullopt;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
    return http::status::request_header_fields_too_large;
  if (ec == http::error::body_limit) return http::status::payload_too_large;
  if (ec.category() == http::make_error_code(http::error::bad_method).category())
    return http::status::bad_request;
  return std::nullopt;
}

// The token of "Authorization: Bearer TOKEN" (scheme case-insensitive), or
// empty when there is no such header.
std::string bearer_token(const Request& req) {
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i]) return {};
  }
  v.remove_prefix(scheme.size());
  if (v.front() != ' ' && v.front() != '\t') return {};
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return std::string(v);
}

Response text_response(http::status status, std::string body, unsigned version) {
  Response res{status, version};
  res.set(http::field::content_type, kTextContentType);
  res.set("X-Content-Type-Options", "nosniff");
  res.body() = std::move(body);
  return res;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor executor, ServerOptions options)
      : ex(std::move(executor)), opt(std::move(options)), retry_timer(ex) {}

  asio::any_io_executor ex;
  ServerOptions opt;
  const Registry* registry = nullptr;
  bool health = false;
  ReadinessCheck readiness;
  MetricsAuthorizer authorizer;
  std::shared_ptr<asio::ssl::context> tls;

  std::optional<tcp::acceptor> acceptor;
  asio::steady_timer retry_timer;
  tcp::endpoint local;
  bool started = false;
  bool stopped = false;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> connections;
  std::uint64_t evicted = 0;
  std::uint64_t refused = 0;

  void report(const std::string& message) const {
    if (opt.on_error) opt.on_error(message);
  }

  boost::system::error_code listen(const tcp::endpoint& ep, bool dual_stack) {
    boost::system::error_code ec;
    tcp::acceptor a(ex);
    a.open(ep.protocol(), ec);
    if (!ec && dual_stack) a.set_option(asio::ip::v6_only(false), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) local = a.local_endpoint(ec);
    if (!ec) acceptor.emplace(std::move(a));
    return ec;
  }

  Result<Ok, std::string> start(const BindAddress& address) {
    std::string where = "listen on " + address.to_string() + ": ";
    if (started || stopped) return fail(where + "the server was already started");
    boost::system::error_code ec;
    if (address.host.empty()) {
      // All interfaces: IPv6 and IPv4 on one socket, or IPv4 alone where the
      // host has no IPv6.
      ec = listen(tcp::endpoint(tcp::v6(), address.port), true);
      if (ec == asio::error::address_family_not_supported ||
          ec == boost::system::errc::address_not_available ||
          ec == asio::error::invalid_argument)
        ec = listen(tcp::endpoint(tcp::v4(), address.port), false);
    } else {
      auto ip = asio::ip::make_address(address.host, ec);
      std::vector<tcp::endpoint> candidates;
      if (!ec) {
        candidates.emplace_back(ip, address.port);
      } else {
        tcp::resolver resolver(ex);
        auto results = resolver.resolve(address.host, std::to_string(address.port),
                                        tcp::resolver::passive, ec);
        if (ec) return fail(where + "cannot resolve \"" + address.host + "\": " + ec.message());
        for (const auto& entry : results) candidates.push_back(entry.endpoint());
        if (candidates.empty()) return fail(where + "\"" + address.host + "\" has no address");
        // Like Go's net.Listen: an IPv4 address of the name first.
        std::stable_partition(candidates.begin(), candidates.end(),
                              [](const tcp::endpoint& e) { return e.address().is_v4(); });
      }
      for (const auto& ep : candidates) {
        ec = listen(ep, false);
        if (!ec) break;
      }
    }
    if (ec) return fail(where + ec.message());
    started = true;
    auto self = shared_from_this();
    asio::co_spawn(
        ex, [self]() -> asio::awaitable<void> { co_await self->accept_loop(); }, asio::detached);
    return Ok{};
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    registry = nullptr;
    readiness = nullptr;
    authorizer = nullptr;
    health = false;
    boost::system::error_code ignored;
    if (acceptor) acceptor->close(ignored);
    retry_timer.cancel();
    for (auto& [id, c] : connections) c->close();
  }

  // At the cap: closes the connection that matters least to make room for a
  // new one. In order: one draining after an error response, then the one
  // waiting longest for a request (idle, or sending one too slowly), then
  // one whose response has been stuck longest (past stalled_response).
  // False when every connection is busy answering.
  bool make_room() {
    auto now = Clock::now();
    auto rank = [&](const Connection& c) -> int {
      switch (c.phase) {
        case Phase::Closing:
          return 0;
        case Phase::Waiting:
          return 1;
        case Phase::Responding:
          return now - c.since >= opt.stalled_response ? 2 : -1;
      }
      return -1;
    };
    auto victim = connections.end();
    int victim_rank = -1;
    for (auto it = connections.begin(); it != connections.end(); ++it) {
      int r = rank(*it->second);
      if (r < 0) continue;
      if (victim == connections.end() || r < victim_rank ||
          (r == victim_rank && it->second->since < victim->second->since)) {
        victim = it;
        victim_rank = r;
      }
    }
    if (victim == connections.end()) return false;
    // Its coroutine ends on the aborted read or write; the entry goes now so
    // that the count is right for the next accept.
    victim->second->close();
    connections.erase(victim);
    ++evicted;
    return true;
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
      if (stopped || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        if (ec == asio::error::connection_aborted) continue;
        // Out of descriptors or memory: wait a little instead of spinning.
        report("accepting a connection on " + endpoint_string(local) + ": " + ec.message());
        retry_timer.expires_after(100ms);
        co_await retry_timer.async_wait(use_tuple);
        if (stopped) co_return;
        continue;
      }
      if (connections.size() >= opt.max_connections) {
        std::string limit = "connection limit (" + std::to_string(opt.max_connections) +
                            ") reached on " + endpoint_string(local);
        if (make_room()) {
          report(limit + ": closing the connections that wait longest for a request");
        } else {
          ++refused;
          report(limit + " and every connection is being answered: refusing new ones");
          boost::system::error_code ignored;
          socket.close(ignored);
          continue;
        }
      }
      auto conn = std::make_shared<Connection>(std::move(socket));
      std::uint64_t id = next_id++;
      connections.emplace(id, conn);
      auto self = shared_from_this();
      // An exception ends this connection (in the completion handler, so that
      // no co_await sits in a try block), never the server.
      asio::co_spawn(
          ex, [self, conn]() -> asio::awaitable<void> { co_await self->serve(*conn); },
          [self, conn, id](std::exception_ptr) {
            boost::system::error_code ignored;
            conn->stream.socket().close(ignored);
            self->connections.erase(id);
          });
    }
  }

  asio::awaitable<void> serve(Connection& c) {
    if (!tls) {
      co_await serve_requests(c, c.stream);
      co_return;
    }
    c.tls_context = tls;
    c.tls = std::make_unique<asio::ssl::stream<beast::tcp_stream&>>(c.stream, *c.tls_context);
    c.stream.expires_after(std::min(opt.first_request_timeout, opt.timeout));
    auto [hec] = co_await c.tls->async_handshake(asio::ssl::stream_base::server, use_tuple);
    // A failed handshake (plain HTTP on the TLS port, an untrusting client)
    // ends the connection quietly: it is the client's problem.
    if (hec || stopped) co_return;
    co_await serve_requests(c, *c.tls);
  }

  // The bearer-token check of a /metrics request: none when the request may
  // be served, else the status to deny it with.
  asio::awaitable<std::optional<http::status>> check_access(const Request& req) {
    std::optional<http::status> none;
    bool read = req.method() == http::verb::get || req.method() == http::verb::head;
    if (!authorizer || !read || route_of(req.target()) != Route::Metrics) co_return none;
    std::string token = bearer_token(req);
    // A copy: stop() drops the original while the review runs.
    MetricsAuthorizer check = authorizer;
    AuthDecision decision = co_await check(token);
    std::fill(token.begin(), token.end(), '\0');
    switch (decision) {
      case AuthDecision::Allowed:
        co_return none;
      case AuthDecision::Forbidden:
        co_return http::status::forbidden;
      case AuthDecision::Unauthenticated:
        break;
    }
    co_return http::status::unauthorized;
  }

  template <typename Stream>
  asio::awaitable<void> serve_requests(Connection& c, Stream& s) {
    beast::flat_buffer buffer(opt.max_header_bytes + opt.max_body_bytes + 1024);
    bool first = true;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(
          std::min<std::size_t>(opt.max_header_bytes, UINT32_MAX)));
      parser.body_limit(opt.max_body_bytes);
      c.enter(Phase::Waiting);
      c.stream.expires_after(first ? std::min(opt.first_request_timeout, opt.timeout)
                                   : opt.timeout);
      first = false;
      auto [ec, n] = co_await http::async_read(s, buffer, parser, use_tuple);
      if (stopped) co_return;
      if (ec) {
        auto status = read_error_status(ec);
        if (!status) co_return;
        c.enter(Phase::Closing);
        std::string text = std::string(http::obsolete_reason(*status)) + "\n";
        Response res = text_response(*status, std::move(text), 11);
        res.keep_alive(false);
        res.prepare_payload();
        c.stream.expires_after(opt.timeout);
        auto [wec, wn] = co_await http::async_write(s, res, use_tuple);
        if (!wec && !stopped) co_await linger(c);
        co_return;
      }

      // The server's turn from here (the access review, then the answer).
      c.enter(Phase::Responding);
      const Request& req = parser.get();
      auto denied = co_await check_access(req);
      if (stopped) co_return;
      Response res = denied ? deny(req, *denied) : respond(req);
      // From here the client's reading paces the response (a slow render
      // above held the whole loop, not this connection).
      c.enter(Phase::Responding);
      bool keep_alive = res.keep_alive();
      c.stream.expires_after(opt.timeout);
      auto [wec, wn] = co_await http::async_write(s, res, use_tuple);
      if (wec || stopped) co_return;
      if (!keep_alive) {
        boost::system::error_code ignored;
        c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

  // Half-closes and reads what is left of a rejected request for a moment,
  // so the client sees the error response rather than a reset.
  asio::awaitable<void> linger(Connection& c) {
    boost::system::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    c.stream.expires_after(std::min<std::chrono::milliseconds>(opt.timeout, kLingerTime));
    std::array<char, 4096> scratch;
    std::size_t drained = 0;
    while (drained < kLingerBytes && !stopped) {
      auto buf = asio::buffer(scratch);
      auto [ec, n] = co_await c.stream.async_read_some(buf, use_tuple);
      if (ec) break;
      drained += n;
    }
  }

  Route route_of(std::string_view target) const {
    std::string_view path = target.substr(0, target.find('?'));
    if (path == "/metrics" && registry) return Route::Metrics;
    if (path == "/healthz" && health) return Route::Healthz;
    if (path == "/readyz" && health) return Route::Readyz;
    return Route::None;
  }

  Response deny(const Request& req, http::status status) {
    Response res = text_response(
        status,
        status == http::status::forbidden ? "403 forbidden\n" : "401 unauthorized\n",
        req.version());
    if (status == http::status::unauthorized)
      res.set(http::field::www_authenticate, "Bearer realm=\"metrics\"");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    if (req.method() == http::verb::head) {
      auto size = res.body().size();
      res.body().clear();
      res.content_length(size);
    } else {
      res.prepare_payload();
    }
    return res;
  }

  Response respond(const Request& req) {
    unsigned version = req.version();
    Response res;
    Route route = route_of(req.target());
    bool head = req.method() == http::verb::head;
    if (route == Route::None) {
      res = text_response(http::status::not_found, "404 page not found\n", version);
    } else if (req.method() != http::verb::get && !head) {
      res = text_response(http::status::method_not_allowed, "405 method not allowed\n", version);
      res.set(http::field::allow, "GET, HEAD");
    } else {
      try {
        switch (route) {
          case Route::Metrics:
            res = text_response(http::status::ok, registry->render(), version);
            res.set(http::field::content_type, kMetricsContentType);
            break;
          case Route::Healthz:
            res = text_response(http::status::ok, "ok", version);
            break;
          case Route::Readyz: {
            // A copy: the check may call stop(), which drops the original.
            ReadinessCheck check = readiness;
            ReadyStatus status = check ? check() : ReadyStatus{};
            if (status.ready) {
              res = text_response(http::status::ok, "ok", version);
            } else {
              res = text_response(http::status::service_unavailable,
                                  status.reason.empty() ? "not ready" : status.reason, version);
            }
            break;
          }
          case Route::None:
            break;
        }
      } catch (const std::exception& e) {
        report(std::string("serving ") + std::string(req.target()) + ": " + e.what());
        res = text_response(http::status::internal_server_error, "500 internal server error\n",
                            version);
      }
      res.set(http::field::cache_control, "no-store");
    }
    res.keep_alive(req.keep_alive());
    if (head) {
      auto size = res.body().size();
      res.body().clear();
      res.content_length(size);
    } else {
      res.prepare_payload();
    }
    return res;
  }
};

HttpServer::HttpServer(asio::any_io_executor executor, ServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

HttpServer::~HttpServer() { impl_->stop(); }

void HttpServer::serve_metrics(const Registry& registry) { impl_->registry = &registry; }

void HttpServer::serve_health(ReadinessCheck readiness) {
  impl_->health = true;
  impl_->readiness = std::move(readiness);
}

void HttpServer::require_authorization(MetricsAuthorizer authorizer) {
  impl_->authorizer = std::move(authorizer);
}

void HttpServer::use_tls(std::shared_ptr<asio::ssl::context> context) {
  impl_->tls = std::move(context);
}

Result<Ok, std::string> HttpServer::start(const BindAddress& address) {
  return impl_->start(address);
}

void HttpServer::stop() { impl_->stop(); }

std::uint16_t HttpServer::port() const { return impl_->started ? impl_->local.port() : 0; }

std::string HttpServer::local_address() const {
  return impl_->started ? endpoint_string(impl_->local) : std::string();
}

std::size_t HttpServer::connections() const { return impl_->connections.size(); }

std::uint64_t HttpServer::evicted() const { return impl_->evicted; }

std::uint64_t HttpServer::refused() const { return impl_->refused; }

}  // namespace sto::server
