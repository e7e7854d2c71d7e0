// Controller: the SysdigToken controller's runtime — informers for
// SysdigTokens and for the Secrets it manages (label-selected), a work queue,
// N reconcile workers, optional leader election, and a shutdown that lets
// in-flight reconciles finish before the Lease is released.
#pragma once

#include <functional>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "controller/reconciler.h"
#include "kube/client.h"

namespace sto::server {
class Registry;
}

namespace sto::controller {

struct ControllerOptions {
  std::vector<std::string> namespaces;  // empty: all
  int workers = 16;
  // Workers that take no key and finish none for this long while keys are
  // waiting count as stalled (readiness fails, naming them).
  std::chrono::milliseconds stall_timeout{std::chrono::minutes(3)};
  bool leader_elect = false;
  // The client the Lease is read and renewed with; the controller's own
  // when null.
  std::shared_ptr<kube::Client> lease_client;
  std::string lease_namespace;
  std::string lease_name = "sysdig-token-operator";
  std::string identity;  // default: host name and a random suffix
  ibm::HostAllowlist allowlist;
  std::shared_ptr<ibm::MonitoringClient> monitoring;
  ReconcilerOptions reconciler;
  // controller-runtime's controller, workqueue and leader-election metrics
  // and the operator's own are registered here when given; it must outlive
  // the Controller.
  server::Registry* metrics = nullptr;
};

struct ControllerStatus {
  bool synced = false;   // caches have synced (ready)
  bool leading = false;  // this replica reconciles
  // Set when the workers made no progress for longer than the stall
  // timeout while keys were waiting: names the part and how long.
  std::string stalled;
};

class Controller {
 public:
  Controller(std::shared_ptr<kube::Client> client, ControllerOptions options);
  ~Controller();

  // Runs until stop(); returns after in-flight work finished and the Lease
  // (if any) was released. Returns false when leadership was lost.
  boost::asio::awaitable<bool> run();
  void stop();
  ControllerStatus status() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sto::controller
