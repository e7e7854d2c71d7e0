// HttpServer with --metrics-secure's pieces: HTTPS with the self-signed
// certificate, and /metrics behind a bearer-token authorizer (the probes
// stay open); and the TLS identity from a certificate directory.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/x509.h>

#include "server/http_server.h"
#include "server/metrics.h"
#include "server/tls.h"

namespace sto::server {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Answer {
  int status = 0;  // 0: no answer (handshake failed, connection closed)
  std::string body;
  std::string www_authenticate;
};

// One HTTPS request on a new connection, certificate not verified (it is
// self-signed); the Authorization header as given, none when empty.
// (String views of literals: GCC 12 mishandles class-type prvalue arguments
// of coroutines.)
asio::awaitable<Answer> https_request(asio::io_context& io, std::uint16_t port,
                                      std::string_view target, std::string_view authorization,
                                      http::verb method = http::verb::get) {
  Answer out;
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);
  ssl::stream<tcp::socket> s(io, ctx);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  auto [cec] = co_await s.next_layer().async_connect(ep, use_tuple);
  if (cec) co_return out;
  auto [hec] = co_await s.async_handshake(ssl::stream_base::client, use_tuple);
  if (hec) co_return out;
  http::request<http::empty_body> req{method, std::string(target), 11};
  req.set(http::field::host, "test");
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  auto [wec, wn] = co_await http::async_write(s, req, use_tuple);
  if (wec) co_return out;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.skip(method == http::verb::head);
  auto [rec, rn] = co_await http::async_read(s, buffer, parser, use_tuple);
  if (rec) co_return out;
  auto res = parser.release();
  out.status = res.result_int();
  out.body = res.body();
  out.www_authenticate = std::string(res[http::field::www_authenticate]);
  co_return out;
}

// A plain-HTTP request to the port: the status, 0 when not answered.
asio::awaitable<int> plain_request(asio::io_context& io, std::uint16_t port) {
  tcp::socket s(io);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  auto [cec] = co_await s.async_connect(ep, use_tuple);
  if (cec) co_return 0;
  std::string raw = "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
  auto buf = asio::buffer(raw);
  auto [wec, wn] = co_await asio::async_write(s, buf, use_tuple);
  if (wec) co_return 0;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  auto [rec, rn] = co_await http::async_read(s, buffer, res, use_tuple);
  if (rec) co_return 0;
  co_return res.result_int();
}

class HttpsMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry.counter("sysdigtoken_rotations_total", "Rotations.").with().inc();
    auto tls = self_signed_server_tls();
    ASSERT_TRUE(tls) << tls.error();
    EXPECT_EQ(tls->source, "self-signed");
    EXPECT_EQ(tls->fingerprint.rfind("sha256:", 0), 0u);
    server = std::make_unique<HttpServer>(io.get_executor());
    server->serve_metrics(registry);
    server->serve_health();
    server->use_tls(tls->context);
    server->require_authorization([this](const std::string& token) -> asio::awaitable<AuthDecision> {
      seen.push_back(token);
      // A review takes a moment (the API server is asked).
      asio::steady_timer t(io, 5ms);
      co_await t.async_wait(asio::use_awaitable);
      if (token == "good-token") co_return AuthDecision::Allowed;
      if (token == "nobody-token") co_return AuthDecision::Forbidden;
      co_return AuthDecision::Unauthenticated;
    });
    auto r = server->start(BindAddress{"127.0.0.1", 0});
    ASSERT_TRUE(r) << r.error();
    port = server->port();
  }

  template <typename F>
  void run(F body) {
    std::exception_ptr error;
    asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
      error = e;
      server->stop();
    });
    io.run_for(10s);
    if (error) std::rethrow_exception(error);
  }

  asio::io_context io;
  Registry registry;
  std::unique_ptr<HttpServer> server;
  std::uint16_t port = 0;
  std::vector<std::string> seen;  // tokens the authorizer was asked about
};

TEST_F(HttpsMetricsTest, MetricsNeedAnAllowedBearerToken) {
  run([&]() -> asio::awaitable<void> {
    Answer none = co_await https_request(io, port, "/metrics", "");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.www_authenticate, "Bearer realm=\"metrics\"");
    EXPECT_EQ(none.body.find("sysdigtoken_"), std::string::npos);

    Answer basic = co_await https_request(io, port, "/metrics", "Basic Z29vZC10b2tlbjo=");
    EXPECT_EQ(basic.status, 401);
    Answer unknown = co_await https_request(io, port, "/metrics", "Bearer forged");
    EXPECT_EQ(unknown.status, 401);
    Answer forbidden = co_await https_request(io, port, "/metrics", "Bearer nobody-token");
    EXPECT_EQ(forbidden.status, 403);
    EXPECT_EQ(forbidden.body.find("sysdigtoken_"), std::string::npos);

    Answer allowed = co_await https_request(io, port, "/metrics", "Bearer good-token");
    EXPECT_EQ(allowed.status, 200);
    EXPECT_NE(allowed.body.find("sysdigtoken_rotations_total 1"), std::string::npos);
    // The scheme is case-insensitive; blanks around the token do not count.
    Answer lower = co_await https_request(io, port, "/metrics?x=1", "bearer   good-token  ");
    EXPECT_EQ(lower.status, 200);
    Answer head = co_await https_request(io, port, "/metrics", "", http::verb::head);
    EXPECT_EQ(head.status, 401);
  });
  // Without a Bearer header the authorizer is asked with an empty token.
  EXPECT_EQ(seen, (std::vector<std::string>{"", "", "forged", "nobody-token", "good-token",
                                            "good-token", ""}));
}

TEST_F(HttpsMetricsTest, ProbesAndUnknownPathsNeedNoToken) {
  run([&]() -> asio::awaitable<void> {
    Answer healthz = co_await https_request(io, port, "/healthz", "");
    EXPECT_EQ(healthz.status, 200);
    Answer readyz = co_await https_request(io, port, "/readyz", "");
    EXPECT_EQ(readyz.status, 200);
    Answer missing = co_await https_request(io, port, "/nope", "");
    EXPECT_EQ(missing.status, 404);
  });
  EXPECT_TRUE(seen.empty());
}

TEST_F(HttpsMetricsTest, PlainHttpGetsNoAnswer) {
  run([&]() -> asio::awaitable<void> {
    int status = co_await plain_request(io, port);
    EXPECT_EQ(status, 0);
    // The server still serves HTTPS afterwards.
    Answer allowed = co_await https_request(io, port, "/metrics", "Bearer good-token");
    EXPECT_EQ(allowed.status, 200);
  });
}

// ---------------------------------------------------------------- cert dir

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("sto-tls-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
  }
};

TEST(ServerTlsFromDir, MissingFilesAreNamed) {
  TempDir dir;
  auto r = server_tls_from_dir(dir.path.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find((dir.path / "tls.crt").string() + " is missing"), std::string::npos)
      << r.error();
  dir.write("tls.crt", "x");
  r = server_tls_from_dir(dir.path.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find((dir.path / "tls.key").string() + " is missing"), std::string::npos)
      << r.error();
}

TEST(ServerTlsFromDir, GarbageIsNotACertificate) {
  TempDir dir;
  dir.write("tls.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  dir.write("tls.key", "garbage");
  auto r = server_tls_from_dir(dir.path.string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("tls.crt is not a PEM certificate"), std::string::npos) << r.error();
}

// A new key pair in `dir` (tls.crt, tls.key), each file written beside and
// renamed over the old one, as a Secret volume update replaces them.
void new_certificate(const TempDir& dir, const std::string& cn) {
  const std::string tmp = (dir.path / ".new").string();
  std::filesystem::create_directories(tmp);
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                          "-days 1 -subj /CN=" + cn + " -keyout " + tmp + "/tls.key -out " + tmp +
                          "/tls.crt 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::filesystem::rename(tmp + "/tls.key", dir.path / "tls.key");
  std::filesystem::rename(tmp + "/tls.crt", dir.path / "tls.crt");
}

TEST(CertDirWatch, LoadsARenewedCertificateOnceAndKeepsTheOldOneOnGarbage) {
  TempDir dir;
  new_certificate(dir, "first");
  const std::string dirname = dir.path.string();
  auto first = server_tls_from_dir(dirname);
  ASSERT_TRUE(first) << first.error();
  CertDirWatch watch(dirname, cert_dir_version(dirname));
  auto unchanged = watch.poll();
  ASSERT_TRUE(unchanged);
  EXPECT_FALSE(unchanged->has_value());

  new_certificate(dir, "second");
  auto renewed = watch.poll();
  ASSERT_TRUE(renewed) << renewed.error();
  ASSERT_TRUE(renewed->has_value());
  EXPECT_NE((*renewed)->fingerprint, first->fingerprint);
  EXPECT_FALSE(watch.poll()->has_value()) << "the same change loaded twice";

  // A broken update is reported once; the caller keeps serving the old one.
  std::ofstream(dir.path / "tls.crt.tmp") << "not a certificate";
  std::filesystem::rename(dir.path / "tls.crt.tmp", dir.path / "tls.crt");
  auto broken = watch.poll();
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().find("tls.crt is not a PEM certificate"), std::string::npos)
      << broken.error();
  auto again = watch.poll();
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());

  // Files missing in the middle of an update are waited for.
  std::filesystem::remove(dir.path / "tls.key");
  auto missing = watch.poll();
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  new_certificate(dir, "third");
  auto fixed = watch.poll();
  ASSERT_TRUE(fixed) << fixed.error();
  ASSERT_TRUE(fixed->has_value());
  EXPECT_NE((*fixed)->fingerprint, (*renewed)->fingerprint);
}

}  // namespace
}  // namespace sto::server
