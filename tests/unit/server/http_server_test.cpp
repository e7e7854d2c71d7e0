// HttpServer against real loopback sockets: routes, limits, timeouts,
// connection handling and stop(); and the parsing of bind addresses.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <iostream>

#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "server/http_server.h"
#include "server/metrics.h"

namespace sto::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------- addresses

BindAddress must_parse(const std::string& text) {
  auto r = parse_bind_address(text);
  if (!r) throw std::runtime_error(r.error());
  if (!r.value()) throw std::runtime_error("disabled");
  return *r.value();
}

std::string parse_error(const std::string& text, const std::string& flag = {}) {
  auto r = parse_bind_address(text, flag);
  return r ? std::string("(parsed)") : r.error();
}

TEST(BindAddress, ParsesControllerRuntimeForms) {
  EXPECT_EQ(must_parse(":8080"), (BindAddress{"", 8080}));
  EXPECT_EQ(must_parse("127.0.0.1:8080"), (BindAddress{"127.0.0.1", 8080}));
  EXPECT_EQ(must_parse("[::1]:9090"), (BindAddress{"::1", 9090}));
  EXPECT_EQ(must_parse("[::]:80"), (BindAddress{"::", 80}));
  EXPECT_EQ(must_parse("0.0.0.0:0"), (BindAddress{"0.0.0.0", 0}));
  EXPECT_EQ(must_parse("localhost:8081"), (BindAddress{"localhost", 8081}));
  EXPECT_EQ(must_parse(":65535").port, 65535);
}

TEST(BindAddress, ZeroMeansDisabled) {
  auto r = parse_bind_address("0");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.value().has_value());
  // ":0" is not disabled: it listens on a free port.
  auto any = parse_bind_address(":0");
  ASSERT_TRUE(any);
  ASSERT_TRUE(any.value().has_value());
  EXPECT_EQ(any.value()->port, 0);
}

TEST(BindAddress, ToStringRoundTrips) {
  for (const char* text : {":8080", "127.0.0.1:8080", "[::1]:9090", "localhost:1"}) {
    EXPECT_EQ(must_parse(text).to_string(), text);
  }
}

TEST(BindAddress, ErrorsNameFlagAndValue) {
  EXPECT_EQ(parse_error("127.0.0.1:99999", "--metrics-bind-address"),
            "--metrics-bind-address: \"127.0.0.1:99999\" is not a valid listen address: port "
            "99999 is out of range (0-65535) (want HOST:PORT, :PORT, or 0 to disable)");
  EXPECT_EQ(parse_error("bad"),
            "\"bad\" is not a valid listen address: it has no port (want HOST:PORT, :PORT, or 0 "
            "to disable)");
}

TEST(BindAddress, RejectsMalformedAddresses) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "it is empty"},
           {"bad", "it has no port"},
           {":", "it has no port"},
           {"127.0.0.1:", "it has no port"},
           {":http", "port \"http\" is not a number"},
           {":-1", "port \"-1\" is not a number"},
           {":123456", "port 123456 is out of range"},
           {"127.0.0.1:99999", "port 99999 is out of range"},
           {"::1:8080", "needs brackets"},
           {"[::1:8080", "unbalanced brackets"},
           {"[nope]:80", "\"nope\" is not an IPv6 address"},
           {"[127.0.0.1]:80", "is not an IPv6 address"},
           {"300.1.1.1:80", "\"300.1.1.1\" is not an IPv4 address"},
           {"bad host:80", "is not a host name or IP address"},
           {"-lead.example:80", "is not a host name or IP address"},
           {"a..b:80", "is not a host name or IP address"},
       }) {
    std::string err = parse_error(c.text, "--health-probe-bind-address");
    EXPECT_NE(err.find(c.why), std::string::npos) << c.text << " -> " << err;
    EXPECT_EQ(err.rfind("--health-probe-bind-address: \"" + std::string(c.text) + "\"", 0), 0u)
        << err;
  }
}

// ---------------------------------------------------------------- client

struct Reply {
  int status = 0;
  std::string body;
  http::response<http::string_body> message;
  std::string header(http::field f) const { return std::string(message[f]); }
};

std::string get(const std::string& path, const std::string& method = "GET") {
  return method + " " + path + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

// One raw client connection: sends bytes as given and parses responses.
class Client {
 public:
  explicit Client(asio::io_context& io) : socket_(io) {}

  asio::awaitable<void> connect(const tcp::endpoint& ep) {
    co_await socket_.async_connect(ep, asio::use_awaitable);
  }
  asio::awaitable<void> send(const std::string& raw) {
    auto buf = asio::buffer(raw);
    co_await asio::async_write(socket_, buf, asio::use_awaitable);
  }
  // One response; throws if the connection ends first.
  asio::awaitable<Reply> receive(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    parser.body_limit(16 * 1024 * 1024);
    co_await http::async_read(socket_, buffer_, parser, asio::use_awaitable);
    Reply r;
    r.message = parser.release();
    r.status = r.message.result_int();
    r.body = r.message.body();
    co_return r;
  }
  asio::awaitable<Reply> request(const std::string& raw, bool head = false) {
    co_await send(raw);
    co_return co_await receive(head);
  }
  // True when the server ends the connection without sending anything more.
  asio::awaitable<bool> closed_by_server() {
    if (buffer_.size() != 0) co_return false;
    std::array<char, 256> scratch;
    auto buf = asio::buffer(scratch);
    auto [ec, n] = co_await socket_.async_read_some(buf, use_tuple);
    co_return ec && n == 0;
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// A probe as the kubelet sends it: a new connection, one GET, the status
// (0 when the connection was closed or reset instead of answered). Never
// throws, so a refused probe fails an assertion rather than the coroutine.
asio::awaitable<int> probe(asio::io_context& io, const tcp::endpoint& ep,
                           const std::string& path = "/healthz") {
  tcp::socket s(io);
  auto [cec] = co_await s.async_connect(ep, use_tuple);
  if (cec) co_return 0;
  std::string raw = "GET " + path + " HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n";
  auto out = asio::buffer(raw);
  auto [wec, wn] = co_await asio::async_write(s, out, use_tuple);
  if (wec) co_return 0;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  auto [rec, rn] = co_await http::async_read(s, buffer, res, use_tuple);
  if (rec) co_return 0;
  co_return res.result_int();
}

// Holds connections open the way an attacker would: connected, and silent
// (or with half a request).
struct Crowd {
  std::vector<std::unique_ptr<tcp::socket>> sockets;
  asio::awaitable<void> open(asio::io_context& io, const tcp::endpoint& ep, int n,
                             const std::string& send = {}) {
    for (int i = 0; i < n; ++i) {
      auto s = std::make_unique<tcp::socket>(io);
      auto [ec] = co_await s->async_connect(ep, use_tuple);
      if (ec) continue;
      if (!send.empty()) {
        auto out = asio::buffer(send);
        co_await asio::async_write(*s, out, use_tuple);
      }
      sockets.push_back(std::move(s));
    }
  }
  // How many the server has closed (a read sees the end at once).
  std::size_t closed_by_server() {
    std::size_t n = 0;
    for (auto& s : sockets) {
      s->non_blocking(true);
      std::array<char, 64> scratch;
      boost::system::error_code ec;
      s->read_some(asio::buffer(scratch), ec);
      if (ec && ec != asio::error::would_block) ++n;
    }
    return n;
  }
};

asio::awaitable<void> sleep_for(asio::io_context& io, std::chrono::milliseconds d) {
  asio::steady_timer t(io, d);
  co_await t.async_wait(use_tuple);
}

// Stops the io_context from another thread if the test does not end in time,
// so a server that fails to let go fails the test instead of hanging it.
class Watchdog {
 public:
  Watchdog(asio::io_context& io, std::chrono::milliseconds limit)
      : thread_([this, &io, limit] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            fired_ = true;
            io.stop();
          }
        }) {}
  ~Watchdog() { finish(); }
  // Ends the watch; true if it fired.
  bool finish() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool fired_ = false;
  std::thread thread_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  // Starts a server on 127.0.0.1 with a free port, serving metrics and health.
  void start(ServerOptions options = {}) {
    server = std::make_unique<HttpServer>(io.get_executor(), std::move(options));
    server->serve_metrics(registry);
    server->serve_health([this] { return ready ? ReadyStatus{} : ReadyStatus{false, reason}; });
    auto r = server->start(BindAddress{"127.0.0.1", 0});
    ASSERT_TRUE(r) << r.error();
    port = server->port();
    ASSERT_NE(port, 0);
  }

  // Runs body on the io_context, then stops the server; the io_context must
  // then run out of work on its own (within the watchdog's limit).
  template <typename F>
  void run(F body, std::chrono::milliseconds limit = 8s) {
    std::exception_ptr error;
    bool finished = false;
    asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
      error = e;
      finished = true;
      server->stop();
    });
    Watchdog dog(io, limit);
    io.run();
    EXPECT_FALSE(dog.finish()) << "io_context.run() did not return in time";
    EXPECT_TRUE(finished);
    if (error) std::rethrow_exception(error);
  }

  asio::io_context io;
  Registry registry;
  bool ready = false;
  std::string reason = "informer caches not synced";
  std::unique_ptr<HttpServer> server;
  std::uint16_t port = 0;
};

// ---------------------------------------------------------------- routes

TEST_F(HttpServerTest, ServesMetrics) {
  Counter& reconciles = registry.counter("reconcile_total", "Reconciles.", {"controller"})
                            .with({"sysdigtoken"});
  reconciles.inc();
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = get("/metrics");
    Reply first = co_await c.request(req);
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(first.header(http::field::content_type), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(first.body,
              "# HELP reconcile_total Reconciles.\n# TYPE reconcile_total counter\n"
              "reconcile_total{controller=\"sysdigtoken\"} 1\n");
    // Same connection (keep-alive), new value.
    reconciles.inc(2);
    Reply second = co_await c.request(req);
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(second.body, registry.render());
    EXPECT_NE(second.body.find("reconcile_total{controller=\"sysdigtoken\"} 3\n"),
              std::string::npos);
    EXPECT_EQ(server->connections(), 1u);
    // A query string does not change the route.
    auto with_query = get("/metrics?name[]=reconcile_total");
    Reply third = co_await c.request(with_query);
    EXPECT_EQ(third.status, 200);
  });
}

TEST_F(HttpServerTest, Healthz) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = get("/healthz");
    Reply r = co_await c.request(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "ok");
    EXPECT_EQ(r.header(http::field::content_type), "text/plain; charset=utf-8");
    auto head = get("/healthz", "HEAD");
    Reply h = co_await c.request(head, true);
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.header(http::field::content_length), "2");
    EXPECT_EQ(h.body, "");
    // The connection is still usable after HEAD: no stray body bytes.
    Reply again = co_await c.request(req);
    EXPECT_EQ(again.body, "ok");
  });
}

TEST_F(HttpServerTest, ReadyzFollowsTheReadinessCheck) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = get("/readyz");
    Reply not_ready = co_await c.request(req);
    EXPECT_EQ(not_ready.status, 503);
    EXPECT_EQ(not_ready.body, "informer caches not synced");
    ready = true;
    Reply ok = co_await c.request(req);
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "ok");
    ready = false;
    reason.clear();
    Reply again = co_await c.request(req);
    EXPECT_EQ(again.status, 503);
    EXPECT_EQ(again.body, "not ready");
  });
}

TEST_F(HttpServerTest, ReadyzWithoutCheckIsReady) {
  server = std::make_unique<HttpServer>(io.get_executor());
  server->serve_health();
  ASSERT_TRUE(server->start(BindAddress{"127.0.0.1", 0}));
  port = server->port();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = get("/readyz");
    Reply r = co_await c.request(req);
    EXPECT_EQ(r.status, 200);
    // This server does not serve metrics.
    auto metrics = get("/metrics");
    Reply m = co_await c.request(metrics);
    EXPECT_EQ(m.status, 404);
  });
}

TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto nope = get("/nope");
    Reply r404 = co_await c.request(nope);
    EXPECT_EQ(r404.status, 404);
    auto sub = get("/metrics/extra");
    Reply r404b = co_await c.request(sub);
    EXPECT_EQ(r404b.status, 404);
    auto post = std::string("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    Reply r405 = co_await c.request(post);
    EXPECT_EQ(r405.status, 405);
    EXPECT_EQ(r405.header(http::field::allow), "GET, HEAD");
    auto del = get("/healthz", "DELETE");
    Reply r405b = co_await c.request(del);
    EXPECT_EQ(r405b.status, 405);
    // Still keep-alive after errors.
    auto health = get("/healthz");
    Reply ok = co_await c.request(health);
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(server->connections(), 1u);
  });
}

TEST_F(HttpServerTest, FailingMetricsCallbackAnswers500) {
  registry.gauge_callback("broken", "h", {}, [](SampleSink&) { throw std::runtime_error("x"); });
  std::string logged;
  ServerOptions options;
  options.on_error = [&](std::string_view m) { logged = m; };
  start(options);
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = get("/metrics");
    Reply r = co_await c.request(req);
    EXPECT_EQ(r.status, 500);
    auto health = get("/healthz");
    Reply ok = co_await c.request(health);
    EXPECT_EQ(ok.status, 200);
  });
  EXPECT_NE(logged.find("/metrics"), std::string::npos) << logged;
}

TEST_F(HttpServerTest, PipelinedRequests) {
  ready = true;
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto both = get("/healthz") + get("/readyz") + get("/nope");
    co_await c.send(both);
    Reply a = co_await c.receive();
    Reply b = co_await c.receive();
    Reply d = co_await c.receive();
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(b.status, 200);
    EXPECT_EQ(d.status, 404);
  });
}

// ---------------------------------------------------------------- limits

TEST_F(HttpServerTest, OversizedHeaderIsRejected) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto big = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(16 * 1024, 'a') +
               "\r\n\r\n";
    Reply r = co_await c.request(big);
    EXPECT_EQ(r.status, 431);
    EXPECT_FALSE(r.message.keep_alive());
    bool closed = co_await c.closed_by_server();
    EXPECT_TRUE(closed);
    // The server carries on.
    Client next(io);
    co_await next.connect(ep);
    auto req = get("/healthz");
    Reply ok = co_await next.request(req);
    EXPECT_EQ(ok.status, 200);
  });
}

TEST_F(HttpServerTest, OversizedBodyIsRejected) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = std::string("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n");
    Reply r = co_await c.request(req);
    EXPECT_EQ(r.status, 413);
    bool closed = co_await c.closed_by_server();
    EXPECT_TRUE(closed);
  });
}

TEST_F(HttpServerTest, MalformedRequestGets400) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto junk = std::string("THIS IS NOT HTTP\r\n\r\n");
    Reply r = co_await c.request(junk);
    EXPECT_EQ(r.status, 400);
    bool closed = co_await c.closed_by_server();
    EXPECT_TRUE(closed);
    Client next(io);
    co_await next.connect(ep);
    auto req = get("/healthz");
    Reply ok = co_await next.request(req);
    EXPECT_EQ(ok.status, 200);
  });
}

TEST_F(HttpServerTest, Http10ClosesAfterResponse) {
  start();
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto req = std::string("GET /healthz HTTP/1.0\r\n\r\n");
    Reply r = co_await c.request(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.message.version(), 10);
    bool closed = co_await c.closed_by_server();
    EXPECT_TRUE(closed);
  });
}

TEST_F(HttpServerTest, IdleConnectionTimesOut) {
  ServerOptions options;
  options.timeout = 200ms;
  start(options);
  run([&]() -> asio::awaitable<void> {
    Client c(io);
    auto ep = loopback(port);
    co_await c.connect(ep);
    auto t0 = std::chrono::steady_clock::now();
    bool closed = co_await c.closed_by_server();  // sends nothing at all
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(closed);
    EXPECT_GE(waited, 150ms);
    EXPECT_LT(waited, 5s);

    // A request sent too slowly (slowloris) is cut off too.
    Client slow(io);
    co_await slow.connect(ep);
    auto part = std::string("GET /healthz HTTP/1.1\r\n");
    co_await slow.send(part);
    bool slow_closed = co_await slow.closed_by_server();
    EXPECT_TRUE(slow_closed);
  });
}

TEST_F(HttpServerTest, AtTheCapANewConnectionEvictsTheOneIdleLongest) {
  ServerOptions options;
  options.max_connections = 2;
  start(options);
  run([&]() -> asio::awaitable<void> {
    auto ep = loopback(port);
    auto req = get("/healthz");
    Client a(io), b(io), c(io);
    co_await a.connect(ep);
    Reply ra = co_await a.request(req);
    co_await b.connect(ep);
    Reply rb = co_await b.request(req);
    EXPECT_EQ(ra.status, 200);
    EXPECT_EQ(rb.status, 200);
    EXPECT_EQ(server->connections(), 2u);
    // a has waited longest for its next request: c takes its place.
    co_await c.connect(ep);
    Reply rc = co_await c.request(req);
    EXPECT_EQ(rc.status, 200);
    bool a_closed = co_await a.closed_by_server();
    EXPECT_TRUE(a_closed);
    EXPECT_EQ(server->connections(), 2u);
    EXPECT_EQ(server->evicted(), 1u);
    EXPECT_EQ(server->refused(), 0u);
    // b is still served on its kept-alive connection (now c is the newest
    // idle one, b the oldest).
    Reply rb2 = co_await b.request(req);
    EXPECT_EQ(rb2.status, 200);
  });
}

TEST_F(HttpServerTest, TwoHundredIdleConnectionsDoNotStarveTheProbe) {
  ready = true;
  std::vector<std::string> reports;
  ServerOptions options;  // the operator's defaults: 64 connections
  options.on_error = [&](std::string_view m) { reports.emplace_back(m); };
  start(options);
  std::vector<int> statuses;
  std::chrono::nanoseconds slowest{0};
  Crowd crowd;
  run(
      [&]() -> asio::awaitable<void> {
        auto ep = loopback(port);
        co_await crowd.open(io, ep, 200);
        // Let the server accept them all, as it would between two probes.
        for (int i = 0; i < 500 && server->connections() < options.max_connections; ++i) {
          co_await sleep_for(io, 1ms);
        }
        co_await sleep_for(io, 20ms);
        EXPECT_EQ(server->connections(), options.max_connections);
        for (const char* path : {"/healthz", "/readyz", "/healthz", "/healthz", "/healthz"}) {
          auto t0 = std::chrono::steady_clock::now();
          int status = co_await probe(io, ep, path);
          slowest = std::max<std::chrono::nanoseconds>(slowest,
                                                        std::chrono::steady_clock::now() - t0);
          statuses.push_back(status);
          EXPECT_LE(server->connections(), options.max_connections);
        }
      },
      20s);
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 200, 200}));
  EXPECT_LT(slowest, 2s);  // generous: a probe's default timeout is 1 s
  std::cout << "slowest probe with 200 idle connections open: "
            << std::chrono::duration_cast<std::chrono::microseconds>(slowest).count() << " us\n";
  // The oldest idle connections made room; none was simply refused.
  EXPECT_GE(server->evicted(), 200u - options.max_connections);
  EXPECT_EQ(server->refused(), 0u);
  EXPECT_GE(crowd.closed_by_server(), 200u - options.max_connections);
  ASSERT_FALSE(reports.empty());
  EXPECT_NE(reports.front().find("connection limit (64) reached on 127.0.0.1:"),
            std::string::npos)
      << reports.front();
}

TEST_F(HttpServerTest, HalfSentRequestsDoNotStarveTheProbe) {
  ServerOptions options;
  options.max_connections = 16;
  start(options);
  int status = 0;
  run([&]() -> asio::awaitable<void> {
    auto ep = loopback(port);
    Crowd slowloris;
    co_await slowloris.open(io, ep, 50, "GET /healthz HTTP/1.1\r\nX-Slow: ");
    for (int i = 0; i < 500 && server->connections() < options.max_connections; ++i) {
      co_await sleep_for(io, 1ms);
    }
    status = co_await probe(io, ep);
  });
  EXPECT_EQ(status, 200);
  EXPECT_EQ(server->refused(), 0u);
}

TEST_F(HttpServerTest, ConnectionsBeingAnsweredAreNotEvicted) {
  // A /metrics answer far larger than the socket buffers: a client that asks
  // and does not read keeps its connection in the middle of a response.
  registry.gauge_callback("big", "A large family.", {"i"}, [](SampleSink& sink) {
    for (int i = 0; i < 1000000; ++i) sink.add(std::vector<std::string>{std::to_string(i)}, i);
  });
  ServerOptions options;
  options.max_connections = 1;
  options.stalled_response = 1500ms;
  start(options);
  int refused_status = -1, later_status = -1;
  run(
      [&]() -> asio::awaitable<void> {
        auto ep = loopback(port);
        Client reader(io);
        co_await reader.connect(ep);
        auto req = get("/metrics");
        co_await reader.send(req);  // and never reads
        while (server->connections() < 1) co_await sleep_for(io, 1ms);
        co_await sleep_for(io, 100ms);
        // Its response is in progress: a new connection is refused...
        refused_status = co_await probe(io, ep);
        EXPECT_EQ(server->refused(), 1u);
        // ...until the response has been stuck past stalled_response.
        co_await sleep_for(io, 1600ms);
        later_status = co_await probe(io, ep);
      },
      15s);
  EXPECT_EQ(refused_status, 0);
  EXPECT_EQ(later_status, 200);
  EXPECT_EQ(server->evicted(), 1u);
}

TEST_F(HttpServerTest, NewConnectionsThatSendNothingGetAShorterDeadline) {
  ServerOptions options;
  options.timeout = 3s;
  options.first_request_timeout = 200ms;
  start(options);
  run([&]() -> asio::awaitable<void> {
    auto ep = loopback(port);
    Client silent(io), served(io);
    co_await silent.connect(ep);
    co_await served.connect(ep);
    auto req = get("/healthz");
    Reply r = co_await served.request(req);
    EXPECT_EQ(r.status, 200);
    auto t0 = std::chrono::steady_clock::now();
    bool closed = co_await silent.closed_by_server();
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_TRUE(closed);
    EXPECT_LT(waited, 2s);
    // The kept-alive connection that was served waits the longer deadline.
    co_await sleep_for(io, 300ms);
    Reply again = co_await served.request(req);
    EXPECT_EQ(again.status, 200);
  });
}

TEST_F(HttpServerTest, AFullServerDoesNotTouchAnotherOnTheSameLoop) {
  // The operator's /metrics and probe servers: a crowd on one is the other's
  // concern not at all.
  ServerOptions options;
  options.max_connections = 8;
  start(options);  // "metrics"
  HttpServer probes(io.get_executor(), options);
  probes.serve_health();
  ASSERT_TRUE(probes.start(BindAddress{"127.0.0.1", 0}));
  int status = 0;
  Crowd crowd;
  run([&]() -> asio::awaitable<void> {
    co_await crowd.open(io, loopback(port), 100);
    for (int i = 0; i < 500 && server->connections() < options.max_connections; ++i) {
      co_await sleep_for(io, 1ms);
    }
    status = co_await probe(io, loopback(probes.port()));
    EXPECT_EQ(probes.evicted(), 0u);
    probes.stop();
  });
  EXPECT_EQ(status, 200);
  EXPECT_EQ(server->connections(), 0u);
}

// ---------------------------------------------------------------- lifecycle

TEST_F(HttpServerTest, StopClosesConnectionsSoRunReturns) {
  ServerOptions options;
  options.timeout = 60s;  // only stop() can end these connections in time
  start(options);
  auto t0 = std::chrono::steady_clock::now();
  run([&]() -> asio::awaitable<void> {
    auto ep = loopback(port);
    Client idle(io), partial(io);
    co_await idle.connect(ep);
    auto req = get("/healthz");
    Reply r = co_await idle.request(req);
    EXPECT_EQ(r.status, 200);
    co_await partial.connect(ep);
    auto part = std::string("GET /hea");
    co_await partial.send(part);
    // Make sure the server has accepted the second connection.
    while (server->connections() < 2) {
      asio::steady_timer t(io, 1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    server->stop();
    bool idle_closed = co_await idle.closed_by_server();
    bool partial_closed = co_await partial.closed_by_server();
    EXPECT_TRUE(idle_closed);
    EXPECT_TRUE(partial_closed);
    // The listener is gone too.
    tcp::socket s(io);
    auto [ec] = co_await s.async_connect(ep, use_tuple);
    EXPECT_TRUE(ec) << "connected after stop()";
  });
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(server->connections(), 0u);
}

TEST_F(HttpServerTest, StopBeforeRunLetsRunReturn) {
  start();
  server->stop();
  server->stop();  // idempotent
  Watchdog dog(io, 5s);
  io.run();
  EXPECT_FALSE(dog.finish());
  auto again = server->start(BindAddress{"127.0.0.1", 0});
  EXPECT_FALSE(again);
}

TEST_F(HttpServerTest, DestroyingTheServerStopsIt) {
  start();
  server.reset();
  Watchdog dog(io, 5s);
  io.run();
  EXPECT_FALSE(dog.finish());
}

TEST_F(HttpServerTest, PortInUseIsAClearError) {
  start();
  HttpServer second(io.get_executor());
  auto r = second.start(BindAddress{"127.0.0.1", port});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("listen on 127.0.0.1:" + std::to_string(port) + ": "),
            std::string::npos)
      << r.error();
  EXPECT_NE(r.error().find("in use"), std::string::npos) << r.error();
  EXPECT_EQ(second.port(), 0);
  EXPECT_EQ(second.local_address(), "");
  auto twice = server->start(BindAddress{"127.0.0.1", 0});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().find("already started"), std::string::npos);
  server->stop();
  io.run();
}

// Starts a server at `address` and fetches /healthz from `connect_to`.
void expect_reachable(const std::string& address, const std::string& connect_to) {
  asio::io_context io;
  HttpServer server(io.get_executor());
  server.serve_health();
  auto r = server.start(must_parse(address));
  ASSERT_TRUE(r) << r.error();
  ASSERT_NE(server.port(), 0);
  int status = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Client c(io);
        tcp::endpoint ep(asio::ip::make_address(connect_to), server.port());
        co_await c.connect(ep);
        auto req = get("/healthz");
        Reply reply = co_await c.request(req);
        status = reply.status;
      },
      [&](std::exception_ptr) { server.stop(); });
  Watchdog dog(io, 8s);
  io.run();
  EXPECT_FALSE(dog.finish());
  EXPECT_EQ(status, 200) << address << " via " << connect_to << " (" << server.local_address()
                         << ")";
}

TEST(HttpServerBind, AllInterfaces) {
  expect_reachable(":0", "127.0.0.1");
  expect_reachable(":0", "::1");  // dual stack
}

TEST(HttpServerBind, LocalAddressReportsTheBoundPort) {
  asio::io_context io;
  HttpServer server(io.get_executor());
  ASSERT_TRUE(server.start(BindAddress{"", 0}));
  std::string local = server.local_address();
  EXPECT_TRUE(local == "[::]:" + std::to_string(server.port()) ||
              local == "0.0.0.0:" + std::to_string(server.port()))
      << local;
  server.stop();
  io.run();
}

TEST(HttpServerBind, IPv6Loopback) { expect_reachable("[::1]:0", "::1"); }

TEST(HttpServerBind, HostName) { expect_reachable("localhost:0", "127.0.0.1"); }

TEST(HttpServerBind, UnresolvableHostIsAnError) {
  asio::io_context io;
  HttpServer server(io.get_executor());
  auto r = server.start(BindAddress{"no-such-host.invalid", 0});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("no-such-host.invalid"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace sto::server
