// kubectl-sysdigtoken: the kubectl plugin of the sysdig-token-operator.
// `kubectl sysdigtoken status` shows SysdigTokens as a table, `kubectl
// sysdigtoken rotate NAME [--wait]` sets the reset annotation and waits for
// the operator's outcome. It reads only the status (the token's fingerprint,
// never the token) and writes only the reset annotation.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/rfc3339.h"
#include "controller/names.h"
#include "kube/client.h"
#include "kube/config.h"
#include "net/proxy.h"
#include "plugin/args.h"
#include "plugin/status.h"

namespace {

namespace asio = boost::asio;
using namespace sto;
using plugin::Args;
using plugin::Clock;

constexpr std::string_view kCrdName = "sysdigtokens.monitoring.ibm.com";
constexpr std::chrono::milliseconds kPollInterval{500};
// How long a Ready=False that was there before the reset may stay unchanged
// before it counts as the reset's failure.
constexpr std::chrono::seconds kSettle{10};

kube::Resource sysdigtokens() {
  return {.group = std::string(controller::kGroup),
          .version = "v1alpha1",
          .plural = "sysdigtokens",
          .kind = std::string(controller::kKind),
          .namespaced = true};
}

int error_line(std::string_view message) {
  std::cerr << "error: " << plugin::one_line(message) << "\n";
  return 1;
}

std::string dq(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0) return std::to_string(d.count()) + "ms";
  return std::to_string(d.count() / 1000) + "s";
}

class Plugin {
 public:
  Plugin(std::shared_ptr<kube::Client> client, Args args, std::string ns)
      : client_(std::move(client)), args_(std::move(args)), ns_(std::move(ns)) {}

  asio::awaitable<int> run() {
    if (args_.command == plugin::Command::Rotate) co_return co_await rotate();
    co_return co_await status();
  }

 private:
  std::string server() const { return client_->config().server.origin(); }
  std::string where() const {
    return args_.all_namespaces ? std::string("any namespace") : "namespace " + dq(ns_);
  }

  // One line for a failed call about `name` (empty: a list). Parameters are
  // references that the caller keeps alive (GCC PR 100611, see kube/client.h).
  asio::awaitable<std::string> explain(const kube::ApiError& e, const std::string& name) {
    using K = kube::ApiErrorKind;
    switch (e.kind) {
      case K::NotFound: {
        // A missing object or a missing resource type: discovery tells.
        const std::string path = "/apis/" + std::string(controller::kGroup) + "/v1alpha1";
        const std::string no_body;
        auto d = co_await client_->request("GET", path, no_body, "");
        const bool served = d.ok() && plugin::discovery_serves_sysdigtokens(d.value());
        if (!served && (d.ok() || d.error().kind == K::NotFound)) {
          co_return "the SysdigToken CRD (" + std::string(kCrdName) +
              ") is not installed in the cluster at " + server() +
              ": the API server does not serve sysdigtokens";
        }
        if (!name.empty()) co_return "sysdigtoken " + dq(name) + " not found in " + where();
        co_return "not found: " + e.message;
      }
      case K::Transport:
        co_return "cannot reach the API server " + server() + ": " + e.message;
      case K::Timeout:
        co_return "the API server " + server() + " did not answer in time: " + e.message;
      case K::Unauthorized:
        co_return "the API server " + server() + " refused the credentials of " +
            client_->config().source + " (401 Unauthorized)";
      case K::Forbidden:
        co_return "forbidden (403): " + e.message;
      default:
        co_return e.describe();
    }
  }

  asio::awaitable<int> status() {
    const kube::Resource resource = sysdigtokens();
    std::vector<plugin::TokenStatus> tokens;
    if (!args_.name.empty()) {
      auto got = co_await client_->get(resource, ns_, args_.name);
      if (!got) {
        const std::string line = co_await explain(got.error(), args_.name);
        co_return error_line(line);
      }
      auto token = plugin::parse_token(got.value());
      if (!token) co_return error_line("sysdigtoken " + dq(args_.name) + ": " + token.error());
      tokens.push_back(std::move(token.value()));
    } else {
      const std::string ns = args_.all_namespaces ? std::string() : ns_;
      kube::ListOptions options;
      options.limit = 500;
      for (;;) {
        auto listed = co_await client_->list(resource, ns, options);
        if (!listed) {
          const std::string no_name;
          const std::string line = co_await explain(listed.error(), no_name);
          co_return error_line(line);
        }
        std::string next;
        auto page = plugin::parse_token_list(listed.value(), next);
        if (!page) co_return error_line("listing sysdigtokens: " + page.error());
        for (auto& t : page.value()) tokens.push_back(std::move(t));
        if (next.empty()) break;
        options.continue_token = next;
      }
      if (tokens.empty()) {
        if (args_.all_namespaces) {
          std::cerr << "No resources found\n";
        } else {
          std::cerr << "No resources found in " << ns_ << " namespace.\n";
        }
        co_return 0;
      }
    }
    std::cout << plugin::format_table(
        plugin::status_rows(tokens, args_.all_namespaces, Clock::now()));
    co_return 0;
  }

  asio::awaitable<int> rotate() {
    const kube::Resource resource = sysdigtokens();
    const std::string& name = args_.name;
    auto got = co_await client_->get(resource, ns_, name);
    if (!got) {
      const std::string line = co_await explain(got.error(), name);
      co_return error_line(line);
    }
    auto before = plugin::parse_token(got.value());
    if (!before) co_return error_line("sysdigtoken " + dq(name) + ": " + before.error());

    // The current time; a value already there (a rotate in the same
    // second) would not be handled again, so the next second then.
    auto now = Clock::now();
    std::string value = format_rfc3339(now);
    if (value == before->reset_annotation) value = format_rfc3339(now + std::chrono::seconds(1));
    nlohmann::json patch;
    patch["metadata"]["annotations"][std::string(controller::kResetAnnotation)] = value;
    const std::string body = patch.dump();
    const kube::PatchOptions patch_options;
    auto patched = co_await client_->patch(resource, ns_, name, kube::PatchType::Merge, body,
                                           patch_options);
    if (!patched) {
      const std::string line = co_await explain(patched.error(), name);
      co_return error_line(line);
    }
    if (!args_.wait) {
      std::cout << "sysdigtoken " << name << ": reset requested (" << controller::kResetAnnotation
                << "=" << value << ")\n";
      co_return 0;
    }

    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + *args_.wait;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::string last_handled = before->last_handled_reset;
    for (;;) {
      auto current = co_await client_->get(resource, ns_, name);
      if (!current) {
        const std::string line = co_await explain(current.error(), name);
        co_return error_line(line);
      }
      auto now_status = plugin::parse_token(current.value());
      if (!now_status) co_return error_line("sysdigtoken " + dq(name) + ": " + now_status.error());
      last_handled = now_status->last_handled_reset;
      const bool settled = std::chrono::steady_clock::now() - start >= kSettle;
      const auto verdict = plugin::judge_reset(before.value(), now_status.value(), value, settled);
      switch (verdict.state) {
        case plugin::ResetState::Rotated:
          std::cout << verdict.line << "\n";
          co_return 0;
        case plugin::ResetState::Unchanged:
          std::cout << verdict.line << "\n";
          std::cerr << "Sysdig returned the same token: reset it in the Monitoring UI (Settings > "
                       "Monitor API > Reset Token); the operator checks again every 30 s for 15 "
                       "minutes\n";
          co_return 0;
        case plugin::ResetState::Failed:
          co_return error_line("sysdigtoken " + dq(name) + ": " + verdict.line);
        case plugin::ResetState::Pending:
          break;
      }
      if (std::chrono::steady_clock::now() + kPollInterval > deadline) break;
      timer.expires_after(kPollInterval);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return error_line("timed out after " + describe_duration(*args_.wait) +
                         " waiting for the operator to handle the reset of sysdigtoken " +
                         dq(name) + " (" + std::string(controller::kResetAnnotation) + "=" +
                         value + "; status.lastHandledReset is " + dq(last_handled) +
                         "): is the operator running and watching namespace " + dq(ns_) + "?");
  }

  std::shared_ptr<kube::Client> client_;
  Args args_;
  std::string ns_;
};

int run(int argc, char** argv) {
  std::vector<std::string_view> words(argv + 1, argv + argc);
  auto args = plugin::parse_args(words);
  if (!args) return error_line(args.error());
  if (args->command == plugin::Command::Help) {
    std::cout << plugin::usage();
    return 0;
  }
  if (args->command == plugin::Command::Version) {
    std::cout << "kubectl-sysdigtoken " << STO_VERSION << "\n";
    return 0;
  }

  auto proxy = net::proxy_settings_from_environment(::getenv);
  if (!proxy) return error_line(proxy.error());
  kube::LoadOptions load;
  load.kubeconfig_path = args->kubeconfig;
  load.context = args->context;
  load.policy.allow_http = args->insecure_kubeconfig;
  load.proxy_environment = proxy.value();
  auto cluster = kube::load_default(load);
  if (!cluster) return error_line(cluster.error());
  std::string ns = args->namespace_.empty() ? cluster->namespace_ : args->namespace_;

  asio::io_context ioc(1);
  kube::ClientOptions options;
  options.user_agent = std::string("kubectl-sysdigtoken/") + STO_VERSION;
  options.timeout = std::chrono::seconds(30);
  auto client = kube::Client::create(ioc.get_executor(), std::move(cluster.value()), options);
  if (!client) return error_line(client.error());

  Plugin plugin(client.value(), std::move(args.value()), std::move(ns));
  int rc = 1;
  asio::co_spawn(ioc, plugin.run(), [&rc](std::exception_ptr e, int code) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        rc = error_line(std::string("unexpected failure: ") + x.what());
      }
      return;
    }
    rc = code;
  });
  ioc.run();
  client.value()->shutdown();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  const int rc = run(argc, argv);
  std::cout.flush();
  return rc;
}
