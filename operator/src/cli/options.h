// The operator's command line (DESIGN §4): parsed and validated into Options.
// Parsing never exits the process; main() decides what to do with the outcome.
#pragma once

#include <cstdint>
#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/logging.h"
#include "net/connect_to.h"
#include "server/http_server.h"

namespace sto::cli {

// A listen address such as ":8080" or "127.0.0.1:9090"; absent when "0".
using BindAddress = server::BindAddress;

struct Options {
  std::string kubeconfig;               // empty: $KUBECONFIG, in-cluster, ~/.kube/config
  // Accept a kubeconfig whose cluster server is http:// (refused otherwise:
  // credentials and Secrets would cross the network unencrypted).
  bool insecure_kubeconfig = false;
  std::vector<std::string> namespaces;  // empty: all namespaces
  std::optional<BindAddress> metrics_bind_address;
  // --metrics-secure: /metrics over HTTPS, only for bearer tokens that pass
  // a TokenReview and a SubjectAccessReview (get on /metrics).
  bool metrics_secure = false;
  // tls.crt and tls.key for it; empty: a self-signed certificate made at start.
  std::string metrics_cert_dir;
  std::optional<BindAddress> health_probe_bind_address;
  bool leader_elect = false;
  std::string leader_election_namespace;  // empty: the operator's own namespace
  std::string leader_election_id = "sysdig-token-operator";
  int max_concurrent_reconciles = 32;
  std::vector<std::string> allowed_hosts;
  std::vector<net::ConnectTo> connect_to;  // --connect-to
  double kube_api_qps = 500;
  int kube_api_burst = 1000;
  // Most API server requests under way at once (watches aside).
  int kube_api_max_in_flight = 32;
  // After SIGTERM: in-flight work gets this long to finish and the Lease to
  // be released; then the process exits anyway (below the pod's 30 s).
  std::chrono::milliseconds graceful_shutdown_timeout{25000};
  // rolloutRestartTargets: rotations within this window restart a workload once.
  std::chrono::milliseconds restart_debounce{10000};
  // Resets of one team and API key wait this long for each other (ResetGathering).
  std::chrono::milliseconds reset_gather{500};
  log::Level log_level = log::Level::Info;
  log::Format log_format = log::Format::Json;
};

// Parsing ends either with Options to run with, or with text to print and an
// exit code: 0 for --help/--version (stdout), 2 for a usage error (one line
// for stderr).
struct Exit {
  int code = 0;
  std::string text;
};

using ParseOutcome = std::variant<Options, Exit>;

ParseOutcome parse_command_line(int argc, const char* const* argv);

std::string version_string();

}  // namespace sto::cli
