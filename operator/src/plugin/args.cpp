#include "plugin/args.h"

#include "controller/sysdig_token.h"
#include "kube/validation.h"

namespace sto::plugin {

namespace {

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

Result<bool, std::string> parse_bool(std::string_view flag, std::string_view value) {
  if (value == "true" || value == "1" || value == "t" || value == "T" || value == "TRUE" ||
      value == "True")
    return true;
  if (value == "false" || value == "0" || value == "f" || value == "F" || value == "FALSE" ||
      value == "False")
    return false;
  return fail("invalid argument " + quoted(value) + " for " + std::string(flag) +
              ": want true or false");
}

Result<std::chrono::milliseconds, std::string> parse_wait(std::string_view value) {
  auto d = controller::parse_go_duration(value);
  if (!d) {
    return fail("invalid argument " + quoted(value) +
                " for --wait: want a duration such as 60s, 2m or 1m30s");
  }
  if (d->count() <= 0) return fail("--wait must be longer than 0s, got " + quoted(value));
  if (*d > std::chrono::hours(24)) return fail("--wait must be at most 24h, got " + quoted(value));
  return *d;
}

}  // namespace

Result<Args, std::string> parse_args(const std::vector<std::string_view>& argv) {
  Args args;
  std::vector<std::string_view> positional;
  bool help = false, version = false, namespace_given = false;
  std::optional<std::string_view> wait_value;
  bool wait_given = false;

  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argv.size(); ++i) positional.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    // Split into the flag's name and an attached value.
    std::string flag;
    std::optional<std::string_view> value;
    if (arg.starts_with("--")) {
      const auto eq = arg.find('=');
      flag = std::string(arg.substr(0, eq));
      if (eq != std::string_view::npos) value = arg.substr(eq + 1);
    } else {
      flag = std::string(arg.substr(0, 2));
      if (arg.size() > 2) value = arg[2] == '=' ? arg.substr(3) : arg.substr(2);
    }
    // A flag that takes a value: attached, or the next argument.
    auto take_value = [&](std::string_view name) -> Result<std::string_view, std::string> {
      if (value) return *value;
      if (i + 1 >= argv.size()) return fail("flag needs an argument: " + std::string(name));
      return argv[++i];
    };

    if (flag == "-n" || flag == "--namespace") {
      auto v = take_value(flag);
      if (!v) return fail(v.error());
      if (v->empty()) return fail(flag + " needs a namespace name, got \"\"");
      args.namespace_ = std::string(*v);
      namespace_given = true;
    } else if (flag == "--kubeconfig") {
      auto v = take_value(flag);
      if (!v) return fail(v.error());
      if (v->empty()) return fail("--kubeconfig needs a file name, got \"\"");
      args.kubeconfig = std::string(*v);
    } else if (flag == "--context") {
      auto v = take_value(flag);
      if (!v) return fail(v.error());
      if (v->empty()) return fail("--context needs a context name, got \"\"");
      args.context = std::string(*v);
    } else if (flag == "-A" || flag == "--all-namespaces") {
      // A boolean: only an attached value (-A=false), never the next argument.
      if (value && flag == "-A" && !arg.starts_with("-A=")) {
        return fail("-A takes no value (use --all-namespaces=false to turn it off)");
      }
      if (value) {
        auto b = parse_bool(flag, *value);
        if (!b) return fail(b.error());
        args.all_namespaces = *b;
      } else {
        args.all_namespaces = true;
      }
    } else if (flag == "--insecure-kubeconfig") {
      if (value) {
        auto b = parse_bool(flag, *value);
        if (!b) return fail(b.error());
        args.insecure_kubeconfig = *b;
      } else {
        args.insecure_kubeconfig = true;
      }
    } else if (flag == "--wait") {
      // Optional value, attached only (--wait=2m), as kubectl's --wait.
      wait_given = true;
      wait_value = value;
    } else if (flag == "-h" || flag == "--help") {
      if (value) return fail(flag + " takes no value");
      help = true;
    } else if (flag == "--version") {
      if (value) return fail("--version takes no value");
      version = true;
    } else {
      // Only the flag's name: a value attached to a mistyped flag may be a secret.
      if (arg.starts_with("--")) return fail("unknown flag: " + quoted(flag));
      const std::string letter = quoted(arg.substr(1, 1));
      return fail("unknown shorthand flag: '" + letter.substr(1, letter.size() - 2) + "' in -" +
                  letter.substr(1, letter.size() - 2));
    }
  }

  if (help) {
    args.command = Command::Help;
    return args;
  }
  if (version) {
    args.command = Command::Version;
    return args;
  }
  if (positional.empty()) return fail("a command is required: status or rotate (see --help)");
  const std::string_view command = positional.front();
  if (command == "status") {
    args.command = Command::Status;
  } else if (command == "rotate") {
    args.command = Command::Rotate;
  } else if (command == "help") {
    args.command = Command::Help;
    return args;
  } else {
    return fail("unknown command " + quoted(command) + ": want status or rotate (see --help)");
  }
  if (positional.size() > 2) {
    return fail(std::string(command) + " takes at most one NAME, got " +
                std::to_string(positional.size() - 1) + " arguments");
  }
  if (positional.size() == 2) {
    args.name = std::string(positional[1]);
    if (!kube::is_dns1123_subdomain(args.name)) {
      return fail("invalid SysdigToken name " + quoted(args.name) +
                  ": a name is lowercase letters, digits, '-' and '.', starts and ends with a "
                  "letter or digit, at most 253 characters");
    }
  }
  if (!args.namespace_.empty() && !kube::is_dns1123_label(args.namespace_)) {
    return fail("invalid namespace " + quoted(args.namespace_) +
                ": a namespace is lowercase letters, digits and '-', starts and ends with a "
                "letter or digit, at most 63 characters");
  }
  if (args.all_namespaces && namespace_given) {
    return fail("--namespace and --all-namespaces cannot be used together");
  }

  if (args.command == Command::Status) {
    if (wait_given) return fail("--wait is a flag of rotate, not of status");
    if (args.all_namespaces && !args.name.empty()) {
      return fail("a NAME cannot be given with --all-namespaces");
    }
  } else {
    if (args.name.empty()) return fail("rotate needs the NAME of a SysdigToken");
    if (args.all_namespaces) return fail("rotate works on one SysdigToken: --all-namespaces is not allowed");
    if (wait_given) {
      if (wait_value) {
        auto w = parse_wait(*wait_value);
        if (!w) return fail(w.error());
        args.wait = *w;
      } else {
        args.wait = kDefaultWait;
      }
    }
  }
  return args;
}

std::string usage() {
  return R"(kubectl sysdigtoken: SysdigTokens of the sysdig-token-operator.

Usage:
  kubectl sysdigtoken status [NAME] [-n NAMESPACE | -A]
      A table: READY, REASON, TEAM, SECRET, REVISION, LAST ROTATION, NEXT REFRESH,
      AGE and, for a resource that is not ready, the message saying why.
  kubectl sysdigtoken rotate NAME [-n NAMESPACE] [--wait[=60s]]
      Sets the monitoring.ibm.com/reset-token annotation to the current time: the
      operator fetches the token again at once (reset the token in the Monitoring
      UI first). With --wait, waits until the operator has handled it and prints
      "Rotated <fingerprint>" or "Unchanged"; exits 1 on a failure or timeout.

Flags:
  -n, --namespace NS      the namespace (default: the kubeconfig context's)
  -A, --all-namespaces    status: every namespace
      --kubeconfig PATH   the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME      the kubeconfig context (default: its current-context)
      --insecure-kubeconfig  allow a kubeconfig whose server is http:// (refused by
                          default: credentials would cross the network unencrypted)
      --wait[=DURATION]   rotate: wait for the outcome (default 60s)
  -h, --help              this text
      --version           the version
)";
}

}  // namespace sto::plugin
