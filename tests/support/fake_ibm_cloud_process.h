// Test support: the real fake-ibm-cloud binary (tests/fakes) as a child
// process on 127.0.0.1 with a seed config, its CA, and a synchronous client
// of its admin API (/_fake/...).
//
// The binary's path comes from the build (FAKE_IBM_CLOUD_BINARY). When the
// build has no fake-ibm-cloud target, starting one throws: the tests that need
// it fail loudly instead of being skipped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "child_process.h"

namespace sto::testing {

class FakeIbmCloudProcess {
 public:
  // Starts the fake with `config_yaml` as its --config; throws with the
  // fake's stderr if it does not come up.
  explicit FakeIbmCloudProcess(const std::string& config_yaml);
  ~FakeIbmCloudProcess();
  FakeIbmCloudProcess(const FakeIbmCloudProcess&) = delete;
  FakeIbmCloudProcess& operator=(const FakeIbmCloudProcess&) = delete;

  // "https://127.0.0.1:PORT", both IAM and Monitoring.
  const std::string& url() const { return url_; }
  std::uint16_t port() const { return port_; }
  // The CA that signed the fake's certificate (PEM).
  const std::string& ca_pem() const { return ca_pem_; }

  // An admin API call that must answer 2xx; returns its JSON body.
  nlohmann::json admin(const std::string& method, const std::string& target,
                       const nlohmann::json& body = nullptr);
  // GET /_fake/requests: how many requests reached `endpoint` ("POST
  // /identity/token"), with the given outcome ("200") or any.
  std::uint64_t count(const std::string& endpoint, const std::string& outcome = "");
  // POST /_fake/faults with the rule; DELETE /_fake/faults.
  void add_fault(const nlohmann::json& rule);
  void clear_faults();
  void reset_requests();

 private:
  TempDir dir_{"fake-ibm-cloud"};
  std::unique_ptr<ChildProcess> process_;
  std::string url_;
  std::uint16_t port_ = 0;
  std::string ca_pem_;
};

}  // namespace sto::testing
