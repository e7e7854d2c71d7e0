// Support for integration tests against the local control plane: the
// fixture's kubeconfig, a client on a private io_context, kubectl, and
// throwaway namespaces. Coroutines run with run_coroutine.h's run_on.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio.hpp>

#include "kube/client.h"
#include "kube/config.h"
#include "run_coroutine.h"

namespace sto::testing {

// Environment the controlplane fixture sets; fails the test when absent.
std::string required_env(const char* name);
// The fixture's control plane folder ($STO_CONTROLPLANE_DIR), its admin
// kubeconfig, and the source tree.
std::string controlplane_dir();
std::string admin_kubeconfig();
std::string source_dir();

// A client for the fixture's admin kubeconfig (or another kubeconfig).
std::shared_ptr<kube::Client> make_client(boost::asio::io_context& ioc,
                                          const std::string& kubeconfig = {});

// Runs kubectl with the fixture's kubeconfig; returns stdout, fails on error.
std::string kubectl(const std::string& args);
// Runs a shell command; returns {exit code, stdout+stderr}.
std::pair<int, std::string> shell(const std::string& command);

// Creates a namespace with a unique name and deletes it when destroyed.
class TempNamespace {
 public:
  explicit TempNamespace(const std::string& prefix);
  ~TempNamespace();
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

}  // namespace sto::testing
