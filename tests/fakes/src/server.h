// Server: serves a FakeIbmCloud over HTTP/1.1 with keep-alive, over TLS by
// default. Every connection is a C++20 coroutine on the caller's io_context
// (no thread per connection), with a deadline on each read, write and TLS
// handshake, a 1 MiB body limit, and injected latency waited on a timer so
// that a slow answer never holds up another connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "common/result.h"
#include "fake_ibm_cloud.h"
#include "tls_identity.h"

namespace sto::fake {

struct ServerOptions {
  boost::asio::ip::tcp::endpoint listen{boost::asio::ip::address_v4::loopback(), 0};
  std::optional<TlsIdentity> tls;  // nullopt: plain HTTP
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  // Deadline for receiving one whole request, which is also how long an
  // idle keep-alive connection stays open.
  std::chrono::milliseconds read_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  // Binds and listens at once (so the port is known on return); connections
  // are served while `io` runs.
  static Result<std::shared_ptr<Server>, std::string> start(boost::asio::io_context& io,
                                                            ServerOptions options,
                                                            std::shared_ptr<FakeIbmCloud> fake);

  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }
  // "https://127.0.0.1:PORT" (or http://), the base URL clients use.
  std::string url() const;

  // Stops accepting and closes every open connection; callable from any
  // thread. The io_context then runs out of work.
  void stop();

  Server(boost::asio::io_context& io, ServerOptions options, std::shared_ptr<FakeIbmCloud> fake);

 private:
  class Registration;

  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve_plain(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<void> serve_tls(boost::asio::ip::tcp::socket socket);
  void close_all();

  boost::asio::io_context& io_;
  ServerOptions options_;
  std::shared_ptr<FakeIbmCloud> fake_;
  std::unique_ptr<boost::asio::ssl::context> ssl_context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint local_endpoint_;
  bool stopped_ = false;
  std::uint64_t next_connection_ = 0;
  std::unordered_map<std::uint64_t, std::function<void()>> connections_;  // id -> close
};

}  // namespace sto::fake
