#include "net/http_client.h"

#include <atomic>
#include <deque>
#include <variant>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/secure_string.h"

namespace sto::net {

struct TlsContext::Native {
  boost::asio::ssl::context context{boost::asio::ssl::context::tls_client};
};

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

NetError classify(const error_code& ec, std::string_view during) {
  std::string what = std::string(during) + ": " + ec.message();
  if (ec == beast::error::timeout)
    return {NetErrorKind::Timeout, std::string(during) + ": timed out"};
  if (ec == asio::error::operation_aborted) return {NetErrorKind::Cancelled, what};
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
      ec == ssl::error::stream_truncated) {
    return {NetErrorKind::Closed, what};
  }
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow) {
    return {NetErrorKind::TooLarge, what};
  }
  if (ec.category() == make_error_code(http::error::body_limit).category())
    return {NetErrorKind::Protocol, what};
  if (ec.category() == asio::error::get_ssl_category()) return {NetErrorKind::Tls, what};
  return {NetErrorKind::Connect, what};
}

// Overwrites everything a read buffer has held (answers may carry tokens).
void wipe(beast::flat_buffer& buffer) {
  buffer.clear();
  auto area = buffer.prepare(buffer.capacity());
  if (area.size() > 0) OPENSSL_cleanse(area.data(), area.size());
  buffer.clear();
}

// One connection, plain or TLS, with its read buffer.
struct Connection {
  std::variant<beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  bool reused = false;
  bool keep_alive = true;  // of the last exchange

  explicit Connection(beast::tcp_stream s) : stream(std::move(s)) {}
  Connection(beast::tcp_stream s, ssl::context& ctx)
      : stream(std::in_place_index<1>, std::move(s), ctx) {}
  ~Connection() { wipe(buffer); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  beast::tcp_stream& tcp() {
    if (auto* p = std::get_if<0>(&stream)) return *p;
    return beast::get_lowest_layer(std::get<1>(stream));
  }
  void expires_after(std::chrono::milliseconds d) { tcp().expires_after(d); }
  void close() {
    error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp().socket().close(ec);
  }
};

template <typename F>
auto with_stream(Connection& c, F&& f) {
  return std::visit([&](auto& s) { return f(s); }, c.stream);
}

http::verb parse_verb(const std::string& method) { return http::string_to_verb(method); }

Headers to_headers(const http::fields& fields) {
  Headers out;
  for (const auto& f : fields)
    out.push_back({std::string(f.name_string()), std::string(f.value())});
  return out;
}

class StreamImpl;

std::atomic<std::size_t> live_tls_contexts{0};

class ClientImpl final : public HttpClient, public std::enable_shared_from_this<ClientImpl> {
 public:
  ClientImpl(asio::any_io_executor ex, Url origin, std::shared_ptr<TlsContext> tls,
             ClientOptions options)
      : executor_(std::move(ex)),
        origin_(std::move(origin)),
        options_(std::move(options)),
        tls_(std::move(tls)) {}

  const Url& origin() const override { return origin_; }
  const TlsContext* tls_context() const override { return tls_.get(); }
  std::size_t idle_connections() const override { return idle_.size(); }

  asio::awaitable<Result<HttpResponse, NetError>> send(const HttpRequest& request) override {
    auto self = shared_from_this();
    const auto deadline = std::chrono::steady_clock::now() + request.timeout;
    auto slot = co_await take_slot(deadline);
    if (!slot) co_return fail(std::move(slot.error()));
    ExchangeSlot held(*this, slot.value());
    for (int attempt = 0;; ++attempt) {
      auto conn = co_await acquire(attempt > 0);
      if (!conn) co_return fail(std::move(conn.error()));
      std::unique_ptr<Connection> c = std::move(conn.value());
      bool reused = c->reused;
      auto result = co_await exchange(*c, request, deadline);
      if (result.ok()) {
        if (c->keep_alive) release(std::move(c));
        co_return std::move(result.value());
      }
      // A kept-alive connection the server closed meanwhile: retry once on a
      // fresh connection.
      if (reused && attempt == 0 && result.error().kind == NetErrorKind::Closed) continue;
      co_return fail(std::move(result.error()));
    }
  }

  asio::awaitable<Result<std::unique_ptr<ResponseStream>, NetError>> open(
      const HttpRequest& request) override;

  void shutdown() override {
    shut_down_ = true;
    for (auto& c : idle_) c->close();
    idle_.clear();
    for (auto& w : waiters_) w->timer.cancel();
  }

  // Exchange slots --------------------------------------------------------
  // With max_exchanges set, an exchange takes a slot first; one that ends
  // hands its slot to the oldest waiter, so waiters go first come, first
  // served and the number of open connections stays within the limit plus
  // the streams.

  struct Waiter {
    explicit Waiter(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool granted = false;
  };

  // Releases the slot (if one was taken) when the exchange ends, however it ends.
  struct ExchangeSlot {
    ExchangeSlot(ClientImpl& c, bool taken) : client(c), taken(taken) {}
    ~ExchangeSlot() {
      if (taken) client.give_slot();
    }
    ExchangeSlot(const ExchangeSlot&) = delete;
    ExchangeSlot& operator=(const ExchangeSlot&) = delete;
    ClientImpl& client;
    bool taken;
  };

  // True when a slot was taken, false when there is no limit.
  asio::awaitable<Result<bool, NetError>> take_slot(std::chrono::steady_clock::time_point deadline) {
    if (options_.max_exchanges == 0) co_return false;
    if (shut_down_) co_return fail(NetError{NetErrorKind::Cancelled, "client is shut down"});
    if (exchanges_ < options_.max_exchanges && waiters_.empty()) {
      ++exchanges_;
      co_return true;
    }
    auto waiter = std::make_shared<Waiter>(executor_);
    waiter->timer.expires_at(deadline);
    waiters_.push_back(waiter);
    auto [ec] = co_await waiter->timer.async_wait(use_tuple);
    (void)ec;
    if (waiter->granted) co_return true;  // the slot was handed over
    std::erase(waiters_, waiter);
    if (shut_down_) co_return fail(NetError{NetErrorKind::Cancelled, "client is shut down"});
    co_return fail(NetError{NetErrorKind::Timeout,
                            "wait for a connection to " + origin_.origin() + ": timed out (" +
                                std::to_string(options_.max_exchanges) +
                                " requests under way)"});
  }

  void give_slot() {
    if (!waiters_.empty()) {
      auto next = std::move(waiters_.front());
      waiters_.pop_front();
      next->granted = true;
      next->timer.cancel();
      return;
    }
    --exchanges_;
  }

  // Connection pool -----------------------------------------------------

  asio::awaitable<Result<std::unique_ptr<Connection>, NetError>> acquire(bool fresh) {
    if (shut_down_) co_return fail(NetError{NetErrorKind::Cancelled, "client is shut down"});
    while (!fresh && !idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      if (c->tcp().socket().is_open()) {
        c->reused = true;
        co_return c;
      }
    }
    co_return co_await connect();
  }

  void release(std::unique_ptr<Connection> c) {
    if (shut_down_ || idle_.size() >= options_.max_idle_connections) {
      c->close();
      return;
    }
    // An idle connection holds no read buffer (it grows to 64 KiB on large
    // answers); with SSL_MODE_RELEASE_BUFFERS, OpenSSL's buffers go too.
    wipe(c->buffer);
    c->buffer.shrink_to_fit();
    idle_.push_back(std::move(c));
  }

  asio::awaitable<Result<std::unique_ptr<Connection>, NetError>> connect() {
    // One deadline covers name resolution and the TCP connect (and, through
    // a proxy, its answer to CONNECT): a resolver that never answers fails in
    // time like a connect that never completes.
    const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
    const auto& proxy = options_.proxy;
    // Through a proxy, the TCP connection is to the proxy; messages name it
    // (never with its credentials). Without one, connect_host (--connect-to)
    // may send it elsewhere than the origin.
    const bool redirected = !options_.connect_host.empty();
    const std::string& direct_host = redirected ? options_.connect_host : origin_.host;
    const std::uint16_t direct_port = redirected ? options_.connect_port : origin_.port;
    const std::string& host = proxy ? proxy->host : direct_host;
    const std::uint16_t port = proxy ? proxy->port : direct_port;
    const std::string peer =
        proxy ? "proxy " + proxy->display()
              : (redirected ? origin_.origin() + " (at " + host + ":" + std::to_string(port) + ")"
                            : origin_.origin());
    const std::string resolve_what = proxy ? "resolve proxy " + host : "resolve " + host;
    auto resolver = std::make_shared<tcp::resolver>(executor_);
    auto resolve_timed_out = std::make_shared<bool>(false);
    asio::steady_timer resolve_timer(executor_, deadline);
    resolve_timer.async_wait([resolver, resolve_timed_out](const error_code& ec) {
      if (ec) return;
      *resolve_timed_out = true;
      resolver->cancel();
    });
    const std::string service = std::to_string(port);
    auto [rec, endpoints] = co_await resolver->async_resolve(host, service, use_tuple);
    resolve_timer.cancel();
    if (rec && *resolve_timed_out) {
      co_return fail(NetError{NetErrorKind::Timeout, resolve_what + ": timed out"});
    }
    if (rec) co_return fail(NetError{NetErrorKind::Resolve, resolve_what + ": " + rec.message()});

    beast::tcp_stream stream(executor_);
    stream.expires_at(deadline);
    auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
    (void)ep;
    if (cec) {
      if (cec == beast::error::timeout) {
        co_return fail(NetError{NetErrorKind::Timeout, "connect to " + peer + ": timed out"});
      }
      co_return fail(NetError{NetErrorKind::Connect, "connect to " + peer + ": " + cec.message()});
    }
    if (proxy) {
      auto tunnel = co_await open_tunnel(stream, *proxy);
      if (!tunnel) co_return fail(std::move(tunnel.error()));
    }
    error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);

    if (!origin_.tls()) co_return std::make_unique<Connection>(std::move(stream));

    auto c = std::make_unique<Connection>(std::move(stream), tls_->native().context);
    auto& tls = std::get<1>(c->stream);
    const std::string& name = tls_->server_name().empty() ? origin_.host : tls_->server_name();
    SSL* handle = tls.native_handle();
    if (!is_ip_literal(name)) {
      if (!SSL_set_tlsext_host_name(handle, name.c_str())) {
        co_return fail(NetError{NetErrorKind::Tls, "cannot set SNI: " + openssl_errors()});
      }
    }
    if (tls_->verify_peer()) {
      X509_VERIFY_PARAM* param = SSL_get0_param(handle);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                   : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      if (ok != 1) co_return fail(NetError{NetErrorKind::Tls, "cannot verify host " + name});
    }
    c->expires_after(options_.connect_timeout);
    auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, use_tuple);
    if (hec) {
      std::string detail = hec.message();
      long verify = SSL_get_verify_result(handle);
      if (verify != X509_V_OK) detail = X509_verify_cert_error_string(verify);
      if (hec == beast::error::timeout) {
        co_return fail(NetError{NetErrorKind::Timeout,
                                "TLS handshake with " + origin_.origin() + ": timed out"});
      }
      co_return fail(
          NetError{NetErrorKind::Tls, "TLS handshake with " + origin_.origin() + ": " + detail});
    }
    co_return c;
  }

  // "host:port" as CONNECT names the origin (IPv6 in brackets), or where
  // connect_host sends it, as curl's --connect-to does through a proxy.
  std::string tunnel_authority() const {
    const bool redirected = !options_.connect_host.empty();
    const std::string& host = redirected ? options_.connect_host : origin_.host;
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return h + ":" + std::to_string(redirected ? options_.connect_port : origin_.port);
  }

  // Asks the proxy on `stream` for a tunnel to the origin (HTTP CONNECT) and
  // reads its answer, a head of at most 16 KiB, before the stream's deadline.
  // Every origin, http:// too, is reached through a tunnel.
  asio::awaitable<Result<Ok, NetError>> open_tunnel(beast::tcp_stream& stream,
                                                    const Proxy& proxy) {
    const std::string authority = tunnel_authority();
    const std::string what = "CONNECT " + authority + " through proxy " + proxy.display();
    std::string head = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority +
                       "\r\nUser-Agent: " + options_.user_agent + "\r\n";
    if (proxy.has_credentials()) {
      std::string authorization = proxy.authorization();
      head += "Proxy-Authorization: " + authorization + "\r\n";
      cleanse(authorization);
    }
    head += "\r\n";
    // The wire copy of the credentials is cleared when sent.
    CleanseOnExit wipe_head(head);
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(head), use_tuple);
    (void)wn;
    if (wec) co_return fail(classify(wec, "send " + what));

    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    // A 2xx answer to CONNECT has no body, whatever its headers say; the body
    // of any other answer is not needed.
    parser.skip(true);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
    (void)rn;
    if (rec) co_return fail(classify(rec, "read the answer to " + what));
    const unsigned status = parser.get().result_int();
    if (status >= 200 && status < 300) {
      // The origin speaks only after the client (TLS ClientHello, request).
      if (buffer.size() > 0) {
        co_return fail(
            NetError{NetErrorKind::Protocol, "proxy " + proxy.display() +
                                                 " sent data after its answer to CONNECT " +
                                                 authority});
      }
      co_return Ok{};
    }
    // The standard reason phrase, not the proxy's.
    const auto known = http::int_to_status(status);
    const std::string code =
        known == http::status::unknown
            ? std::to_string(status)
            : std::to_string(status) + " " + std::string(http::obsolete_reason(known));
    // 407 is the proxy's answer; some (tinyproxy 1.11) answer refused
    // credentials with 401, which an origin cannot send to CONNECT.
    if (status == 407 || status == 401) {
      co_return fail(NetError{
          NetErrorKind::Proxy,
          proxy.has_credentials()
              ? "proxy " + proxy.display() + " refused the credentials (" + code + ")"
              : "proxy " + proxy.display() + " requires authentication (" + code +
                    "): give the user name and password in the proxy URL"});
    }
    co_return fail(NetError{NetErrorKind::Proxy, "proxy " + proxy.display() + " answered " +
                                                     code + " to CONNECT " + authority});
  }

  static bool safe_token(std::string_view s) {
    return s.find_first_of("\r\n") == std::string_view::npos;
  }

  // The wire request, or nothing when the method, target or a header cannot
  // be sent as given (unknown method, CR/LF injection).
  std::optional<http::request<http::string_body>> build(const HttpRequest& r) {
    auto verb = parse_verb(r.method);
    if (verb == http::verb::unknown || r.target.empty() || r.target.front() != '/' ||
        r.target.find_first_of(" \r\n") != std::string::npos) {
      return std::nullopt;
    }
    http::request<http::string_body> req;
    req.method(verb);
    req.target(r.target);
    req.version(11);
    req.set(http::field::host, origin_.host_header());
    req.set(http::field::user_agent, options_.user_agent);
    for (const auto& h : r.headers) {
      if (h.name.empty() || !safe_token(h.name) || !safe_token(h.value)) return std::nullopt;
      req.set(h.name, h.value);
    }
    if (!r.body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      req.body() = r.body;
      req.prepare_payload();
    }
    return req;
  }

  static NetError invalid(const HttpRequest& r) {
    return {NetErrorKind::InvalidRequest,
            "invalid request: method \"" + r.method + "\" or its target or headers cannot be sent"};
  }

  // The deadline is the request's: a wait for a free exchange and an earlier
  // attempt count against it.
  asio::awaitable<Result<HttpResponse, NetError>> exchange(
      Connection& c, const HttpRequest& r, std::chrono::steady_clock::time_point deadline) {
    auto req = build(r);
    if (!req) co_return fail(invalid(r));
    // The wire copy of the body (it may carry an API key) is cleared when done.
    CleanseOnExit wipe_body(req->body());
    c.tcp().expires_at(deadline);
    auto [wec, wn] =
        co_await with_stream(c, [&](auto& s) { return http::async_write(s, *req, use_tuple); });
    (void)wn;
    if (wec) co_return fail(classify(wec, "send " + r.method + " " + origin_.origin()));

    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(64 * 1024);
    if (r.method == "HEAD") parser.skip(true);
    auto [rec, rn] = co_await with_stream(
        c, [&](auto& s) { return http::async_read(s, c.buffer, parser, use_tuple); });
    (void)rn;
    if (rec) co_return fail(classify(rec, "read response of " + r.method + " " + origin_.origin()));
    auto& msg = parser.get();
    c.keep_alive = msg.keep_alive();
    HttpResponse resp;
    resp.status = static_cast<int>(msg.result_int());
    resp.headers = to_headers(msg.base());
    resp.body = std::move(msg.body());
    wipe(c.buffer);
    if (!c.keep_alive) c.close();
    co_return resp;
  }

  asio::any_io_executor executor_;
  Url origin_;
  ClientOptions options_;
  std::shared_ptr<TlsContext> tls_;  // null for http://
  std::deque<std::unique_ptr<Connection>> idle_;
  std::size_t exchanges_ = 0;  // slots taken
  std::deque<std::shared_ptr<Waiter>> waiters_;
  bool shut_down_ = false;
};

class StreamImpl final : public ResponseStream {
 public:
  StreamImpl(std::unique_ptr<Connection> c,
             std::unique_ptr<http::response_parser<http::buffer_body>> p)
      : conn_(std::move(c)), parser_(std::move(p)) {
    status_ = static_cast<int>(parser_->get().result_int());
    headers_ = to_headers(parser_->get().base());
  }
  ~StreamImpl() override { conn_->close(); }

  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }

  asio::awaitable<Result<std::string_view, NetError>> read_some(
      std::chrono::milliseconds idle_timeout) override {
    if (parser_->is_done()) co_return std::string_view{};
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    conn_->expires_after(idle_timeout);
    auto [ec, n] = co_await with_stream(*conn_, [&](auto& s) {
      return http::async_read_some(s, conn_->buffer, *parser_, use_tuple);
    });
    (void)n;
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return fail(classify(ec, "read stream"));
    std::size_t got = chunk_.size() - body.size;
    if (got == 0 && !parser_->is_done()) {
      // Chunk boundaries or headers consumed without body bytes; read again.
      co_return co_await read_some(idle_timeout);
    }
    co_return std::string_view(chunk_.data(), got);
  }

  void cancel() override { conn_->close(); }

 private:
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  // One TLS record's worth: a long-lived stream (a watch) holds it for good.
  std::array<char, 16 * 1024> chunk_{};
  int status_ = 0;
  Headers headers_;
};

asio::awaitable<Result<std::unique_ptr<ResponseStream>, NetError>> ClientImpl::open(
    const HttpRequest& r) {
  auto self = shared_from_this();
  auto conn = co_await acquire(true);
  if (!conn) co_return fail(std::move(conn.error()));
  auto c = std::move(conn.value());
  auto req = build(r);
  if (!req) co_return fail(invalid(r));
  c->expires_after(r.timeout);
  auto [wec, wn] =
      co_await with_stream(*c, [&](auto& s) { return http::async_write(s, *req, use_tuple); });
  (void)wn;
  if (wec) co_return fail(classify(wec, "send " + r.method + " " + origin_.origin()));
  auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
  parser->body_limit(boost::none);
  parser->header_limit(64 * 1024);
  auto [rec, rn] = co_await with_stream(
      *c, [&](auto& s) { return http::async_read_header(s, c->buffer, *parser, use_tuple); });
  (void)rn;
  if (rec) co_return fail(classify(rec, "read response of " + r.method + " " + origin_.origin()));
  co_return std::unique_ptr<ResponseStream>(
      std::make_unique<StreamImpl>(std::move(c), std::move(parser)));
}

}  // namespace

TlsContext::TlsContext() : native_(std::make_unique<Native>()) { ++live_tls_contexts; }
TlsContext::~TlsContext() { --live_tls_contexts; }

std::size_t TlsContext::live_count() { return live_tls_contexts.load(); }

Result<std::shared_ptr<TlsContext>, NetError> TlsContext::create(const TlsConfig& tls) {
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->verify_peer_ = tls.verify_peer;
  out->server_name_ = tls.server_name;
  ssl::context& ctx = out->native_->context;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  // A connection between exchanges keeps no record buffers (about 34 KiB),
  // and the plaintext they held (tokens) is wiped before they are freed.
  SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_CLEANSE_PLAINTEXT);
  error_code ec;
  if (tls.verify_peer) {
    ctx.set_verify_mode(ssl::verify_peer, ec);
    if (tls.use_system_store) {
      // Honours SSL_CERT_FILE and SSL_CERT_DIR.
      SSL_CTX_set_default_verify_paths(ctx.native_handle());
    }
    if (!tls.ca_pem.empty()) {
      ctx.add_certificate_authority(asio::buffer(tls.ca_pem), ec);
      if (ec) return fail(NetError{NetErrorKind::Tls, "invalid CA certificate: " + ec.message()});
    }
  } else {
    ctx.set_verify_mode(ssl::verify_none, ec);
  }
  if (!tls.client_cert_pem.empty() || !tls.client_key_pem.empty()) {
    ctx.use_certificate_chain(asio::buffer(tls.client_cert_pem), ec);
    if (ec) return fail(NetError{NetErrorKind::Tls, "invalid client certificate: " + ec.message()});
    ctx.use_private_key(asio::buffer(tls.client_key_pem), ssl::context::pem, ec);
    if (ec) return fail(NetError{NetErrorKind::Tls, "invalid client key: " + ec.message()});
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      return fail(NetError{NetErrorKind::Tls, "client key does not match the client certificate"});
    }
  }
  return out;
}

Result<std::shared_ptr<HttpClient>, NetError> HttpClient::create(asio::any_io_executor executor,
                                                                 const Url& origin,
                                                                 const TlsConfig& tls,
                                                                 const ClientOptions& options) {
  std::shared_ptr<TlsContext> context;
  if (origin.tls()) {
    auto created = TlsContext::create(tls);
    if (!created) return fail(std::move(created.error()));
    context = std::move(created).value();
  }
  return create(std::move(executor), origin, std::move(context), options);
}

Result<std::shared_ptr<HttpClient>, NetError> HttpClient::create(asio::any_io_executor executor,
                                                                 const Url& origin,
                                                                 std::shared_ptr<TlsContext> tls,
                                                                 const ClientOptions& options) {
  if (origin.tls() && !tls) {
    return fail(NetError{NetErrorKind::InvalidRequest,
                         "an https origin needs a TLS context: " + origin.origin()});
  }
  return std::shared_ptr<HttpClient>(
      std::make_shared<ClientImpl>(std::move(executor), origin, std::move(tls), options));
}

}  // namespace sto::net
