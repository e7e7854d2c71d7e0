// sysdig-token-operator: flags -> configuration -> wiring -> run until SIGTERM.
#include <chrono>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <sys/prctl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/logging.h"
#include "common/memory.h"
#include "cli/options.h"
#include "controller/controller.h"
#include "ibm/http_gateway.h"
#include "ibm/iam_token_source.h"
#include "ibm/monitoring_client.h"
#include "kube/access_review.h"
#include "kube/config.h"
#include "net/proxy.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/tls.h"

namespace {

int run(const sto::cli::Options& options) {
  namespace asio = boost::asio;
  using namespace sto;

  // HTTPS_PROXY / NO_PROXY, read once: for IBM Cloud, and for the API server
  // when its kubeconfig names no proxy-url (as client-go).
  auto proxy = net::proxy_settings_from_environment(::getenv);
  if (!proxy) {
    std::cerr << "sysdig-token-operator: " << proxy.error() << "\n";
    return 2;
  }

  // --metrics-secure: the certificate first, so that a bad --metrics-cert-dir
  // is the one line printed.
  std::shared_ptr<boost::asio::ssl::context> metrics_tls;
  std::string metrics_tls_source, metrics_tls_fingerprint;
  std::optional<server::CertDirWatch> metrics_cert_watch;
  if (options.metrics_bind_address && options.metrics_secure) {
    if (!options.metrics_cert_dir.empty()) {
      metrics_cert_watch.emplace(options.metrics_cert_dir,
                                 server::cert_dir_version(options.metrics_cert_dir));
    }
    auto tls = options.metrics_cert_dir.empty()
                   ? server::self_signed_server_tls()
                   : server::server_tls_from_dir(options.metrics_cert_dir);
    if (!tls) {
      std::cerr << "sysdig-token-operator: " << tls.error() << "\n";
      return 2;
    }
    metrics_tls = tls->context;
    metrics_tls_source = tls->source;
    metrics_tls_fingerprint = tls->fingerprint;
  }

  kube::LoadOptions load;
  load.proxy_environment = proxy.value();
  load.kubeconfig_path = options.kubeconfig;
  load.policy.allow_http = options.insecure_kubeconfig;
  auto cluster = kube::load_default(load);
  if (!cluster) {
    std::cerr << "sysdig-token-operator: " << cluster.error() << "\n";
    return 2;
  }
  if (cluster->server.scheme == "http") {
    log::warn("the API server is reached over plain HTTP (--insecure-kubeconfig): credentials "
              "and Secrets cross the network unencrypted",
              {{"server", cluster->server.origin()}});
  }
  std::string lease_namespace = options.leader_election_namespace;
  if (lease_namespace.empty()) lease_namespace = cluster->namespace_;
  log::info("starting", {{"version", STO_VERSION}, {"cluster", cluster->source}});
  // Where proxies are in use: host and port only, never the credentials.
  if (proxy->https) {
    log::info("IBM Cloud is reached through a proxy",
              {{"proxy", proxy->https->display()},
               {"from", proxy->https_variable},
               {"noProxy", proxy->no_proxy.text()}});
  }
  if (cluster->proxy) {
    log::info("the API server is reached through a proxy",
              {{"proxy", cluster->proxy->display()}, {"from", cluster->proxy_source}});
  }

  auto allowlist = ibm::HostAllowlist::parse(options.allowed_hosts);
  if (!allowlist) {
    std::cerr << "sysdig-token-operator: --allowed-hosts: " << allowlist.error() << "\n";
    return 2;
  }

  asio::io_context ioc(1);
  server::Registry metrics;
  server::register_process_metrics(metrics);
  auto& rest_requests = metrics.counter("rest_client_requests_total",
                                        "Number of HTTP requests, partitioned by status code, "
                                        "method, and host.",
                                        {"code", "method", "host"});
  kube::ClientOptions client_options;
  client_options.qps = options.kube_api_qps;
  client_options.burst = options.kube_api_burst;
  client_options.max_in_flight = static_cast<std::size_t>(options.kube_api_max_in_flight);
  client_options.on_request = [&rest_requests](std::string_view method, int code,
                                               std::string_view host) {
    const std::string code_text = code == 0 ? "<error>" : std::to_string(code);
    rest_requests.with({code_text, method, host}).inc();
    if (log::enabled(log::Level::Debug)) {
      log::debug("kubernetes request", {{"method", method}, {"code", code_text}});
    }
  };
  // The Lease has a client of its own (its connection, its rate limit), so
  // that a renewal never waits behind the reconcilers' requests.
  std::shared_ptr<kube::Client> lease_client;
  if (options.leader_elect) {
    kube::ClientOptions lease_options = client_options;
    lease_options.max_in_flight = 0;
    lease_options.qps = 5;
    lease_options.burst = 10;
    auto created = kube::Client::create(ioc.get_executor(), cluster.value(), lease_options);
    if (!created) {
      std::cerr << "sysdig-token-operator: " << created.error() << "\n";
      return 2;
    }
    lease_client = std::move(created).value();
  }
  auto client =
      kube::Client::create(ioc.get_executor(), std::move(cluster.value()), client_options);
  if (!client) {
    std::cerr << "sysdig-token-operator: " << client.error() << "\n";
    return 2;
  }

  // IBM Cloud endpoints are verified against the system store, or the
  // certificates that SSL_CERT_FILE / SSL_CERT_DIR name.
  ibm::GatewayOptions gateway_options;
  gateway_options.proxy = proxy.value();
  auto& ibm_requests = metrics.counter("sysdigtoken_ibm_requests_total",
                                       "Requests to IBM Cloud, by API (iam, monitoring) and "
                                       "HTTP status",
                                       {"api", "code"});
  gateway_options.on_response = [&ibm_requests](ibm::Service service, int code) {
    const std::string code_text = code == 0 ? "<error>" : std::to_string(code);
    ibm_requests.with({service == ibm::Service::Iam ? "iam" : "monitoring", code_text}).inc();
  };
  gateway_options.connect_to = options.connect_to;
  for (const auto& rule : options.connect_to) {
    log::info("IBM Cloud connections redirected", {{"connectTo", rule.to_string()}});
  }
  auto gateway = ibm::HttpGateway::create(ioc.get_executor(), allowlist.value(), gateway_options);
  if (!gateway) {
    std::cerr << "sysdig-token-operator: " << gateway.error() << "\n";
    return 2;
  }
  // The bounded pool of IBM Cloud clients: its size, and idle clients swept.
  metrics.gauge_callback(
      "sysdigtoken_ibm_http_clients",
      "HTTP clients to IBM Cloud held, one per endpoint origin (bounded, idle ones dropped)",
      [gw = std::weak_ptr<ibm::HttpGateway>(gateway.value())] {
        auto g = gw.lock();
        return g ? static_cast<double>(g->client_count()) : 0.0;
      });
  asio::co_spawn(ioc, gateway.value()->maintain(), asio::detached);
  auto iam = ibm::make_iam_token_cache(gateway.value());
  auto monitoring = ibm::make_monitoring_client(gateway.value(), iam);

  controller::ControllerOptions co;
  co.namespaces = options.namespaces;
  co.workers = options.max_concurrent_reconciles;
  co.leader_elect = options.leader_elect;
  co.lease_client = lease_client;
  co.lease_namespace = lease_namespace;
  co.lease_name = options.leader_election_id;
  co.allowlist = allowlist.value();
  co.monitoring = monitoring;
  co.reconciler.restart_debounce = options.restart_debounce;
  co.reconciler.reset_quiet = options.reset_gather;
  co.metrics = &metrics;
  controller::Controller ctrl(client.value(), co);

  // /metrics and the probes: one server when both use the same address,
  // else two, each with its own listener, accept loop and connection cap, so
  // that clients of /metrics (or connections held open on its port) never
  // take the kubelet's place on the probe port. Either way a server at its
  // cap makes room by closing the connection idle the longest.
  std::vector<std::unique_ptr<server::HttpServer>> servers;
  // Accept failures of /metrics and the probes, one line per minute at most.
  auto server_log = std::make_shared<log::Throttle>(std::chrono::minutes(1));
  server::ServerOptions server_options;
  server_options.on_error = [server_log](std::string_view message) {
    server_log->write(message, log::Level::Warn, "probe and metrics server", {{"error", message}});
  };
  auto readiness = [&ctrl]() {
    auto st = ctrl.status();
    if (!st.synced) return server::ReadyStatus{false, "informer caches not synced"};
    if (!st.stalled.empty()) return server::ReadyStatus{false, st.stalled};
    return server::ReadyStatus{};
  };
  const auto& metrics_at = options.metrics_bind_address;
  const auto& health_at = options.health_probe_bind_address;
  // --metrics-secure: HTTPS, and each bearer token reviewed by the API
  // server (TokenReview, then SubjectAccessReview for get on /metrics).
  std::shared_ptr<kube::AccessReviewer> reviewer;
  if (metrics_tls) {
    log::info("metrics served over HTTPS to authorized clients only",
              {{"certificate", metrics_tls_source}, {"fingerprint", metrics_tls_fingerprint}});
    reviewer = std::make_shared<kube::AccessReviewer>(client.value());
  }
  if (metrics_at) {
    auto& s = servers.emplace_back(
        std::make_unique<server::HttpServer>(ioc.get_executor(), server_options));
    s->serve_metrics(metrics);
    if (metrics_tls) {
      s->use_tls(metrics_tls);
      s->require_authorization(
          [reviewer](const std::string& token) -> asio::awaitable<server::AuthDecision> {
            kube::AccessDecision d = co_await reviewer->review(token);
            switch (d) {
              case kube::AccessDecision::Allowed:
                co_return server::AuthDecision::Allowed;
              case kube::AccessDecision::Forbidden:
                co_return server::AuthDecision::Forbidden;
              case kube::AccessDecision::Unauthenticated:
                break;
            }
            co_return server::AuthDecision::Unauthenticated;
          });
    }
    if (health_at && *health_at == *metrics_at) s->serve_health(readiness);
    if (auto started = s->start(*metrics_at); !started) {
      std::cerr << "sysdig-token-operator: --metrics-bind-address: " << started.error() << "\n";
      return 2;
    }
  }
  if (health_at && !(metrics_at && *health_at == *metrics_at)) {
    auto& s = servers.emplace_back(
        std::make_unique<server::HttpServer>(ioc.get_executor(), server_options));
    s->serve_health(readiness);
    if (auto started = s->start(*health_at); !started) {
      std::cerr << "sysdig-token-operator: --health-probe-bind-address: " << started.error()
                << "\n";
      return 2;
    }
  }
  for (const auto& s : servers) log::info("serving", {{"address", s->local_address()}});

  // A renewed certificate in --metrics-cert-dir (cert-manager, a rotated
  // Secret) is served to new connections within 10 seconds.
  asio::steady_timer cert_reload(ioc);
  std::function<void()> reload_cert_later = [&] {
    cert_reload.expires_after(std::chrono::seconds(10));
    cert_reload.async_wait([&](const boost::system::error_code& e) {
      if (e) return;
      auto polled = metrics_cert_watch->poll();
      if (!polled) {
        log::warn("metrics certificate not reloaded: the previous one is still served",
                  {{"error", polled.error()}});
      } else if (polled->has_value()) {
        servers.front()->use_tls((*polled)->context);
        log::info("metrics certificate reloaded", {{"certificate", (*polled)->source},
                                                   {"fingerprint", (*polled)->fingerprint}});
      }
      reload_cert_later();
    });
  };
  if (metrics_cert_watch && metrics_tls) reload_cert_later();

  // Memory freed after large answers (a tenant's big Secrets among them) is
  // given back to the system every few seconds.
  asio::steady_timer memory_release(ioc);
  std::function<void()> release_memory_later = [&] {
    memory_release.expires_after(std::chrono::seconds(5));
    memory_release.async_wait([&](const boost::system::error_code& e) {
      if (e) return;
      release_free_memory();
      release_memory_later();
    });
  };
  release_memory_later();

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  // Shutdown is bounded: what has not finished by then is left (the Lease
  // then expires instead of being released).
  asio::steady_timer shutdown_deadline(ioc);
  int exit_code = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::info("shutting down", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
    ctrl.stop();
    shutdown_deadline.expires_after(options.graceful_shutdown_timeout);
    shutdown_deadline.async_wait([&](const boost::system::error_code& e) {
      if (e) return;
      log::error("graceful shutdown timed out: exiting with work unfinished",
                 {{"timeout", std::to_string(options.graceful_shutdown_timeout.count()) + "ms"}});
      exit_code = 1;
      ioc.stop();
    });
  });
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        bool clean = co_await ctrl.run();
        exit_code = clean ? 0 : 1;
        signals.cancel();
        shutdown_deadline.cancel();
        memory_release.cancel();
        cert_reload.cancel();
        gateway.value()->shutdown();
        for (auto& s : servers) s->stop();
      },
      [&](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log::error("fatal", {{"error", ex.what()}});
          }
          exit_code = 1;
        }
        ioc.stop();
      });
  ioc.run();
  // Also when shutdown timed out: a credential plugin still running is
  // killed and its thread ended before the io_context goes away.
  client.value()->shutdown();
  if (lease_client) lease_client->shutdown();
  // Let the work cancelled at shutdown (watches, timers) finish while the
  // objects it belongs to still exist.
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2));
  log::info("stopped");
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // The process holds API keys and tokens: no core dumps, no ptrace by
  // other processes of the same user.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  sto::return_large_blocks_at_once();
  auto outcome = sto::cli::parse_command_line(argc, argv);
  if (auto* exit = std::get_if<sto::cli::Exit>(&outcome)) {
    (exit->code == 0 ? std::cout : std::cerr) << exit->text << '\n';
    return exit->code;
  }
  const auto& options = std::get<sto::cli::Options>(outcome);
  sto::log::configure(options.log_level, options.log_format);
  return run(options);
}
