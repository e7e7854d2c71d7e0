#include "server.h"

#include <algorithm>
#include <array>
#include <exception>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <nlohmann/json.hpp>

namespace sto::fake {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kTlsShutdownTimeout{2};
constexpr std::chrono::seconds kDrainTimeout{2};
constexpr std::size_t kMaxDrainBytes = 16 * 1024 * 1024;

void log_session_end(const std::exception_ptr& e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::error("connection ended by an exception: {}", x.what());
  }
}

bool is_http_parse_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category();
}

template <class Stream, class Message>
asio::awaitable<bool> write_message(Stream& stream, Message& message,
                                    std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(stream).expires_after(timeout);
  auto [ec, n] = co_await http::async_write(stream, message, kAsTuple);
  co_return !ec;
}

// Reads and discards what the client is still sending (the rest of a refused
// request) for a short while, so that closing the connection does not reset
// it before the client has read the error answer.
template <class Stream>
asio::awaitable<void> drain(Stream& stream) {
  std::array<char, 16 * 1024> discard;
  std::size_t total = 0;
  beast::get_lowest_layer(stream).expires_after(kDrainTimeout);
  while (total < kMaxDrainBytes) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(discard), kAsTuple);
    if (ec) break;
    total += n;
  }
}

// Answers requests on one connection until either side closes it. Returns
// true when the connection should be shut down politely (TLS close_notify),
// false when it should just be closed (errors, dropped by a fault).
template <class Stream>
asio::awaitable<bool> serve_requests(Stream& stream, asio::steady_timer& delay_timer,
                                     FakeIbmCloud& fake, const ServerOptions& options) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);

    beast::get_lowest_layer(stream).expires_after(options.read_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kAsTuple);
    if (!ec && equals_ignoring_case(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
      if (!co_await write_message(stream, go_on, options.write_timeout)) co_return false;
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
    }
    if (!ec && !parser.is_done()) {
      std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, kAsTuple);
    }
    if (ec == http::error::end_of_stream) co_return true;  // closed between requests
    if (ec) {
      http::status status = http::status::bad_request;
      if (ec == http::error::body_limit) {
        status = http::status::payload_too_large;
      } else if (ec == http::error::header_limit) {
        status = http::status::request_header_fields_too_large;
      } else if (!is_http_parse_error(ec) || ec == http::error::partial_message) {
        spdlog::debug("connection closed while reading: {}", ec.message());
        co_return false;  // timeout, reset, TLS failure: no one to answer
      }
      Response response = json_response(status, {{"error", "bad request: " + ec.message()}});
      response.keep_alive(false);
      response.set(http::field::server, "fake-ibm-cloud");
      response.prepare_payload();
      if (co_await write_message(stream, response, options.write_timeout)) co_await drain(stream);
      co_return false;
    }

    Request request = parser.release();
    Reply reply = fake.handle(request);
    if (reply.delay.count() > 0) {
      delay_timer.expires_after(reply.delay);
      auto [timer_ec] = co_await delay_timer.async_wait(kAsTuple);
      if (timer_ec) co_return false;  // the server is stopping
    }
    if (reply.drop) co_return false;

    Response& response = reply.response;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "fake-ibm-cloud");
    response.prepare_payload();
    if (!co_await write_message(stream, response, options.write_timeout)) co_return false;
    if (!response.keep_alive()) co_return true;
  }
}

}  // namespace

// Keeps a connection in the server's table while its coroutine runs, so that
// stop() can close it.
class Server::Registration {
 public:
  Registration(Server& server, std::function<void()> close)
      : server_(server), id_(server.next_connection_++) {
    server_.connections_.emplace(id_, std::move(close));
  }
  ~Registration() { server_.connections_.erase(id_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  Server& server_;
  std::uint64_t id_;
};

Server::Server(asio::io_context& io, ServerOptions options, std::shared_ptr<FakeIbmCloud> fake)
    : io_(io), options_(std::move(options)), fake_(std::move(fake)), acceptor_(io) {}

Result<std::shared_ptr<Server>, std::string> Server::start(asio::io_context& io,
                                                           ServerOptions options,
                                                           std::shared_ptr<FakeIbmCloud> fake) {
  auto server = std::make_shared<Server>(io, std::move(options), std::move(fake));
  const auto& endpoint = server->options_.listen;
  const std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());

  if (server->options_.tls) {
    const TlsIdentity& identity = *server->options_.tls;
    auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1);
    error_code ec;
    context->use_certificate_chain(asio::buffer(identity.server_cert_pem), ec);
    if (!ec) {
      context->use_private_key(asio::buffer(identity.server_key_pem), ssl::context::pem, ec);
    }
    if (ec) return fail("cannot load the TLS identity: " + ec.message());
    server->ssl_context_ = std::move(context);
  }

  error_code ec;
  auto& acceptor = server->acceptor_;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return fail("cannot listen on " + where + ": " + ec.message());
  }
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec)
    return fail("cannot listen on " + where + ": " + ec.message());
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return fail("cannot listen on " + where + ": " + ec.message());
  }
  server->local_endpoint_ = acceptor.local_endpoint(ec);
  if (ec) return fail("cannot listen on " + where + ": " + ec.message());

  asio::co_spawn(io, server->accept_loop(), log_session_end);
  return server;
}

std::string Server::url() const {
  std::string host = local_endpoint_.address().to_string();
  if (local_endpoint_.address().is_v6()) host = "[" + host + "]";
  return std::string(ssl_context_ ? "https" : "http") + "://" + host + ":" +
         std::to_string(local_endpoint_.port());
}

void Server::stop() {
  asio::post(io_, [self = shared_from_this()] { self->close_all(); });
}

void Server::close_all() {
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  // Closing runs the connections' cleanup, which erases from the table.
  auto connections = std::move(connections_);
  connections_.clear();
  for (auto& [id, close] : connections) close();
}

asio::awaitable<void> Server::accept_loop() {
  auto self = shared_from_this();
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kAsTuple);
    if (ec == asio::error::operation_aborted || stopped_) break;
    if (ec) {
      // Out of file descriptors, for example: pause instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (ssl_context_) {
      asio::co_spawn(io_, serve_tls(std::move(socket)), log_session_end);
    } else {
      asio::co_spawn(io_, serve_plain(std::move(socket)), log_session_end);
    }
  }
}

asio::awaitable<void> Server::serve_plain(tcp::socket socket) {
  auto self = shared_from_this();
  beast::tcp_stream stream(std::move(socket));
  asio::steady_timer delay_timer(io_);
  Registration registration(*this, [&] {
    error_code ignored;
    delay_timer.cancel();
    stream.socket().close(ignored);
  });

  bool polite = co_await serve_requests(stream, delay_timer, *fake_, options_);
  error_code ignored;
  if (polite) stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
}

asio::awaitable<void> Server::serve_tls(tcp::socket socket) {
  auto self = shared_from_this();
  beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *ssl_context_);
  asio::steady_timer delay_timer(io_);
  Registration registration(*this, [&] {
    error_code ignored;
    delay_timer.cancel();
    beast::get_lowest_layer(stream).socket().close(ignored);
  });

  beast::get_lowest_layer(stream).expires_after(options_.handshake_timeout);
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kAsTuple);
  if (ec) {
    spdlog::debug("TLS handshake failed: {}", ec.message());
    co_return;
  }
  if (co_await serve_requests(stream, delay_timer, *fake_, options_)) {
    beast::get_lowest_layer(stream).expires_after(kTlsShutdownTimeout);
    co_await stream.async_shutdown(kAsTuple);
  }
  error_code ignored;
  beast::get_lowest_layer(stream).socket().close(ignored);
}

}  // namespace sto::fake
