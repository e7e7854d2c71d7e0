// Command line of kubectl-sysdigtoken, parsed as kubectl parses flags
// (pflag): `--flag value`, `--flag=value`, `-n value`, `-nvalue`, `-n=value`,
// flags before or after the command, `--` ends the flags.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sto::plugin {

enum class Command { Status, Rotate, Help, Version };

struct Args {
  Command command = Command::Help;
  std::string name;        // status: optional; rotate: required
  std::string namespace_;  // -n; empty: the kubeconfig context's namespace
  bool all_namespaces = false;
  std::string kubeconfig;  // --kubeconfig; empty: $KUBECONFIG, then ~/.kube/config
  std::string context;     // --context; empty: current-context
  // --insecure-kubeconfig: allow a kubeconfig whose server is http://, as
  // the operator's flag of that name (refused by default).
  bool insecure_kubeconfig = false;
  // rotate --wait[=DURATION]: how long to wait for the operator.
  std::optional<std::chrono::milliseconds> wait;
};

inline constexpr std::chrono::seconds kDefaultWait{60};

// The arguments after the program name. The error is one line naming the
// flag or argument and what is wrong.
Result<Args, std::string> parse_args(const std::vector<std::string_view>& argv);

// --help text.
std::string usage();

}  // namespace sto::plugin
