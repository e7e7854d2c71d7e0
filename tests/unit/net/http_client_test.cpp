// HttpClient against a real loopback HTTP server that misbehaves on request:
// keep-alive reuse, servers that close, slow answers, chunked streams, and
// oversize bodies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "net/http_client.h"
#include "run_coroutine.h"

namespace sto::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A plain HTTP/1.1 server on 127.0.0.1 with a few misbehaving routes, run on
// its own thread.
class TestServer {
 public:
  TestServer() : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~TestServer() {
    ioc_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }
  // Most /pause requests the server was answering at once.
  int max_active() const { return max_active_.load(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
      ++connections_;
      asio::co_spawn(ioc_, serve(beast::tcp_stream(std::move(socket))), asio::detached);
    }
  }

  asio::awaitable<void> serve(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    try {
      for (;;) {
        http::request<http::string_body> req;
        co_await http::async_read(stream, buffer, req, asio::use_awaitable);
        std::string target(req.target());
        if (target == "/drop") co_return;  // close without answering
        if (target == "/stream") {
          http::response<http::empty_body> head{http::status::ok, 11};
          head.chunked(true);
          http::response_serializer<http::empty_body> sr{head};
          co_await http::async_write_header(stream, sr, asio::use_awaitable);
          for (const char* piece : {"{\"a\":1}\n", "{\"b\":2}\n"}) {
            asio::steady_timer t(ioc_, 20ms);
            co_await t.async_wait(asio::use_awaitable);
            co_await asio::async_write(stream, http::make_chunk(asio::buffer(std::string(piece))),
                                       asio::use_awaitable);
          }
          co_await asio::async_write(stream, http::make_chunk_last(), asio::use_awaitable);
          continue;
        }
        http::response<http::string_body> res{http::status::ok, 11};
        res.set("X-Echo-Method", std::string(req.method_string()));
        if (target == "/pause") {
          const int now = ++active_;
          for (int seen = max_active_.load(); now > seen;) {
            if (max_active_.compare_exchange_weak(seen, now)) break;
          }
          asio::steady_timer t(ioc_, 50ms);
          co_await t.async_wait(asio::use_awaitable);
          --active_;
          res.body() = "paused";
        } else if (target == "/slow") {
          asio::steady_timer t(ioc_, 1s);
          co_await t.async_wait(asio::use_awaitable);
        } else if (target == "/big") {
          res.body() = std::string(2 * 1024 * 1024, 'x');
        } else if (target == "/close") {
          res.keep_alive(false);
        } else if (target == "/status/503") {
          res.result(http::status::service_unavailable);
          res.set("Retry-After", "7");
        } else {
          res.body() = req.body().empty() ? "hello" : req.body();
        }
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::use_awaitable);
        if (!res.keep_alive()) co_return;
      }
    } catch (const std::exception&) {
    }
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> active_{0};
  std::atomic<int> max_active_{0};
  std::thread thread_;
};

using sto::testing::run;

HttpRequest get(std::string target, std::chrono::milliseconds timeout = 30s) {
  HttpRequest r;
  r.target = std::move(target);
  r.timeout = timeout;
  return r;
}

std::shared_ptr<HttpClient> client_for(asio::any_io_executor ex, std::uint16_t port,
                                       ClientOptions options = {}) {
  auto url = Url::parse("http://127.0.0.1:" + std::to_string(port));
  auto c = HttpClient::create(ex, *url, TlsConfig{}, options);
  EXPECT_TRUE(c.ok());
  return c.value();
}

TEST(HttpClient, ReusesKeepAliveConnections) {
  TestServer server;
  auto bodies = run([&](asio::any_io_executor ex) -> asio::awaitable<std::vector<std::string>> {
    auto client = client_for(ex, server.port());
    std::vector<std::string> out;
    for (int i = 0; i < 5; ++i) {
      auto r = co_await client->send(get("/hello"));
      out.push_back(r.ok() ? r->body : "error: " + r.error().message);
    }
    co_return out;
  });
  EXPECT_EQ(bodies, std::vector<std::string>(5, "hello"));
  EXPECT_EQ(server.connections(), 1);
}

TEST(HttpClient, SendsBodyAndReadsStatusAndHeaders) {
  TestServer server;
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, server.port());
    HttpRequest post = get("/echo");
    post.method = "POST";
    post.headers = {{"Content-Type", "text/plain"}};
    post.body = "ping";
    auto posted = co_await client->send(post);
    EXPECT_TRUE(posted.ok());
    if (posted.ok()) {
      EXPECT_EQ(posted->body, "ping");
      EXPECT_EQ(posted->header("x-echo-method"), "POST");
    }
    co_return co_await client->send(get("/status/503"));
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("Retry-After"), "7");
}

TEST(HttpClient, ServerClosingAfterAnswerIsNotAnError) {
  TestServer server;
  auto ok = run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = client_for(ex, server.port());
    auto a = co_await client->send(get("/close"));
    auto b = co_await client->send(get("/hello"));
    co_return a.ok() && b.ok() && b->body == "hello";
  });
  EXPECT_TRUE(ok);
  EXPECT_EQ(server.connections(), 2);
}

TEST(HttpClient, TimesOutSlowAnswers) {
  TestServer server;
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, server.port());
    co_return co_await client->send(get("/slow", 100ms));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::Timeout);
}

TEST(HttpClient, DroppedConnectionIsClosedError) {
  TestServer server;
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, server.port());
    co_return co_await client->send(get("/drop"));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::Closed) << r.error().message;
}

TEST(HttpClient, EnforcesBodyLimit) {
  TestServer server;
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, server.port(), ClientOptions{.max_body_bytes = 1024 * 1024});
    co_return co_await client->send(get("/big"));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::TooLarge) << r.error().message;
}

TEST(HttpClient, ConnectionRefusedIsConnectError) {
  std::uint16_t port;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, port);
    co_return co_await client->send(get("/"));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::Connect);
}

TEST(HttpClient, ConnectToABlackHoledServerTimesOutAtItsDeadline) {
  // A listener whose accept queue is full: the kernel drops further SYNs, so
  // a connect neither succeeds nor fails until its deadline.
  asio::io_context fill_io;
  tcp::acceptor listener(fill_io);
  listener.open(tcp::v4());
  listener.bind({asio::ip::make_address("127.0.0.1"), 0});
  listener.listen(0);
  const auto target = listener.local_endpoint();
  // Non-blocking connects that fill the queue (asio's connect would wait).
  std::vector<int> queued;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(target.port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    queued.push_back(fd);
  }
  struct CloseAll {
    std::vector<int>& fds;
    ~CloseAll() {
      for (int fd : fds) ::close(fd);
    }
  } close_all{queued};
  std::this_thread::sleep_for(100ms);
  const auto started = std::chrono::steady_clock::now();
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, target.port(), ClientOptions{.connect_timeout = 300ms});
    HttpRequest request = get("/", 30s);
    co_return co_await client->send(request);
  });
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::Timeout) << r.error().message;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST(HttpClient, RejectsInvalidRequests) {
  TestServer server;
  HttpRequest invalid = get("/");
  invalid.method = "FROB";
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, server.port());
    co_return co_await client->send(invalid);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::InvalidRequest);
}

TEST(HttpClient, StreamsChunkedBodies) {
  TestServer server;
  auto body = run([&](asio::any_io_executor ex) -> asio::awaitable<std::string> {
    auto client = client_for(ex, server.port());
    auto stream = co_await client->open(get("/stream"));
    if (!stream) co_return "open failed: " + stream.error().message;
    EXPECT_EQ((*stream)->status(), 200);
    std::string all;
    for (;;) {
      auto piece = co_await (*stream)->read_some(2s);
      if (!piece) co_return "read failed: " + piece.error().message;
      if (piece->empty()) break;
      all.append(*piece);
    }
    co_return all;
  });
  EXPECT_EQ(body, "{\"a\":1}\n{\"b\":2}\n");
}

TEST(HttpClient, ShutdownFailsFurtherRequests) {
  TestServer server;
  auto r = run([&](asio::any_io_executor ex) -> asio::awaitable<Result<HttpResponse, NetError>> {
    auto client = client_for(ex, server.port());
    client->shutdown();
    co_return co_await client->send(get("/hello"));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, NetErrorKind::Cancelled);
}

// Sends one request and notes its body, or its error kind and message.
asio::awaitable<void> send_and_note(std::shared_ptr<HttpClient> client, HttpRequest request,
                                    std::shared_ptr<std::vector<std::string>> out) {
  auto r = co_await client->send(request);
  out->push_back(r.ok() ? r->body
                        : std::string(to_string(r.error().kind)) + ": " + r.error().message);
}

void spawn_sends(asio::any_io_executor ex, const std::shared_ptr<HttpClient>& client,
                 const std::string& target, std::chrono::milliseconds timeout, int count,
                 const std::shared_ptr<std::vector<std::string>>& out) {
  for (int i = 0; i < count; ++i) {
    HttpRequest request = get(target, timeout);
    asio::co_spawn(ex, send_and_note(client, request, out), asio::detached);
  }
}

std::shared_ptr<HttpClient> limited_client(asio::any_io_executor ex, std::uint16_t port,
                                           std::size_t max_exchanges) {
  ClientOptions options;
  options.max_exchanges = max_exchanges;
  return client_for(std::move(ex), port, options);
}

TEST(HttpClient, KeepsToItsLimitOfExchangesUnderWay) {
  TestServer server;
  auto out = std::make_shared<std::vector<std::string>>();
  run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = limited_client(ex, server.port(), 2);
    spawn_sends(ex, client, "/pause", 5s, 7, out);
    co_return true;
  });
  EXPECT_EQ(*out, std::vector<std::string>(7, "paused"));
  EXPECT_EQ(server.max_active(), 2);
  EXPECT_LE(server.connections(), 2);
}

TEST(HttpClient, WithoutALimitExchangesRunTogether) {
  TestServer server;
  auto out = std::make_shared<std::vector<std::string>>();
  run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = client_for(ex, server.port());
    spawn_sends(ex, client, "/pause", 5s, 4, out);
    co_return true;
  });
  EXPECT_EQ(*out, std::vector<std::string>(4, "paused"));
  EXPECT_EQ(server.max_active(), 4);
}

TEST(HttpClient, AWaitForAFreeExchangeEndsAtTheRequestsTimeout) {
  TestServer server;
  auto out = std::make_shared<std::vector<std::string>>();
  run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = limited_client(ex, server.port(), 1);
    spawn_sends(ex, client, "/slow", 5s, 1, out);
    spawn_sends(ex, client, "/hello", 100ms, 1, out);
    co_return true;
  });
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].rfind("Timeout: wait for a connection to http://127.0.0.1:", 0), 0u)
      << (*out)[0];
  EXPECT_NE((*out)[0].find("1 requests under way"), std::string::npos) << (*out)[0];
  EXPECT_EQ((*out)[1], "");  // the /slow answer has no body
}

// The wait for a free exchange counts against the request's timeout: 1.5 s,
// of which 1 s waiting behind /slow, leaves 0.5 s for its own 1 s answer.
TEST(HttpClient, AWaitForAFreeExchangeCountsAgainstTheTimeout) {
  TestServer server;
  auto out = std::make_shared<std::vector<std::string>>();
  run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = limited_client(ex, server.port(), 1);
    spawn_sends(ex, client, "/slow", 5s, 1, out);
    spawn_sends(ex, client, "/slow", 1500ms, 1, out);
    co_return true;
  });
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0], "");
  EXPECT_EQ((*out)[1].rfind("Timeout: ", 0), 0u) << (*out)[1];
}

TEST(HttpClient, ShutdownFailsRequestsWaitingForAnExchange) {
  TestServer server;
  auto out = std::make_shared<std::vector<std::string>>();
  run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = limited_client(ex, server.port(), 1);
    spawn_sends(ex, client, "/slow", 5s, 1, out);
    spawn_sends(ex, client, "/hello", 5s, 2, out);
    asio::steady_timer t(ex, 100ms);
    co_await t.async_wait(asio::use_awaitable);
    client->shutdown();
    co_return true;
  });
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].rfind("Cancelled: ", 0), 0u) << (*out)[0];
  EXPECT_EQ((*out)[1].rfind("Cancelled: ", 0), 0u) << (*out)[1];
  EXPECT_EQ((*out)[2], "");  // under way at the shutdown, /slow finishes (with no body)
}

TEST(HttpClient, ARequestAfterShutdownDoesNotWaitForAnExchange) {
  TestServer server;
  auto out = std::make_shared<std::vector<std::string>>();
  run([&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto client = limited_client(ex, server.port(), 1);
    spawn_sends(ex, client, "/slow", 5s, 1, out);
    asio::steady_timer t(ex, 100ms);
    co_await t.async_wait(asio::use_awaitable);
    client->shutdown();
    spawn_sends(ex, client, "/hello", 5s, 1, out);
    co_return true;
  });
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].rfind("Cancelled: ", 0), 0u) << (*out)[0];
  EXPECT_EQ((*out)[1], "");
}

}  // namespace
}  // namespace sto::net
