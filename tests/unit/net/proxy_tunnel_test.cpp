// HttpClient through an HTTP proxy: a small CONNECT proxy in the test
// records what it is asked and splices bytes to the fake IBM Cloud (TLS);
// it can demand credentials or refuse the tunnel.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "fake_ibm_cloud_process.h"
#include "net/http_client.h"
#include "run_coroutine.h"

namespace sto::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using sto::testing::run;

constexpr const char* kUser = "proxy-user";
constexpr const char* kPassword = "pr0xy-S3cret!";

class ConnectProxy {
 public:
  enum class Mode { Tunnel, Refuse502 };

  explicit ConnectProxy(Mode mode = Mode::Tunnel, std::string required_authorization = "")
      : mode_(mode),
        required_(std::move(required_authorization)),
        acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~ConnectProxy() {
    ioc_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  struct Seen {
    std::string method, target, host, authorization;
  };
  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int tunnels() const { return tunnels_.load(); }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
      asio::co_spawn(ioc_, serve(std::make_shared<tcp::socket>(std::move(socket))),
                     asio::detached);
    }
  }

  static asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from,
                                    std::shared_ptr<tcp::socket> to) {
    std::array<char, 16 * 1024> data{};
    for (;;) {
      auto [rec, n] =
          co_await from->async_read_some(asio::buffer(data), asio::as_tuple(asio::use_awaitable));
      if (rec) break;
      auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(data.data(), n),
                                                  asio::as_tuple(asio::use_awaitable));
      (void)wn;
      if (wec) break;
    }
    boost::system::error_code ignored;
    to->shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> answer(tcp::socket& socket, http::status status) {
    http::response<http::string_body> res{status, 11};
    if (status == http::status::proxy_authentication_required) {
      res.set(http::field::proxy_authenticate, "Basic realm=\"test\"");
    }
    res.body() = "<html>no</html>";
    res.prepare_payload();
    co_await http::async_write(socket, res, asio::as_tuple(asio::use_awaitable));
  }

  asio::awaitable<void> serve(std::shared_ptr<tcp::socket> client) {
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.skip(true);
    auto [ec, n] = co_await http::async_read(*client, buffer, parser,
                                             asio::as_tuple(asio::use_awaitable));
    (void)n;
    if (ec) co_return;
    const auto& req = parser.get();
    Seen s{std::string(req.method_string()), std::string(req.target()),
           std::string(req[http::field::host]),
           std::string(req[http::field::proxy_authorization])};
    {
      std::lock_guard lock(mutex_);
      seen_.push_back(s);
    }
    if (mode_ == Mode::Refuse502) {
      co_await answer(*client, http::status::bad_gateway);
      co_return;
    }
    if (!required_.empty() && s.authorization != required_) {
      co_await answer(*client, http::status::proxy_authentication_required);
      co_return;
    }
    auto colon = s.target.rfind(':');
    std::string host = s.target.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    tcp::resolver resolver(ioc_);
    auto [rec, endpoints] = co_await resolver.async_resolve(
        host, s.target.substr(colon + 1), asio::as_tuple(asio::use_awaitable));
    auto upstream = std::make_shared<tcp::socket>(ioc_);
    if (!rec) {
      auto [cec, ep] =
          co_await asio::async_connect(*upstream, endpoints, asio::as_tuple(asio::use_awaitable));
      (void)ep;
      rec = cec;
    }
    if (rec) {
      co_await answer(*client, http::status::bad_gateway);
      co_return;
    }
    ++tunnels_;
    const std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
    co_await asio::async_write(*client, asio::buffer(ok), asio::as_tuple(asio::use_awaitable));
    asio::co_spawn(ioc_, pump(client, upstream), asio::detached);
    co_await pump(upstream, client);
  }

  Mode mode_;
  std::string required_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<Seen> seen_;
  std::atomic<int> tunnels_{0};
  std::thread thread_;
};

std::string basic(const std::string& user, const std::string& password) {
  auto p = parse_proxy_url("http://" + user + ":" + password + "@x:1", "test", 1);
  return p->authorization();
}

class ProxyTunnel : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      fake_ = std::make_unique<sto::testing::FakeIbmCloudProcess>("apiKeys: []\ninstances: []\n");
    } catch (const std::exception& e) {
      FAIL() << "cannot start fake-ibm-cloud: " << e.what();
    }
  }

  // The client of `origin_host` on the fake's port, through `proxy_url`.
  std::shared_ptr<HttpClient> client(asio::any_io_executor ex, const std::string& proxy_url,
                                     const std::string& origin_host = "localhost") {
    auto origin = Url::parse("https://" + origin_host + ":" + std::to_string(fake_->port()));
    TlsConfig tls;
    tls.ca_pem = fake_->ca_pem();
    ClientOptions options;
    options.connect_timeout = 5s;
    auto proxy = parse_proxy_url(proxy_url, "HTTPS_PROXY", 1080);
    EXPECT_TRUE(proxy.ok()) << proxy.error();
    options.proxy = std::move(proxy).value();
    auto c = HttpClient::create(ex, *origin, tls, options);
    EXPECT_TRUE(c.ok());
    return c.value();
  }

  std::string authority() const { return "localhost:" + std::to_string(fake_->port()); }

  static HttpRequest requests() {
    HttpRequest r;
    r.target = "/_fake/requests";
    r.timeout = 10s;
    return r;
  }

  std::unique_ptr<sto::testing::FakeIbmCloudProcess> fake_;
};

TEST_F(ProxyTunnel, TlsToTheOriginThroughTheTunnelWithKeepAlive) {
  ConnectProxy proxy;
  auto statuses = run([&](asio::any_io_executor ex) -> asio::awaitable<std::vector<std::string>> {
    auto c = client(ex, proxy.url());
    std::vector<std::string> out;
    for (int i = 0; i < 3; ++i) {
      auto request = requests();
      auto r = co_await c->send(request);
      out.push_back(r.ok() ? std::to_string(r->status) : r.error().message);
    }
    co_return out;
  });
  EXPECT_EQ(statuses, std::vector<std::string>(3, "200"));
  auto seen = proxy.seen();
  ASSERT_EQ(seen.size(), 1u);  // one tunnel, reused
  EXPECT_EQ(seen[0].method, "CONNECT");
  EXPECT_EQ(seen[0].target, authority());
  EXPECT_EQ(seen[0].host, authority());
  EXPECT_EQ(seen[0].authorization, "");
}

TEST_F(ProxyTunnel, StreamsThroughTheTunnel) {
  ConnectProxy proxy;
  auto body = run([&](asio::any_io_executor ex) -> asio::awaitable<std::string> {
    auto c = client(ex, proxy.url());
    auto request = requests();
    auto stream = co_await c->open(request);
    if (!stream) co_return "error: " + stream.error().message;
    std::string out;
    for (;;) {
      auto piece = co_await (*stream)->read_some(5s);
      if (!piece) co_return "error: " + piece.error().message;
      if (piece->empty()) break;
      out += *piece;
    }
    co_return out;
  });
  EXPECT_EQ(body.rfind("error", 0), std::string::npos) << body;
  EXPECT_FALSE(body.empty());
  EXPECT_EQ(proxy.tunnels(), 1);
}

TEST_F(ProxyTunnel, SendsBasicCredentials) {
  ConnectProxy proxy(ConnectProxy::Mode::Tunnel, basic(kUser, kPassword));
  // The password percent-encoded in the URL, as it must be ('!' need not).
  const std::string url = "http://" + std::string(kUser) + ":pr0xy-S3cret%21@127.0.0.1:" +
                          std::to_string(proxy.port());
  auto status = run([&](asio::any_io_executor ex) -> asio::awaitable<std::string> {
    auto c = client(ex, url);
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? std::to_string(r->status) : r.error().message;
  });
  EXPECT_EQ(status, "200");
  ASSERT_EQ(proxy.seen().size(), 1u);
  EXPECT_EQ(proxy.seen()[0].authorization, basic(kUser, kPassword));
}

TEST_F(ProxyTunnel, AProxyThatWantsCredentialsIsNamed) {
  ConnectProxy proxy(ConnectProxy::Mode::Tunnel, basic(kUser, kPassword));
  auto error = run([&](asio::any_io_executor ex) -> asio::awaitable<NetError> {
    auto c = client(ex, proxy.url());
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? NetError{} : r.error();
  });
  EXPECT_EQ(error.kind, NetErrorKind::Proxy);
  EXPECT_NE(error.message.find("proxy " + proxy.url() + " requires authentication"),
            std::string::npos)
      << error.message;
  EXPECT_NE(error.message.find("407"), std::string::npos) << error.message;
}

TEST_F(ProxyTunnel, RefusedCredentialsNeverAppearInTheError) {
  ConnectProxy proxy(ConnectProxy::Mode::Tunnel, basic(kUser, kPassword));
  const std::string wrong = "Wr0ng-pa55word";
  const std::string url = "http://" + std::string(kUser) + ":" + wrong + "@127.0.0.1:" +
                          std::to_string(proxy.port());
  auto error = run([&](asio::any_io_executor ex) -> asio::awaitable<NetError> {
    auto c = client(ex, url);
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? NetError{} : r.error();
  });
  EXPECT_EQ(error.kind, NetErrorKind::Proxy);
  EXPECT_NE(error.message.find("proxy " + proxy.url() + " refused the credentials"),
            std::string::npos)
      << error.message;
  for (const std::string& secret : {wrong, std::string(kUser), basic(kUser, wrong),
                                    basic(kUser, wrong).substr(6)}) {
    EXPECT_EQ(error.message.find(secret), std::string::npos) << error.message;
  }
}

TEST_F(ProxyTunnel, AnyOtherRefusalNamesTheStatus) {
  ConnectProxy proxy(ConnectProxy::Mode::Refuse502);
  auto error = run([&](asio::any_io_executor ex) -> asio::awaitable<NetError> {
    auto c = client(ex, proxy.url());
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? NetError{} : r.error();
  });
  EXPECT_EQ(error.kind, NetErrorKind::Proxy);
  EXPECT_NE(error.message.find("proxy " + proxy.url() + " answered 502 Bad Gateway to CONNECT " +
                               authority()),
            std::string::npos)
      << error.message;
}

TEST_F(ProxyTunnel, AProxyThatIsDownIsNamed) {
  std::uint16_t closed_port = 0;
  {
    asio::io_context io;
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = a.local_endpoint().port();
  }
  const std::string url = "http://someone:" + std::string(kPassword) + "@127.0.0.1:" +
                          std::to_string(closed_port);
  auto error = run([&](asio::any_io_executor ex) -> asio::awaitable<NetError> {
    auto c = client(ex, url);
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? NetError{} : r.error();
  });
  EXPECT_EQ(error.kind, NetErrorKind::Connect);
  EXPECT_NE(error.message.find("connect to proxy http://127.0.0.1:" + std::to_string(closed_port)),
            std::string::npos)
      << error.message;
  EXPECT_EQ(error.message.find(kPassword), std::string::npos) << error.message;
}

TEST_F(ProxyTunnel, AnHttpOriginIsReachedThroughATunnelToo) {
  // The plain-HTTP origin is another test proxy: it records the request that
  // came through the tunnel (a GET in origin form) and answers it 502.
  ConnectProxy proxy;
  ConnectProxy origin(ConnectProxy::Mode::Refuse502);
  auto status = run([&](asio::any_io_executor ex) -> asio::awaitable<std::string> {
    ClientOptions options;
    options.proxy = parse_proxy_url(proxy.url(), "HTTPS_PROXY", 1080).value();
    auto c = HttpClient::create(ex, *Url::parse(origin.url()), TlsConfig{}, options).value();
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? std::to_string(r->status) : r.error().message;
  });
  EXPECT_EQ(status, "502");
  ASSERT_EQ(proxy.seen().size(), 1u);
  EXPECT_EQ(proxy.seen()[0].target, "127.0.0.1:" + std::to_string(origin.port()));
  ASSERT_EQ(origin.seen().size(), 1u);
  EXPECT_EQ(origin.seen()[0].method, "GET");
  EXPECT_EQ(origin.seen()[0].target, "/_fake/requests");
  EXPECT_EQ(origin.seen()[0].host, "127.0.0.1:" + std::to_string(origin.port()));
}

TEST_F(ProxyTunnel, TheOriginIsVerifiedNotTheProxy) {
  // The fake's certificate names localhost and 127.0.0.1, not this name: the
  // handshake through the tunnel checks the origin's name.
  ConnectProxy proxy;
  auto error = run([&](asio::any_io_executor ex) -> asio::awaitable<NetError> {
    auto origin = Url::parse("https://localhost:" + std::to_string(fake_->port()));
    TlsConfig tls;
    tls.ca_pem = fake_->ca_pem();
    tls.server_name = "iam.cloud.ibm.com";
    ClientOptions options;
    options.proxy = parse_proxy_url(proxy.url(), "HTTPS_PROXY", 1080).value();
    auto c = HttpClient::create(ex, *origin, tls, options).value();
    auto request = requests();
    auto r = co_await c->send(request);
    co_return r.ok() ? NetError{} : r.error();
  });
  EXPECT_EQ(error.kind, NetErrorKind::Tls) << error.message;
  EXPECT_EQ(proxy.tunnels(), 1);
}

}  // namespace
}  // namespace sto::net
