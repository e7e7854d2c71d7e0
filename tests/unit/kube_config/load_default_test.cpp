// In-cluster configuration and the lookup order: explicit path, $KUBECONFIG
// (a list, merged), in-cluster, ~/.kube/config. The environment, the home
// directory and the service-account directory are all injected.
#include <gtest/gtest.h>

#include <map>

#include "kube/config.h"
#include "test_files.h"

namespace sto::kube {
namespace {

using testing::TempDir;
using testing::test_pems;

std::string kubeconfig_for(const std::string& server, const std::string& token) {
  return "current-context: x\nclusters: [{name: c, cluster: {server: \"" + server +
         "\"}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}, {name: other, context: "
         "{cluster: c, namespace: other}}]\nusers: [{name: u, user: {token: " +
         token + "}}]\n";
}

struct LoadTest : ::testing::Test {
  TempDir dir;
  std::map<std::string, std::string> env;
  std::string sa_dir = (dir.path() / "sa").string();

  LoadOptions options() {
    LoadOptions o;
    o.service_account_dir = sa_dir;
    o.getenv = [this](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    };
    return o;
  }
  void make_service_account(const std::string& ns = "team-x\n") {
    dir.write("sa/ca.crt", test_pems().ca_cert);
    dir.write("sa/token", "sa-token");
    if (!ns.empty()) dir.write("sa/namespace", ns);
    env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
    env["KUBERNETES_SERVICE_PORT"] = "443";
  }
  std::string auth(const ClusterConfig& c) {
    auto a = c.credentials->authorization();
    EXPECT_TRUE(a.ok()) << a.error();
    return a.ok() ? *a : std::string();
  }
};

TEST_F(LoadTest, InClusterUsesTheServiceAccount) {
  make_service_account();
  auto c = load_in_cluster(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.origin(), "https://10.96.0.1:443");
  EXPECT_EQ(c->tls.ca_pem, test_pems().ca_cert);
  EXPECT_FALSE(c->tls.use_system_store);
  EXPECT_TRUE(c->tls.verify_peer);
  EXPECT_EQ(auth(*c), "Bearer sa-token");
  EXPECT_EQ(c->namespace_, "team-x");
  EXPECT_EQ(c->source, "in-cluster");
}

TEST_F(LoadTest, InClusterTokenIsRereadWhenTheKubeletRotatesIt) {
  make_service_account();
  auto c = load_in_cluster(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(auth(*c), "Bearer sa-token");
  dir.write("sa/token", "rotated-sa-token");
  EXPECT_EQ(auth(*c), "Bearer rotated-sa-token");
}

TEST_F(LoadTest, InClusterBracketsAnIpv6ServiceHost) {
  make_service_account();
  env["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
  env["KUBERNETES_SERVICE_PORT"] = "6443";
  auto c = load_in_cluster(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.host, "fd00:10:96::1");
  EXPECT_EQ(c->server.port, 6443);
  EXPECT_EQ(c->server.origin(), "https://[fd00:10:96::1]:6443");
}

TEST_F(LoadTest, InClusterNamespaceFromPodNamespaceElseDefault) {
  make_service_account("");
  auto c = load_in_cluster(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->namespace_, "default");
  env["POD_NAMESPACE"] = "from-downward-api";
  c = load_in_cluster(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->namespace_, "from-downward-api");
}

TEST_F(LoadTest, InClusterErrorsSayWhatIsMissing) {
  make_service_account();
  env.erase("KUBERNETES_SERVICE_PORT");
  auto c = load_in_cluster(options());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("KUBERNETES_SERVICE_PORT must be set"), std::string::npos);

  env["KUBERNETES_SERVICE_PORT"] = "443";
  dir.write("sa/ca.crt", "garbage");
  c = load_in_cluster(options());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), "in-cluster: " + sa_dir + "/ca.crt: no PEM certificate found");

  dir.write("sa/ca.crt", test_pems().ca_cert);
  std::filesystem::remove(sa_dir + "/token");
  c = load_in_cluster(options());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find(sa_dir + "/token"), std::string::npos) << c.error();
}

TEST_F(LoadTest, ExplicitPathComesFirst) {
  auto explicit_path = dir.write("explicit", kubeconfig_for("https://explicit:6443", "e"));
  env["KUBECONFIG"] = dir.write("env", kubeconfig_for("https://env:6443", "v"));
  env["HOME"] = dir.path().string();
  dir.write(".kube/config", kubeconfig_for("https://home:6443", "h"));
  make_service_account();
  auto o = options();
  o.kubeconfig_path = explicit_path;
  auto c = load_default(o);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.host, "explicit");
}

TEST_F(LoadTest, KubeconfigVariableComesBeforeInCluster) {
  env["KUBECONFIG"] = dir.write("env", kubeconfig_for("https://env:6443", "v"));
  make_service_account();
  auto c = load_default(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.host, "env");
  EXPECT_EQ(auth(*c), "Bearer v");
}

TEST_F(LoadTest, KubeconfigVariableListSkipsMissingFilesAndMerges) {
  auto first = dir.write("first", "current-context: x\n");  // only names the context
  auto empty = dir.write("empty", "# nothing yet\n");
  auto second = dir.write("second", kubeconfig_for("https://second:6443", "s"));
  env["KUBECONFIG"] =
      "::" + (dir.path() / "missing").string() + ":" + empty + ":" + first + ":" + second;
  auto c = load_default(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.host, "second");
  EXPECT_EQ(c->source, "kubeconfig " + empty + ":" + first + ":" + second + " (context x)");
}

TEST_F(LoadTest, ContextOptionAppliesToTheKubeconfigVariable) {
  env["KUBECONFIG"] = dir.write("env", kubeconfig_for("https://env:6443", "v"));
  auto o = options();
  o.context = "other";
  auto c = load_default(o);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->namespace_, "other");
}

TEST_F(LoadTest, PlainHttpNeedsThePolicyOnEveryPath) {
  std::string path = dir.write("http.yaml", kubeconfig_for("http://127.0.0.1:8080", "tok"));
  dir.write("home/.kube/config", kubeconfig_for("http://127.0.0.1:8080", "tok"));
  auto explicit_path = options();
  explicit_path.kubeconfig_path = path;
  auto via_env = options();
  env["KUBECONFIG"] = path;
  auto via_home = options();
  std::map<std::string, std::string> home_env{{"HOME", (dir.path() / "home").string()}};
  via_home.getenv = [home_env](const char* name) -> const char* {
    auto it = home_env.find(name);
    return it == home_env.end() ? nullptr : it->second.c_str();
  };
  for (LoadOptions* o : {&explicit_path, &via_env, &via_home}) {
    auto refused = load_default(*o);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().find("cluster \"c\" uses plain HTTP"), std::string::npos)
        << refused.error();
    o->policy.allow_http = true;
    auto allowed = load_default(*o);
    ASSERT_TRUE(allowed.ok()) << allowed.error();
    EXPECT_EQ(allowed->server.origin(), "http://127.0.0.1:8080");
  }
}

TEST_F(LoadTest, KubeconfigVariableWithNoExistingFileIsAnError) {
  env["KUBECONFIG"] = "/nonexistent/a:/nonexistent/b";
  make_service_account();  // not used: KUBECONFIG was set
  auto c = load_default(options());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), "KUBECONFIG=/nonexistent/a:/nonexistent/b: none of the listed files exists");
}

TEST_F(LoadTest, InClusterComesBeforeHome) {
  env["HOME"] = dir.path().string();
  dir.write(".kube/config", kubeconfig_for("https://home:6443", "h"));
  make_service_account();
  auto c = load_default(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->source, "in-cluster");
}

TEST_F(LoadTest, HomeWhenNotInACluster) {
  env["HOME"] = dir.path().string();
  dir.write(".kube/config", kubeconfig_for("https://home:6443", "h"));
  env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";  // but no token on disk
  auto c = load_default(options());
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->server.host, "home");
}

TEST_F(LoadTest, NothingFoundExplainsEachStep) {
  env["HOME"] = dir.path().string();
  auto c = load_default(options());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(),
            "no Kubernetes configuration found: no kubeconfig given, KUBECONFIG is not set, not "
            "in a cluster (KUBERNETES_SERVICE_HOST is not set), and " +
                (dir.path() / ".kube/config").string() + " does not exist");
}

std::string kubeconfig_with_proxy(const std::string& server, const std::string& proxy_url) {
  return "current-context: x\nclusters: [{name: c, cluster: {server: \"" + server +
         "\", proxy-url: \"" + proxy_url +
         "\"}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
         "users: [{name: u, user: {token: t}}]\n";
}

net::ProxySettings environment_proxy(const std::string& https_proxy, const std::string& no_proxy) {
  std::map<std::string, std::string> values{{"HTTPS_PROXY", https_proxy}, {"NO_PROXY", no_proxy}};
  auto settings = net::proxy_settings_from_environment([&](const char* name) -> const char* {
    auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  });
  EXPECT_TRUE(settings.ok()) << settings.error();
  return settings.value();
}

TEST_F(LoadTest, ProxyUrlOfTheClusterWithCredentials) {
  auto o = options();
  o.kubeconfig_path =
      dir.write("proxied", kubeconfig_with_proxy("https://api.example:6443",
                                                 "http://kube%2Duser:p%40ss@proxy.example:3128"));
  // The kubeconfig's proxy-url wins over the environment.
  o.proxy_environment = environment_proxy("http://other:1", "");
  auto c = load_default(o);
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c->proxy);
  EXPECT_EQ(c->proxy->display(), "http://proxy.example:3128");
  EXPECT_EQ(c->proxy->username.str(), "kube-user");
  EXPECT_EQ(c->proxy->password.str(), "p@ss");
  EXPECT_EQ(c->proxy_source, "kubeconfig " + o.kubeconfig_path + ": clusters[0].cluster.proxy-url");
}

TEST_F(LoadTest, ProxyUrlWithoutPortIsPort80AsInClientGo) {
  auto o = options();
  o.kubeconfig_path =
      dir.write("proxied", kubeconfig_with_proxy("https://api.example:6443", "http://proxy"));
  auto c = load_default(o);
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c->proxy);
  EXPECT_EQ(c->proxy->port, 80);
}

TEST_F(LoadTest, EnvironmentProxyAppliesAsInClientGo) {
  auto o = options();
  o.kubeconfig_path = dir.write("plain", kubeconfig_for("https://api.example:6443", "t"));
  o.proxy_environment = environment_proxy("http://proxy:3128", "");
  auto c = load_default(o);
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_TRUE(c->proxy);
  EXPECT_EQ(c->proxy->display(), "http://proxy:3128");
  EXPECT_EQ(c->proxy_source, "HTTPS_PROXY");

  // NO_PROXY names it; loopback goes direct; no HTTPS_PROXY for http://.
  o.proxy_environment = environment_proxy("http://proxy:3128", ".example");
  EXPECT_FALSE(load_default(o)->proxy);
  o.proxy_environment = environment_proxy("http://proxy:3128", "");
  o.kubeconfig_path = dir.write("loopback", kubeconfig_for("https://127.0.0.1:6443", "t"));
  EXPECT_FALSE(load_default(o)->proxy);
  o.kubeconfig_path = dir.write("http", kubeconfig_for("http://api.example:8080", "t"));
  o.policy.allow_http = true;
  auto plain = load_default(o);
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_FALSE(plain->proxy);
}

TEST_F(LoadTest, InClusterUsesTheEnvironmentProxyUnlessNoProxyNamesTheService) {
  make_service_account();
  auto o = options();
  o.proxy_environment = environment_proxy("http://proxy:3128", "");
  auto c = load_default(o);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->source, "in-cluster");
  ASSERT_TRUE(c->proxy);
  o.proxy_environment = environment_proxy("http://proxy:3128", "10.96.0.0/12");
  auto direct = load_default(o);
  ASSERT_TRUE(direct.ok()) << direct.error();
  EXPECT_FALSE(direct->proxy);
}

}  // namespace
}  // namespace sto::kube
