// Broken kubeconfigs: every error names the file and the field, so that a
// person can fix it without guessing.
#include <gtest/gtest.h>

#include <vector>

#include "kube/config.h"
#include "test_files.h"

namespace sto::kube {
namespace {

using testing::base64;
using testing::fill;
using testing::TempDir;
using testing::test_pems;

struct Broken {
  const char* name;
  std::string yaml;      // $VARS are filled in; $FILE is the kubeconfig's path
  const char* expected;  // after "kubeconfig <file>: "
  const char* context = "";
};

// A valid cluster/context/user skeleton the cases below break piece by piece.
constexpr const char* kHead = R"(
current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
)";

std::string with_head(const char* rest) { return std::string(kHead) + rest; }

const std::vector<Broken> kCases = {
    {"InvalidYaml", "clusters:\n- name: a\n  cluster: {server: https://h\n",
     "invalid YAML at line 4, column 1:"},
    {"TabIndentedYaml", "clusters:\n\t- name: a\n", "invalid YAML at line 2"},
    {"EmptyFile", "", "the file is empty"},
    {"TopLevelNotAMapping", "- a\n- b\n", "the top level is not a mapping"},
    {"NotAConfig", "kind: Pod\n", "kind: \"Pod\" is not Config"},
    {"CurrentContextNotAString", "current-context: [a]\n", "current-context: is not a string"},
    {"ClustersNotAList", "clusters: {c: {server: https://h}}\n", "clusters: is not a list"},
    {"ContextsNotAList", "contexts: x\n", "contexts: is not a list"},
    {"UsersNotAList", "users: {}\n", "users: is not a list"},
    {"ClusterEntryNotAMapping", "clusters: [c]\n", "clusters[0]: is not a mapping"},
    {"ClusterNameMissing", "clusters: [{cluster: {server: https://h}}]\n",
     "clusters[0].name: missing"},
    {"ClusterNameNotAString", "clusters: [{name: [a], cluster: {server: https://h}}]\n",
     "clusters[0].name: is not a string"},
    {"DuplicateClusterName",
     "clusters: [{name: c, cluster: {server: https://a}}, {name: c, cluster: {server: "
     "https://b}}]\n",
     "clusters[1].name: duplicate name \"c\" (also clusters[0])"},
    {"ClusterBodyNotAMapping", "clusters: [{name: c, cluster: [https://h]}]\n",
     "clusters[0].cluster: is not a mapping"},
    {"CurrentContextNotSet", "clusters: [{name: c, cluster: {server: https://h}}]\n",
     "current-context is not set"},
    {"CurrentContextUnknown",
     "current-context: nope\ncontexts: [{name: x, context: {cluster: c}}]\n",
     "current-context: context \"nope\" not found"},
    {"NamedContextUnknown", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
     "context \"foo\" not found", "foo"},
    {"ContextBodyMissing", "current-context: x\ncontexts: [{name: x}]\n",
     "contexts[0].context: missing"},
    {"ContextWithoutCluster", "current-context: x\ncontexts: [{name: x, context: {user: u}}]\n",
     "contexts[0].context.cluster: missing"},
    {"MissingClusters", with_head("users: [{name: u, user: {token: t}}]\n"),
     "contexts[0].context.cluster: cluster \"c\" not found"},
    {"UserMissing", with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"),
     "contexts[0].context.user: user \"u\" not found"},
    {"InvalidNamespace",
     "current-context: x\ncontexts: [{name: x, context: {cluster: c, namespace: Team_A}}]\n"
     "clusters: [{name: c, cluster: {server: https://h}}]\n",
     "contexts[0].context.namespace: \"Team_A\" is not a valid namespace name"},
    {"ServerMissing", with_head("clusters: [{name: c, cluster: {}}]\n"),
     "clusters[0].cluster.server: missing"},
    {"ServerNotAUrl",
     with_head("clusters: [{name: a, cluster: {server: https://a}}, {name: c, cluster: {server: "
               "x}}]\n"),
     "clusters[1].cluster.server: \"x\" is not an https URL"},
    {"ServerNotHttp", with_head("clusters: [{name: c, cluster: {server: ftp://h}}]\n"),
     "clusters[0].cluster.server: \"ftp://h\" is not an https URL"},
    {"ServerPlainHttp",
     with_head("clusters: [{name: c, cluster: {server: \"http://10.0.0.1:8080\"}}]\n"),
     "clusters[0].cluster.server: cluster \"c\" uses plain HTTP "
     "(\"http://10.0.0.1:8080\"): its credentials and the Secrets the operator reads and writes "
     "would cross the network unencrypted; use an https:// server (--insecure-kubeconfig allows "
     "http://)"},
    {"ServerPlainHttpUpperCase", with_head("clusters: [{name: c, cluster: {server: HTTP://h}}]\n"),
     "clusters[0].cluster.server: cluster \"c\" uses plain HTTP (\"HTTP://h\")"},
    {"ServerBadPort", with_head("clusters: [{name: c, cluster: {server: https://h:99999}}]\n"),
     "clusters[0].cluster.server: \"https://h:99999\": invalid port"},
    {"ServerNotAString", with_head("clusters: [{name: c, cluster: {server: {a: b}}}]\n"),
     "clusters[0].cluster.server: is not a string"},
    {"InsecureNotABoolean",
     with_head("clusters: [{name: c, cluster: {server: https://h, insecure-skip-tls-verify: "
               "perhaps}}]\n"),
     "clusters[0].cluster.insecure-skip-tls-verify: is not a boolean"},
    {"InsecureWithCa",
     with_head("clusters: [{name: c, cluster: {server: https://h, insecure-skip-tls-verify: true, "
               "certificate-authority-data: $CA_DATA}}]\n"),
     "clusters[0].cluster.insecure-skip-tls-verify: cannot be combined with a certificate "
     "authority"},
    {"CaDataInvalidBase64",
     with_head("clusters: [{name: c, cluster: {server: https://h, certificate-authority-data: "
               "\"not base64!\"}}]\n"),
     "clusters[0].cluster.certificate-authority-data: invalid base64"},
    {"CaDataNotPem",
     with_head("clusters: [{name: c, cluster: {server: https://h, certificate-authority-data: "
               "aGVsbG8=}}]\n"),
     "clusters[0].cluster.certificate-authority-data: no PEM certificate found"},
    {"CaDataCorruptPem",
     with_head("clusters: [{name: c, cluster: {server: https://h, certificate-authority-data: "
               "$BAD_PEM}}]\n"),
     "clusters[0].cluster.certificate-authority-data: invalid PEM certificate"},
    {"CaFileMissing",
     with_head("clusters: [{name: c, cluster: {server: https://h, certificate-authority: "
               "missing.crt}}]\n"),
     "clusters[0].cluster.certificate-authority: cannot read $DIR/missing.crt: No such file"},
    {"CaFileAndData",
     with_head("clusters: [{name: c, cluster: {server: https://h, certificate-authority: ca.crt, "
               "certificate-authority-data: $CA_DATA}}]\n"),
     "clusters[0].cluster: certificate-authority and certificate-authority-data are both set"},
    {"ProxyUrlSocks",
     with_head(
         "clusters: [{name: c, cluster: {server: https://h, proxy-url: socks5://proxy:1080}}]\n"),
     "clusters[0].cluster.proxy-url: cluster \"c\": proxy scheme \"socks5\" is not supported; "
     "use an http:// proxy"},
    {"ProxyUrlHttps",
     with_head(
         "clusters: [{name: c, cluster: {server: https://h, proxy-url: https://proxy:3128}}]\n"),
     "clusters[0].cluster.proxy-url: cluster \"c\": proxy scheme \"https\" is not supported"},
    {"ProxyUrlWithoutScheme",
     with_head("clusters: [{name: c, cluster: {server: https://h, proxy-url: proxy:3128}}]\n"),
     "clusters[0].cluster.proxy-url: cluster \"c\": missing scheme; use http://host:port"},
    {"ProxyUrlBadPortHidesTheCredentials",
     with_head("clusters: [{name: c, cluster: {server: https://h, proxy-url: "
               "\"http://alice:hunter2@proxy:99999\"}}]\n"),
     "clusters[0].cluster.proxy-url: cluster \"c\": invalid port in \"http://***@proxy:99999\""},
    {"UserEntryNotAMapping",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\nusers: [u]\n"),
     "users[0]: is not a mapping"},
    {"ClientKeyDataInvalidBase64",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: $CERT_DATA, client-key-data: "
               "\"%%%\"}}]\n"),
     "users[0].user.client-key-data: invalid base64"},
    {"ClientCertificateWithoutKey",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: $CERT_DATA}}]\n"),
     "users[0].user.client-key: missing (client-certificate is set)"},
    {"ClientKeyWithoutCertificate",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-key-data: $KEY_DATA}}]\n"),
     "users[0].user.client-certificate: missing (client-key is set)"},
    {"ClientCertificateNotPem",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: aGVsbG8=, client-key-data: "
               "$KEY_DATA}}]\n"),
     "users[0].user.client-certificate-data: no PEM certificate found"},
    {"ClientKeyNotPem",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: $CERT_DATA, client-key-data: "
               "$CERT_DATA}}]\n"),
     "users[0].user.client-key-data: no PEM private key found"},
    {"ClientKeyCorruptPem",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: $CERT_DATA, client-key-data: "
               "$BAD_KEY}}]\n"),
     "users[0].user.client-key-data: invalid PEM private key"},
    {"ClientKeyEncrypted",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: $CERT_DATA, client-key-data: "
               "$ENCRYPTED_KEY}}]\n"),
     "users[0].user.client-key-data: encrypted private keys are not supported"},
    {"ClientKeyDoesNotMatch",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate-data: $CERT_DATA, client-key-data: "
               "$OTHER_KEY_DATA}}]\n"),
     "users[0].user.client-key-data: does not match client-certificate-data"},
    {"ClientCertificateFileMissing",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {client-certificate: /nonexistent/admin.crt, client-key: "
               "admin.key}}]\n"),
     "users[0].user.client-certificate: cannot read /nonexistent/admin.crt"},
    {"TokenFileMissing",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {tokenFile: secret/token}}]\n"),
     "users[0].user.tokenFile: token file $DIR/secret/token: cannot read"},
    {"TokenWithControlCharacters",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {token: \"a\\nb\"}}]\n"),
     "users[0].user.token: the token contains control characters"},
    {"ExecNotAMapping",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: gcloud}}]\n"),
     "users[0].user.exec: is not a mapping"},
    {"ExecApiVersionUnsupported",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, "
               "command: aws}}}]\n"),
     "users[0].user.exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not supported; "
     "use client.authentication.k8s.io/v1"},
    {"ExecApiVersionMissing",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {command: aws}}}]\n"),
     "users[0].user.exec.apiVersion: missing"},
    {"ExecCommandMissing",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1}}}]\n"),
     "users[0].user.exec.command: missing"},
    {"ExecArgsNotAList",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
               "command: aws, args: \"eks get-token\"}}}]\n"),
     "users[0].user.exec.args: is not a list"},
    {"ExecArgNotAString",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
               "command: aws, args: [a, {b: c}]}}}]\n"),
     "users[0].user.exec.args[1]: is not a string"},
    {"ExecEnvWithoutName",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
               "command: aws, env: [{value: x}]}}}]\n"),
     "users[0].user.exec.env[0].name: missing"},
    {"ExecInteractiveAlways",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
               "command: aws, interactiveMode: Always}}}]\n"),
     "users[0].user.exec.interactiveMode: \"Always\" needs a terminal"},
    {"ExecProvideClusterInfoNotBoolean",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, "
               "command: aws, provideClusterInfo: sometimes}}}]\n"),
     "users[0].user.exec.provideClusterInfo: is not a boolean"},
    {"AuthProvider",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {auth-provider: {name: gcp}}}]\n"),
     "users[0].user.auth-provider: auth providers are not supported; use an exec plugin"},
    {"BasicAuth",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {username: admin, password: secret}}]\n"),
     "users[0].user.username: basic authentication is not supported"},
    {"Impersonation",
     with_head("clusters: [{name: c, cluster: {server: https://h}}]\n"
               "users: [{name: u, user: {token: t, as: system:admin}}]\n"),
     "users[0].user.as: impersonation is not supported"},
};

class BrokenKubeconfig : public ::testing::TestWithParam<Broken> {
 protected:
  TempDir dir;
};

TEST_P(BrokenKubeconfig, ErrorNamesTheFileAndTheField) {
  const Broken& c = GetParam();
  const auto& pems = test_pems();
  std::string pem_body = pems.ca_cert;
  pem_body.replace(pem_body.find('\n') + 1, 10, "!!!!!!!!!!");  // corrupt the base64 body
  std::string key_body = pems.client_key;
  key_body.replace(key_body.find('\n') + 1, 10, "!!!!!!!!!!");
  std::map<std::string, std::string> vars{
      {"CA_DATA", base64(pems.ca_cert)},
      {"BAD_KEY", base64(key_body)},
      {"ENCRYPTED_KEY", base64("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                               "MIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")},
      {"CERT_DATA", base64(pems.client_cert)},
      {"KEY_DATA", base64(pems.client_key)},
      {"OTHER_KEY_DATA", base64(pems.other_key)},
      {"BAD_PEM", base64(pem_body)},
      {"DIR", dir.path().string()}};
  auto path = dir.write("config", fill(c.yaml, vars));
  auto config = load_kubeconfig_file(path, c.context);
  ASSERT_FALSE(config.ok()) << c.name;
  std::string expected = "kubeconfig " + path + ": " + fill(c.expected, vars);
  EXPECT_EQ(config.error().substr(0, expected.size()), expected) << config.error();
}

INSTANTIATE_TEST_SUITE_P(Cases, BrokenKubeconfig, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(BrokenKubeconfigFile, MissingFileIsNamed) {
  auto config = load_kubeconfig_file("/nonexistent/kubeconfig");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(),
            "kubeconfig /nonexistent/kubeconfig: cannot read: No such file or directory");
}

TEST(BrokenKubeconfigFile, ADirectoryIsNotAKubeconfig) {
  TempDir dir;
  auto config = load_kubeconfig_file(dir.path().string());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(), "kubeconfig " + dir.path().string() + ": cannot read: is a directory");
}

TEST(InsecureKubeconfig, PlainHttpIsLoadedOnlyWhenAllowed) {
  TempDir dir;
  auto path = dir.write("config",
                        "current-context: x\n"
                        "clusters: [{name: local, cluster: {server: \"http://127.0.0.1:8080\"}}]\n"
                        "contexts: [{name: x, context: {cluster: local, user: u}}]\n"
                        "users: [{name: u, user: {token: t0k}}]\n");
  auto refused = load_kubeconfig_file(path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("kubeconfig " + path + ": "), std::string::npos)
      << refused.error();
  EXPECT_NE(refused.error().find("cluster \"local\" uses plain HTTP"), std::string::npos)
      << refused.error();
  EXPECT_NE(refused.error().find("--insecure-kubeconfig"), std::string::npos) << refused.error();
  EXPECT_EQ(refused.error().find("t0k"), std::string::npos) << "the token leaked into the error";

  auto allowed = load_kubeconfig_file(path, "", KubeconfigPolicy{.allow_http = true});
  ASSERT_TRUE(allowed.ok()) << allowed.error();
  EXPECT_EQ(allowed->server.scheme, "http");
  EXPECT_EQ(allowed->server.origin(), "http://127.0.0.1:8080");
  EXPECT_EQ(*allowed->credentials->authorization(), "Bearer t0k");

  // https needs no permission; the policy changes nothing for it.
  auto https = dir.write("https", "current-context: x\n"
                                  "clusters: [{name: c, cluster: {server: https://h}}]\n"
                                  "contexts: [{name: x, context: {cluster: c}}]\n");
  EXPECT_TRUE(load_kubeconfig_file(https).ok());
  EXPECT_TRUE(load_kubeconfig_file(https, "", KubeconfigPolicy{.allow_http = true}).ok());
}

TEST(InsecureKubeconfig, MergedFilesNameTheFileThatDefinedTheCluster) {
  TempDir dir;
  auto first = dir.write("a", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n");
  auto second = dir.write("b", "clusters: [{name: c, cluster: {server: http://h}}]\n");
  auto config = load_kubeconfig_files({first, second});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().rfind("kubeconfig " + second +
                                     ": clusters[0].cluster.server: cluster \"c\" uses plain HTTP",
                                 0),
            0u)
      << config.error();
  EXPECT_TRUE(load_kubeconfig_files({first, second}, "", {.allow_http = true}).ok());
}

TEST(BrokenKubeconfigFile, MergedErrorsNameTheFileThatDefinedTheEntry) {
  TempDir dir;
  auto first = dir.write("a", "current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n");
  auto second = dir.write("b", "clusters: [{name: c, cluster: {server: nope}}]\n");
  auto config = load_kubeconfig_files({first, second});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(),
            "kubeconfig " + second + ": clusters[0].cluster.server: \"nope\" is not an https URL");

  auto broken = dir.write("c", "clusters: {}\n");
  config = load_kubeconfig_files({first, broken});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error(), "kubeconfig " + broken + ": clusters: is not a list");
}

}  // namespace
}  // namespace sto::kube
