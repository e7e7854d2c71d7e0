#include "cli/options.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace sto::cli {
namespace {

ParseOutcome parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"sysdig-token-operator"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

Options expect_options(const ParseOutcome& o) {
  if (auto* e = std::get_if<Exit>(&o)) ADD_FAILURE() << "unexpected exit: " << e->text;
  return std::get<Options>(o);
}

Exit expect_exit(const ParseOutcome& o) {
  EXPECT_TRUE(std::holds_alternative<Exit>(o));
  return std::get<Exit>(o);
}

TEST(Options, MetricsSecure) {
  Options o = expect_options(parse({"--metrics-secure", "--metrics-cert-dir", "/etc/certs"}));
  EXPECT_TRUE(o.metrics_secure);
  EXPECT_EQ(o.metrics_cert_dir, "/etc/certs");
  Options self_signed = expect_options(parse({"--metrics-secure"}));
  EXPECT_TRUE(self_signed.metrics_secure);
  EXPECT_TRUE(self_signed.metrics_cert_dir.empty());
}

TEST(Options, DefaultsFollowControllerRuntimeConventions) {
  Options o = expect_options(parse({}));
  EXPECT_TRUE(o.kubeconfig.empty());
  EXPECT_FALSE(o.insecure_kubeconfig);  // http:// API servers are refused
  EXPECT_TRUE(o.namespaces.empty());
  ASSERT_TRUE(o.metrics_bind_address.has_value());
  EXPECT_EQ(o.metrics_bind_address->host, "");
  EXPECT_EQ(o.metrics_bind_address->port, 8080);
  ASSERT_TRUE(o.health_probe_bind_address.has_value());
  EXPECT_EQ(o.health_probe_bind_address->port, 8081);
  EXPECT_FALSE(o.metrics_secure);  // plain HTTP unless asked
  EXPECT_TRUE(o.metrics_cert_dir.empty());
  EXPECT_FALSE(o.leader_elect);
  EXPECT_EQ(o.leader_election_id, "sysdig-token-operator");
  EXPECT_EQ(o.log_format, log::Format::Json);
  EXPECT_EQ(o.log_level, log::Level::Info);
  EXPECT_EQ(o.max_concurrent_reconciles, 32);
  EXPECT_EQ(o.kube_api_qps, 500);
  EXPECT_EQ(o.kube_api_burst, 1000);
  EXPECT_EQ(o.kube_api_max_in_flight, 32);
  EXPECT_EQ(o.graceful_shutdown_timeout, std::chrono::seconds(25));
  EXPECT_EQ(expect_options(parse({"--graceful-shutdown-timeout", "1m30s"})).graceful_shutdown_timeout,
            std::chrono::seconds(90));
  EXPECT_EQ(o.allowed_hosts,
            (std::vector<std::string>{"*.monitoring.cloud.ibm.com",
                                      "*.security-compliance-secure.cloud.ibm.com",
                                      "iam.cloud.ibm.com", "*.iam.cloud.ibm.com"}));
  EXPECT_EQ(o.restart_debounce, std::chrono::seconds(10));
  EXPECT_EQ(expect_options(parse({"--restart-debounce", "0s"})).restart_debounce,
            std::chrono::seconds(0));
  EXPECT_EQ(o.reset_gather, std::chrono::milliseconds(500));
  EXPECT_EQ(expect_options(parse({"--reset-gather", "0"})).reset_gather, std::chrono::seconds(0));
  EXPECT_EQ(expect_options(parse({"--reset-gather", "2s"})).reset_gather, std::chrono::seconds(2));
}

TEST(Options, ParsesEveryFlag) {
  Options o = expect_options(parse({"--kubeconfig",
                                    "/tmp/kc",
                                    "--insecure-kubeconfig",
                                    "--namespace",
                                    "a",
                                    "--namespace",
                                    "b,c",
                                    "--metrics-bind-address",
                                    "0",
                                    "--health-probe-bind-address",
                                    "127.0.0.1:9000",
                                    "--leader-elect",
                                    "--leader-election-namespace",
                                    "ops",
                                    "--leader-election-id",
                                    "sto.lock",
                                    "--max-concurrent-reconciles",
                                    "16",
                                    "--allowed-hosts",
                                    "127.0.0.1,*.example.com",
                                    "--log-level",
                                    "debug",
                                    "--log-format",
                                    "text",
                                    "--kube-api-qps",
                                    "50",
                                    "--kube-api-burst",
                                    "100",
                                    "--kube-api-max-in-flight",
                                    "8",
                                    "--connect-to",
                                    "iam.cloud.ibm.com:443:127.0.0.1:8443",
                                    "--connect-to",
                                    "eu-de.monitoring.cloud.ibm.com:443:[::1]:9443"}));
  EXPECT_EQ(o.kubeconfig, "/tmp/kc");
  EXPECT_TRUE(o.insecure_kubeconfig);
  EXPECT_EQ(o.namespaces, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(o.metrics_bind_address.has_value());
  ASSERT_TRUE(o.health_probe_bind_address.has_value());
  EXPECT_EQ(o.health_probe_bind_address->host, "127.0.0.1");
  EXPECT_EQ(o.health_probe_bind_address->port, 9000);
  EXPECT_TRUE(o.leader_elect);
  EXPECT_EQ(o.leader_election_namespace, "ops");
  EXPECT_EQ(o.leader_election_id, "sto.lock");
  EXPECT_EQ(o.max_concurrent_reconciles, 16);
  EXPECT_EQ(o.allowed_hosts, (std::vector<std::string>{"127.0.0.1", "*.example.com"}));
  EXPECT_EQ(o.log_level, log::Level::Debug);
  EXPECT_EQ(o.log_format, log::Format::Text);
  EXPECT_EQ(o.kube_api_qps, 50);
  EXPECT_EQ(o.kube_api_burst, 100);
  EXPECT_EQ(o.kube_api_max_in_flight, 8);
  ASSERT_EQ(o.connect_to.size(), 2u);
  EXPECT_EQ(o.connect_to[0].to_string(), "iam.cloud.ibm.com:443:127.0.0.1:8443");
  EXPECT_EQ(o.connect_to[1].to_host, "::1");
}

TEST(Options, InsecureKubeconfigIsAPlainFlag) {
  EXPECT_TRUE(expect_options(parse({"--insecure-kubeconfig"})).insecure_kubeconfig);
  EXPECT_TRUE(expect_options(parse({"--insecure-kubeconfig=true"})).insecure_kubeconfig);
  EXPECT_FALSE(expect_options(parse({"--insecure-kubeconfig=false"})).insecure_kubeconfig);
  Exit help = expect_exit(parse({"--help"}));
  EXPECT_NE(help.text.find("--insecure-kubeconfig"), std::string::npos);
}

TEST(Options, HelpAndVersionExitZero) {
  Exit help = expect_exit(parse({"--help"}));
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.text.find("--leader-elect"), std::string::npos);
  EXPECT_NE(help.text.find("--allowed-hosts"), std::string::npos);
  Exit version = expect_exit(parse({"--version"}));
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.text.rfind("sysdig-token-operator ", 0), 0u);
}

struct BadFlag {
  std::vector<const char*> args;
  std::string mentions;
};

class OptionsRejects : public ::testing::TestWithParam<BadFlag> {};

TEST_P(OptionsRejects, WithOneLineNamingTheFlagAndExitTwo) {
  const auto& bad = GetParam();
  std::vector<const char*> argv{"sysdig-token-operator"};
  argv.insert(argv.end(), bad.args.begin(), bad.args.end());
  Exit e = expect_exit(parse_command_line(static_cast<int>(argv.size()), argv.data()));
  EXPECT_EQ(e.code, 2);
  EXPECT_EQ(e.text.find('\n'), std::string::npos) << e.text;
  EXPECT_NE(e.text.find(bad.mentions), std::string::npos) << e.text;
}

INSTANTIATE_TEST_SUITE_P(
    BadInput, OptionsRejects,
    ::testing::Values(
        BadFlag{{"--no-such-flag"}, "--no-such-flag"},
        BadFlag{{"--log-level", "loud"}, "--log-level"},
        BadFlag{{"--log-format", "xml"}, "--log-format"},
        BadFlag{{"--metrics-bind-address", "8080"}, "--metrics-bind-address"},
        BadFlag{{"--metrics-bind-address", ":99999"}, "--metrics-bind-address"},
        BadFlag{{"--health-probe-bind-address", "::1:80"}, "--health-probe-bind-address"},
        BadFlag{{"--namespace", "Bad_NS"}, "--namespace"},
        BadFlag{{"--leader-election-id", "-x"}, "--leader-election-id"},
        BadFlag{{"--leader-election-namespace", "a.b"}, "--leader-election-namespace"},
        BadFlag{{"--max-concurrent-reconciles", "0"}, "--max-concurrent-reconciles"},
        BadFlag{{"--max-concurrent-reconciles", "many"}, "--max-concurrent-reconciles"},
        BadFlag{{"--allowed-hosts", "https://iam.cloud.ibm.com"}, "--allowed-hosts"},
        BadFlag{{"--allowed-hosts", "iam.cloud.ibm.com:443"}, "must not include a port"},
        BadFlag{{"--kube-api-qps", "0"}, "--kube-api-qps"},
        BadFlag{{"--kube-api-max-in-flight", "0"}, "--kube-api-max-in-flight"},
        BadFlag{{"--kube-api-max-in-flight", "1025"}, "--kube-api-max-in-flight"},
        BadFlag{{"--graceful-shutdown-timeout", "soon"}, "--graceful-shutdown-timeout"},
        BadFlag{{"--graceful-shutdown-timeout", "0s"}, "--graceful-shutdown-timeout"},
        BadFlag{{"--graceful-shutdown-timeout", "2h"}, "--graceful-shutdown-timeout"},
        BadFlag{{"--restart-debounce", "soon"}, "--restart-debounce"},
        BadFlag{{"--restart-debounce", "11m"}, "--restart-debounce"},
        BadFlag{{"--reset-gather", "6s"}, "--reset-gather"},
        BadFlag{{"--reset-gather", "-1s"}, "--reset-gather"},
        BadFlag{{"--kubeconfig"}, "--kubeconfig"},
        BadFlag{{"--metrics-cert-dir", "/certs"}, "--metrics-cert-dir: only used with --metrics-secure"},
        BadFlag{{"--metrics-secure", "--metrics-cert-dir"}, "--metrics-cert-dir"},
        BadFlag{{"--insecure-kubeconfig=maybe"}, "--insecure-kubeconfig"},
        BadFlag{{"--connect-to", "iam.cloud.ibm.com:443"}, "--connect-to: \"iam.cloud.ibm.com:443\""}));

}  // namespace
}  // namespace sto::cli
