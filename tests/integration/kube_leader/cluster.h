// The control plane of the integration tests, as the "controlplane" CTest
// fixture announces it: $KUBECONFIG (a colon-separated list, merged).
#pragma once

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube/config.h"

namespace sto::kube::testing {

inline Result<ClusterConfig, std::string> cluster_from_env() {
  const char* env = std::getenv("KUBECONFIG");
  if (env == nullptr || *env == '\0') {
    return fail(std::string(
        "KUBECONFIG is not set: run this test through ctest, whose \"controlplane\" fixture "
        "starts a kube-apiserver (ctest -R 'controlplane|kube_leader')"));
  }
  std::vector<std::string> paths;
  std::stringstream list(env);
  for (std::string p; std::getline(list, p, ':');) {
    if (!p.empty()) paths.push_back(p);
  }
  return load_kubeconfig_files(paths);
}

}  // namespace sto::kube::testing
