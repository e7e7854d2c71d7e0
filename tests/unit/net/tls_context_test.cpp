// TlsContext: one OpenSSL client context (and its CA store) shared by many
// HttpClients; and the helpers that clear secrets from memory.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/secure_string.h"
#include "net/http_client.h"

namespace sto::net {
namespace {

namespace asio = boost::asio;

TEST(TlsContext, OneContextServesClientsOfManyOrigins) {
  asio::io_context io;
  const std::size_t before = TlsContext::live_count();
  auto context = TlsContext::create(TlsConfig{});
  ASSERT_TRUE(context.ok()) << context.error().message;
  std::shared_ptr<TlsContext> shared = std::move(context).value();
  std::vector<std::shared_ptr<HttpClient>> clients;
  for (int port = 1000; port < 1100; ++port) {
    auto url = Url::parse("https://iam.example:" + std::to_string(port));
    auto client = HttpClient::create(io.get_executor(), *url, shared);
    ASSERT_TRUE(client.ok()) << client.error().message;
    EXPECT_EQ((*client)->tls_context(), shared.get());
    clients.push_back(*client);
  }
  EXPECT_EQ(TlsContext::live_count(), before + 1);
  clients.clear();
  shared.reset();
  EXPECT_EQ(TlsContext::live_count(), before);
}

TEST(TlsContext, AClientWithItsOwnSettingsBuildsItsOwn) {
  asio::io_context io;
  const std::size_t before = TlsContext::live_count();
  auto url = Url::parse("https://kube.example:6443");
  auto client = HttpClient::create(io.get_executor(), *url, TlsConfig{});
  ASSERT_TRUE(client.ok());
  EXPECT_NE((*client)->tls_context(), nullptr);
  EXPECT_EQ(TlsContext::live_count(), before + 1);
  auto plain = HttpClient::create(io.get_executor(), *Url::parse("http://127.0.0.1:1"), TlsConfig{});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->tls_context(), nullptr);
}

TEST(TlsContext, AnHttpsOriginNeedsAContext) {
  asio::io_context io;
  auto url = Url::parse("https://iam.example");
  auto client = HttpClient::create(io.get_executor(), *url, std::shared_ptr<TlsContext>());
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().kind, NetErrorKind::InvalidRequest);
}

TEST(TlsContext, InvalidSettingsAreRefused) {
  TlsConfig bad_ca;
  bad_ca.ca_pem = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
  auto context = TlsContext::create(bad_ca);
  ASSERT_FALSE(context.ok());
  EXPECT_EQ(context.error().kind, NetErrorKind::Tls);
  TlsConfig bad_key;
  bad_key.client_key_pem = "not a key";
  EXPECT_FALSE(TlsContext::create(bad_key).ok());
}

TEST(SecureString, CleanseOverwritesTheWholeBuffer) {
  std::string secret(100, 'k');
  secret.resize(10);  // 90 bytes of the old value are still in the buffer
  const char* buffer = secret.data();
  const std::size_t capacity = secret.capacity();
  cleanse(secret);
  EXPECT_TRUE(secret.empty());
  EXPECT_EQ(secret.data(), buffer);  // same buffer, not a new one
  for (std::size_t i = 0; i < capacity; ++i) ASSERT_NE(buffer[i], 'k') << i;
}

TEST(SecureString, MovedFromAndScopedStringsAreCleared) {
  SecureString a(std::string(64, 's'));
  SecureString b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): what is checked
  EXPECT_EQ(b.view(), std::string(64, 's'));
  SecureString c(b);
  EXPECT_EQ(c.str(), b.str());
  std::string body = "grant_type=x&apikey=" + std::string(40, 'k');
  {
    CleanseOnExit wipe(body);
  }
  EXPECT_TRUE(body.empty());
}

}  // namespace
}  // namespace sto::net
