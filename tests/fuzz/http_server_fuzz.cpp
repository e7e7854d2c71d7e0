// The probe/metrics server's request parsing, through a real socket: the
// input is written as is to a connection of an HttpServer (configured as the
// operator configures it: /metrics, /healthz, /readyz), the write side is
// closed, and the answer read to its end. Invariants: whatever comes back is
// an HTTP/1.x response (1.0 to a 1.0 request), and the server still answers
// /healthz afterwards.
#include <sys/socket.h>
#include <sys/time.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "fuzz_support.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// The server runs on its own thread for the whole process.
struct Fixture {
  asio::io_context io;
  sto::server::Registry registry;
  std::unique_ptr<sto::server::HttpServer> server;
  std::thread thread;
  std::uint16_t port = 0;

  Fixture() {
    registry.counter("fuzz_requests_total", "Requests the fuzzer sent.", {"kind"});
    sto::server::ServerOptions options;
    options.timeout = std::chrono::seconds(2);
    server = std::make_unique<sto::server::HttpServer>(io.get_executor(), options);
    server->serve_metrics(registry);
    server->serve_health([] { return sto::server::ReadyStatus{false, "fuzzing"}; });
    auto started = server->start({"127.0.0.1", 0});
    if (!started) sto::fuzz::fail("server did not start: " + started.error());
    port = server->port();
    thread = std::thread([this] { io.run(); });
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();  // never destroyed: libFuzzer exits with the thread running
  return *f;
}

// Sends `request`, half-closes, and returns everything the server wrote.
std::string exchange(std::string_view request) {
  asio::io_context io;
  tcp::socket socket(io);
  boost::system::error_code ec;
  // libFuzzer's timers may interrupt a blocking connect (EINTR): try again
  // on a new socket.
  for (int attempt = 0; attempt < 10; ++attempt) {
    socket.close(ec);
    socket.connect({asio::ip::make_address("127.0.0.1"), fixture().port}, ec);
    if (ec != boost::asio::error::interrupted) break;
  }
  if (ec) sto::fuzz::fail("connect: " + ec.message());
  timeval timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  asio::write(socket, asio::buffer(request.data(), request.size()),
              ec);  // the server may close early
  socket.shutdown(tcp::socket::shutdown_send, ec);
  std::string answer;
  char buf[4096];
  for (;;) {
    std::size_t n = socket.read_some(asio::buffer(buf), ec);
    answer.append(buf, n);
    if (ec) break;
  }
  if (ec == asio::error::would_block || ec == asio::error::try_again ||
      ec == asio::error::timed_out)
    sto::fuzz::fail("the server did not answer or close within 5 s");
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view request(reinterpret_cast<const char*>(data), size);
  std::string answer = exchange(request);
  sto::fuzz::check(
      answer.empty() || answer.starts_with("HTTP/1.1 ") || answer.starts_with("HTTP/1.0 "),
      "answer is not HTTP/1.x");
  static std::size_t runs = 0;
  if (++runs % 500 == 0) {
    std::string health = exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    sto::fuzz::check(health.starts_with("HTTP/1.1 200"), "the server stopped answering /healthz");
  }
  return 0;
}
