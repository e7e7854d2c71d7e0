#include "cli/options.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>

#include "controller/sysdig_token.h"
#include "ibm/host_allowlist.h"
#include "kube/validation.h"

namespace sto::cli {
namespace {

std::string first_line(const std::string& text) {
  auto nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
      auto b = item.find_first_not_of(" \t");
      auto e = item.find_last_not_of(" \t");
      if (b == std::string::npos) continue;
      out.push_back(item.substr(b, e - b + 1));
    }
  }
  return out;
}

}  // namespace

std::string version_string() { return std::string("sysdig-token-operator ") + STO_VERSION; }

ParseOutcome parse_command_line(int argc, const char* const* argv) {
  CLI::App app{
      "Kubernetes operator that keeps IBM Cloud Monitoring (Sysdig) API tokens in Secrets.",
      "sysdig-token-operator"};
  app.get_formatter()->column_width(40);

  Options o;
  std::string metrics = ":8080";
  std::string health = ":8081";
  std::string log_level = "info";
  std::string log_format = "json";
  std::vector<std::string> namespaces;
  std::vector<std::string> allowed_hosts;
  bool show_version = false;

  app.add_option("--kubeconfig", o.kubeconfig,
                 "Path to a kubeconfig; default $KUBECONFIG, then in-cluster, then ~/.kube/config");
  app.add_flag("--insecure-kubeconfig", o.insecure_kubeconfig,
               "Allow a kubeconfig whose cluster server is http:// (credentials and Secrets then "
               "cross the network unencrypted); refused by default");
  app.add_option("--namespace", namespaces,
                 "Namespace to watch (repeatable or comma-separated); default all namespaces");
  app.add_option("--metrics-bind-address", metrics,
                 "Address of the Prometheus /metrics endpoint, \"0\" to disable")
      ->capture_default_str();
  app.add_flag("--metrics-secure", o.metrics_secure,
               "Serve /metrics over HTTPS, only to bearer tokens that pass a TokenReview and a "
               "SubjectAccessReview (get on the non-resource URL /metrics)");
  app.add_option("--metrics-cert-dir", o.metrics_cert_dir,
                 "Directory with tls.crt and tls.key for --metrics-secure; default a "
                 "self-signed certificate made at start");
  app.add_option("--health-probe-bind-address", health,
                 "Address of the /healthz and /readyz endpoints, \"0\" to disable")
      ->capture_default_str();
  app.add_flag("--leader-elect", o.leader_elect,
               "Elect a leader through a Lease so that only one replica reconciles");
  app.add_option("--leader-election-namespace", o.leader_election_namespace,
                 "Namespace of the leader-election Lease; default the operator's own namespace");
  app.add_option("--leader-election-id", o.leader_election_id, "Name of the leader-election Lease")
      ->capture_default_str();
  app.add_option("--max-concurrent-reconciles", o.max_concurrent_reconciles,
                 "Number of SysdigTokens reconciled at once")
      ->capture_default_str();
  app.add_option("--allowed-hosts", allowed_hosts,
                 "Host patterns the operator may call (repeatable or comma-separated); default "
                 "*.monitoring.cloud.ibm.com,*.security-compliance-secure.cloud.ibm.com,"
                 "iam.cloud.ibm.com,*.iam.cloud.ibm.com");
  std::vector<std::string> connect_to;
  app.add_option("--connect-to", connect_to,
                 "HOST:PORT:TO_HOST:TO_PORT (repeatable): IBM Cloud requests for HOST:PORT "
                 "connect to TO_HOST:TO_PORT instead; TLS still verifies HOST, and HOST must "
                 "be allowed by --allowed-hosts");
  app.add_option("--kube-api-qps", o.kube_api_qps,
                 "Client-side limit of API server requests per second")
      ->capture_default_str();
  app.add_option("--kube-api-burst", o.kube_api_burst, "Burst above --kube-api-qps")
      ->capture_default_str();
  app.add_option("--kube-api-max-in-flight", o.kube_api_max_in_flight,
                 "Most API server requests under way at once, watches aside (each holds a "
                 "connection and its TLS state); more wait their turn")
      ->capture_default_str();
  std::string graceful = "25s";
  app.add_option("--graceful-shutdown-timeout", graceful,
                 "How long in-flight work may take after SIGTERM before the operator exits "
                 "anyway (Go duration)")
      ->capture_default_str();
  std::string restart_debounce = "10s";
  app.add_option("--restart-debounce", restart_debounce,
                 "How long the operator gathers rotations before it restarts a workload of "
                 "spec.rolloutRestartTargets, so that tokens rotating together restart it once "
                 "(Go duration, 0s to 10m)")
      ->capture_default_str();
  std::string reset_gather = "500ms";
  app.add_option("--reset-gather", reset_gather,
                 "How long a reset waits for no further reset of the same team and API key "
                 "before it asks Sysdig, so that resources reset together share one request "
                 "(three times their spacing when such resets come slower, or until resets of "
                 "other teams stop arriving, up to 2.5s; a reset waits at most 10s) (Go "
                 "duration, 0s to 5s)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warn or error")->capture_default_str();
  app.add_option("--log-format", log_format, "json or text")->capture_default_str();
  app.add_flag("--version", show_version, "Print the version and exit");

  auto usage_error = [](const std::string& msg) {
    return Exit{2, "sysdig-token-operator: " + msg + " (see --help)"};
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Exit{0, app.help()};
  } catch (const CLI::ParseError& e) {
    return usage_error(first_line(e.what()));
  }
  if (show_version) return Exit{0, version_string()};

  if (auto level = log::parse_level(log_level)) {
    o.log_level = *level;
  } else {
    return usage_error("--log-level: \"" + log_level + "\" is not one of debug, info, warn, error");
  }
  if (auto format = log::parse_format(log_format)) {
    o.log_format = *format;
  } else {
    return usage_error("--log-format: \"" + log_format + "\" is not one of json, text");
  }
  auto m = server::parse_bind_address(metrics, "--metrics-bind-address");
  if (!m) return usage_error(m.error());
  o.metrics_bind_address = *m;
  if (!o.metrics_cert_dir.empty() && !o.metrics_secure)
    return usage_error("--metrics-cert-dir: only used with --metrics-secure");
  auto h = server::parse_bind_address(health, "--health-probe-bind-address");
  if (!h) return usage_error(h.error());
  o.health_probe_bind_address = *h;

  for (const auto& ns : split_commas(namespaces)) {
    if (!kube::is_dns1123_label(ns))
      return usage_error("--namespace: \"" + ns + "\" is not a valid namespace name");
    if (std::find(o.namespaces.begin(), o.namespaces.end(), ns) == o.namespaces.end())
      o.namespaces.push_back(ns);
  }
  if (!o.leader_election_namespace.empty() && !kube::is_dns1123_label(o.leader_election_namespace))
    return usage_error("--leader-election-namespace: \"" + o.leader_election_namespace +
                       "\" is not a valid namespace name");
  if (!kube::is_dns1123_subdomain(o.leader_election_id))
    return usage_error("--leader-election-id: \"" + o.leader_election_id +
                       "\" is not a valid object name (DNS-1123 subdomain)");
  if (o.max_concurrent_reconciles < 1 || o.max_concurrent_reconciles > 1024)
    return usage_error("--max-concurrent-reconciles: must be between 1 and 1024");
  if (!(o.kube_api_qps > 0)) return usage_error("--kube-api-qps: must be greater than 0");
  if (auto d = controller::parse_go_duration(graceful);
      d && *d >= std::chrono::seconds(1) && *d <= std::chrono::hours(1)) {
    o.graceful_shutdown_timeout = *d;
  } else {
    return usage_error("--graceful-shutdown-timeout: \"" + graceful +
                       "\" is not a duration between 1s and 1h (e.g. 25s)");
  }
  // A duration from 0 to `most`, or nothing.
  auto up_to = [](const std::string& text, std::chrono::milliseconds most)
      -> std::optional<std::chrono::milliseconds> {
    if (text == "0") return std::chrono::milliseconds(0);
    auto d = controller::parse_go_duration(text);
    if (d && *d <= most) return *d;
    return std::nullopt;
  };
  if (auto d = up_to(restart_debounce, std::chrono::minutes(10))) {
    o.restart_debounce = *d;
  } else {
    return usage_error("--restart-debounce: \"" + restart_debounce +
                       "\" is not a duration between 0s and 10m (e.g. 10s)");
  }
  if (auto d = up_to(reset_gather, std::chrono::seconds(5))) {
    o.reset_gather = *d;
  } else {
    return usage_error("--reset-gather: \"" + reset_gather +
                       "\" is not a duration between 0s and 5s (e.g. 500ms)");
  }
  if (o.kube_api_burst < 1) return usage_error("--kube-api-burst: must be at least 1");
  if (o.kube_api_max_in_flight < 1 || o.kube_api_max_in_flight > 1024)
    return usage_error("--kube-api-max-in-flight: must be between 1 and 1024");

  o.allowed_hosts = split_commas(allowed_hosts);
  if (allowed_hosts.empty()) o.allowed_hosts = ibm::HostAllowlist::default_patterns();
  if (o.allowed_hosts.empty()) return usage_error("--allowed-hosts: no host pattern given");
  if (auto list = ibm::HostAllowlist::parse(o.allowed_hosts); !list) {
    return usage_error("--allowed-hosts: " + list.error());
  }
  for (const auto& text : connect_to) {
    auto rule = net::parse_connect_to(text);
    if (!rule) return usage_error("--connect-to: " + rule.error());
    o.connect_to.push_back(std::move(rule).value());
  }
  return o;
}

}  // namespace sto::cli
