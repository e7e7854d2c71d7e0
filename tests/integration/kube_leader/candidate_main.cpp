// leader_candidate NAMESPACE LEASE IDENTITY LEASE_MS RENEW_MS RETRY_MS
//
// One leader-election candidate in a process of its own, so that a test can
// SIGKILL the leader: prints "leading" when it leads and "stopped" (then
// exits 3) when it stops; otherwise runs until killed. Errors go to stderr.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "cluster.h"
#include "kube/client.h"
#include "kube/leader_election.h"

int main(int argc, char** argv) {
  using namespace sto::kube;
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: leader_candidate NAMESPACE LEASE IDENTITY LEASE_MS RENEW_MS RETRY_MS\n");
    return 2;
  }
  auto cluster = testing::cluster_from_env();
  if (!cluster) {
    std::fprintf(stderr, "leader_candidate: %s\n", cluster.error().c_str());
    return 2;
  }
  boost::asio::io_context ioc;
  auto client = Client::create(ioc.get_executor(), std::move(cluster.value()));
  if (!client) {
    std::fprintf(stderr, "leader_candidate: %s\n", client.error().c_str());
    return 2;
  }
  LeaderElectionConfig config;
  config.ns = argv[1];
  config.name = argv[2];
  config.identity = argv[3];
  config.lease_duration = std::chrono::milliseconds(std::atol(argv[4]));
  config.renew_deadline = std::chrono::milliseconds(std::atol(argv[5]));
  config.retry_period = std::chrono::milliseconds(std::atol(argv[6]));
  if (auto valid = validate(config); !valid) {
    std::fprintf(stderr, "leader_candidate: %s\n", valid.error().c_str());
    return 2;
  }
  LeaderElectionCallbacks callbacks;
  callbacks.on_started_leading = [] {
    std::printf("leading\n");
    std::fflush(stdout);
  };
  callbacks.on_stopped_leading = [] {
    std::printf("stopped\n");
    std::fflush(stdout);
    std::_Exit(3);
  };
  callbacks.on_error = [](const sto::kube::ErrorReport& e) {
    std::fprintf(stderr, "leader_candidate: %s\n", e.message.c_str());
  };
  LeaderElector elector(client.value(), config, callbacks);
  boost::asio::co_spawn(ioc, elector.run(), boost::asio::detached);
  ioc.run();
  return 0;
}
