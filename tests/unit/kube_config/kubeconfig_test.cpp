// Loading kubeconfig files: context selection, cluster trust settings, user
// credentials, relative paths, and kubectl's merge of several files.
#include <gtest/gtest.h>

#include "kube/config.h"
#include "test_files.h"

namespace sto::kube {
namespace {

using testing::base64;
using testing::fill;
using testing::TempDir;
using testing::test_pems;

std::string auth(const ClusterConfig& c) {
  auto a = c.credentials->authorization();
  EXPECT_TRUE(a.ok()) << a.error();
  return a.ok() ? *a : std::string();
}

struct KubeconfigTest : ::testing::Test {
  TempDir dir;
  std::map<std::string, std::string> vars() const {
    const auto& p = test_pems();
    return {{"CA_DATA", base64(p.ca_cert)},
            {"CERT_DATA", base64(p.client_cert)},
            {"KEY_DATA", base64(p.client_key)},
            {"DIR", dir.path().string()}};
  }
  // Writes the kubeconfig (with $VARS filled in) and loads it.
  ClusterConfig load(const std::string& yaml, const std::string& context = "",
                     const std::string& name = "config") {
    auto path = dir.write(name, fill(yaml, vars()));
    auto config = load_kubeconfig_file(path, context);
    EXPECT_TRUE(config.ok()) << config.error();
    if (!config.ok()) return ClusterConfig{.credentials = no_credentials()};
    return std::move(config).value();
  }
};

constexpr const char* kTwoContexts = R"(
apiVersion: v1
kind: Config
current-context: a
clusters:
- name: cluster-a
  cluster:
    server: https://a.example.com:6443
- name: cluster-b
  cluster:
    server: https://b.example.com/k8s/clusters/c-1
contexts:
- name: a
  context: {cluster: cluster-a, user: alice, namespace: team-a}
- name: b
  context: {cluster: cluster-b, user: bob}
users:
- name: alice
  user: {token: alice-token}
- name: bob
  user: {token: bob-token}
)";

TEST_F(KubeconfigTest, CurrentContextChoosesClusterUserAndNamespace) {
  auto c = load(kTwoContexts);
  EXPECT_EQ(c.server.scheme, "https");
  EXPECT_EQ(c.server.host, "a.example.com");
  EXPECT_EQ(c.server.port, 6443);
  EXPECT_EQ(c.server.path, "/");
  EXPECT_TRUE(c.tls.verify_peer);
  EXPECT_TRUE(c.tls.use_system_store);  // no CA named: the system store
  EXPECT_EQ(c.tls.ca_pem, "");
  EXPECT_EQ(auth(c), "Bearer alice-token");
  EXPECT_EQ(c.namespace_, "team-a");
  EXPECT_EQ(c.source, "kubeconfig " + (dir.path() / "config").string() + " (context a)");
}

TEST_F(KubeconfigTest, NamedContextOverridesCurrentContext) {
  auto c = load(kTwoContexts, "b");
  EXPECT_EQ(c.server.host, "b.example.com");
  EXPECT_EQ(c.server.port, 443);
  EXPECT_EQ(c.server.path, "/k8s/clusters/c-1");
  EXPECT_EQ(auth(c), "Bearer bob-token");
  EXPECT_EQ(c.namespace_, "default");  // the context names none
  EXPECT_NE(c.source.find("(context b)"), std::string::npos);
}

TEST_F(KubeconfigTest, Ipv6ServerAndNoUserMeansAnonymous) {
  auto c = load(R"(
current-context: local
clusters: [{name: local, cluster: {server: "https://[::1]:6443"}}]
contexts: [{name: local, context: {cluster: local}}]
)");
  EXPECT_EQ(c.server.host, "::1");
  EXPECT_EQ(c.server.port, 6443);
  EXPECT_EQ(c.server.origin(), "https://[::1]:6443");
  ASSERT_NE(c.credentials, nullptr);
  EXPECT_EQ(auth(c), "");
}

TEST_F(KubeconfigTest, CertificateAuthorityDataIsTheOnlyTrustedCa) {
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: $CA_DATA}}]
contexts: [{name: x, context: {cluster: x}}]
)");
  EXPECT_EQ(c.tls.ca_pem, test_pems().ca_cert);
  EXPECT_FALSE(c.tls.use_system_store);
  EXPECT_TRUE(c.tls.verify_peer);
}

TEST_F(KubeconfigTest, CertificateAuthorityFileIsRelativeToTheKubeconfig) {
  dir.write("kube/pki/ca.crt", test_pems().ca_cert);
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://10.0.0.1:6443", certificate-authority: pki/ca.crt}}]
contexts: [{name: x, context: {cluster: x}}]
)",
                "", "kube/config");
  EXPECT_EQ(c.tls.ca_pem, test_pems().ca_cert);
  EXPECT_FALSE(c.tls.use_system_store);
}

TEST_F(KubeconfigTest, CertificateAuthorityFileByAbsolutePath) {
  dir.write("elsewhere/ca.pem", test_pems().ca_cert);
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://h:1", certificate-authority: $DIR/elsewhere/ca.pem}}]
contexts: [{name: x, context: {cluster: x}}]
)",
                "", "kube/config");
  EXPECT_EQ(c.tls.ca_pem, test_pems().ca_cert);
}

TEST_F(KubeconfigTest, InsecureSkipTlsVerify) {
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://h:1", insecure-skip-tls-verify: true}}]
contexts: [{name: x, context: {cluster: x}}]
)");
  EXPECT_FALSE(c.tls.verify_peer);
}

TEST_F(KubeconfigTest, TlsServerName) {
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://127.0.0.1:6443", tls-server-name: kubernetes.default.svc}}]
contexts: [{name: x, context: {cluster: x}}]
)");
  EXPECT_EQ(c.tls.server_name, "kubernetes.default.svc");
  EXPECT_EQ(c.server.host, "127.0.0.1");
}

TEST_F(KubeconfigTest, ClientCertificateAndKeyData) {
  auto c = load(R"(
current-context: admin
clusters: [{name: x, cluster: {server: "https://h:6443", certificate-authority-data: $CA_DATA}}]
contexts: [{name: admin, context: {cluster: x, user: admin}}]
users: [{name: admin, user: {client-certificate-data: $CERT_DATA, client-key-data: $KEY_DATA}}]
)");
  EXPECT_EQ(c.tls.client_cert_pem, test_pems().client_cert);
  EXPECT_EQ(c.tls.client_key_pem, test_pems().client_key);
  EXPECT_EQ(auth(c), "");  // certificate only
}

TEST_F(KubeconfigTest, ClientCertificateAndKeyFilesRelativeToTheKubeconfig) {
  dir.write("kube/admin.crt", test_pems().client_cert);
  dir.write("kube/admin.key", test_pems().client_key);
  auto c = load(R"(
current-context: admin
clusters: [{name: x, cluster: {server: "https://h:6443"}}]
contexts: [{name: admin, context: {cluster: x, user: admin}}]
users: [{name: admin, user: {client-certificate: admin.crt, client-key: ./admin.key}}]
)",
                "", "kube/config");
  EXPECT_EQ(c.tls.client_cert_pem, test_pems().client_cert);
  EXPECT_EQ(c.tls.client_key_pem, test_pems().client_key);
}

TEST_F(KubeconfigTest, Base64DataMayBeWrapped) {
  std::string wrapped = base64(test_pems().ca_cert);
  for (std::size_t i = 64; i < wrapped.size(); i += 65) wrapped.insert(i, "\n      ");
  auto c = load(
      "current-context: x\nclusters:\n- name: x\n  cluster:\n    server: https://h\n"
      "    certificate-authority-data: |\n      " +
      wrapped + "\ncontexts: [{name: x, context: {cluster: x}}]\n");
  EXPECT_EQ(c.tls.ca_pem, test_pems().ca_cert);
}

TEST_F(KubeconfigTest, TokenFileIsRelativeAndFollowsRotation) {
  auto token = dir.write("kube/token", "first\n");
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://h:6443"}}]
contexts: [{name: x, context: {cluster: x, user: u}}]
users: [{name: u, user: {tokenFile: token}}]
)",
                "", "kube/config");
  EXPECT_EQ(auth(c), "Bearer first");
  dir.write("kube/token", "second-token\n");  // a different size: seen at once
  EXPECT_EQ(auth(c), "Bearer second-token");
}

TEST_F(KubeconfigTest, TokenWinsOverTokenFile) {
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://h:6443"}}]
contexts: [{name: x, context: {cluster: x, user: u}}]
users: [{name: u, user: {token: inline, tokenFile: /nonexistent}}]
)");
  EXPECT_EQ(auth(c), "Bearer inline");
}

TEST_F(KubeconfigTest, ExecPluginRelativeToTheKubeconfigWithClusterInfo) {
  dir.write("kube/bin/auth.sh", R"(#!/bin/sh
printf '%s' "$KUBERNETES_EXEC_INFO" > "$(dirname "$0")/info"
echo "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"$1-$MODE\"}}"
)",
            0755);
  auto c = load(R"(
current-context: x
clusters: [{name: x, cluster: {server: "https://h:6443", tls-server-name: api.internal}}]
contexts: [{name: x, context: {cluster: x, user: u}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/auth.sh
      args: [from-plugin]
      env: [{name: MODE, value: fast}]
      installHint: see docs
      provideClusterInfo: true
      interactiveMode: Never
)",
                "", "kube/config");
  EXPECT_EQ(auth(c), "Bearer from-plugin-fast");
  std::string info = testing::read_text((dir.path() / "kube/bin/info").string());
  EXPECT_NE(info.find(R"("server":"https://h:6443")"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("tls-server-name":"api.internal")"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("interactive":false)"), std::string::npos) << info;
}

// kubectl's merge: the first file to define a name (or current-context) wins;
// relative paths belong to the file that defined the entry.
TEST_F(KubeconfigTest, SeveralFilesMergeFirstWins) {
  auto first = dir.write("one/config", R"(
current-context: dev
clusters: [{name: shared, cluster: {server: "https://first:6443"}}]
users: [{name: dev-user, user: {tokenFile: token}}]
)");
  dir.write("one/token", "from-one");
  auto second = dir.write("two/config", R"(
current-context: prod
clusters:
- {name: shared, cluster: {server: "https://second:6443"}}
- {name: only-second, cluster: {server: "https://only-second:6443"}}
contexts:
- {name: dev, context: {cluster: shared, user: dev-user, namespace: dev}}
- {name: prod, context: {cluster: only-second, user: prod-user}}
users:
- {name: dev-user, user: {token: shadowed}}
- {name: prod-user, user: {tokenFile: token}}
)");
  dir.write("two/token", "from-two");

  auto dev = load_kubeconfig_files({first, second});
  ASSERT_TRUE(dev.ok()) << dev.error();
  EXPECT_EQ(dev->server.host, "first");
  EXPECT_EQ(*dev->credentials->authorization(), "Bearer from-one");
  EXPECT_EQ(dev->namespace_, "dev");
  EXPECT_EQ(dev->source, "kubeconfig " + first + ":" + second + " (context dev)");

  auto prod = load_kubeconfig_files({first, second}, "prod");
  ASSERT_TRUE(prod.ok()) << prod.error();
  EXPECT_EQ(prod->server.host, "only-second");
  EXPECT_EQ(*prod->credentials->authorization(), "Bearer from-two");
}

}  // namespace
}  // namespace sto::kube
