// Cluster configuration: where the API server is, how to trust it and how to
// authenticate, from a kubeconfig (one file, or several merged like kubectl
// does) or from the in-cluster service account.
//
// The lookup order of load_default is controller-runtime's: an explicit
// kubeconfig path, else $KUBECONFIG (a colon-separated list, merged), else
// in-cluster (KUBERNETES_SERVICE_HOST set and a service-account token on
// disk), else ~/.kube/config. Errors name the file and the field, e.g.
// `kubeconfig /root/.kube/config: users[0].user.client-key-data: invalid base64`.
#pragma once

#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "kube/credentials.h"
#include "net/http_client.h"

namespace sto::kube {

struct ClusterConfig {
  net::Url server;  // https://host:port[/prefix]; IPv6 hosts without brackets
  // Trust and client certificate. When the configuration names a CA, only
  // that CA is trusted (use_system_store is false).
  net::TlsConfig tls;
  std::shared_ptr<Credentials> credentials;  // never null
  std::string namespace_;                    // the context's or pod's namespace, else "default"
  std::string source;  // e.g. "kubeconfig /root/.kube/config (context kind-x)" or "in-cluster"
  // The HTTP proxy to the API server: the cluster's proxy-url, else (as
  // client-go) HTTPS_PROXY unless NO_PROXY names the server or it is a
  // loopback address; none for an http:// server.
  std::optional<net::Proxy> proxy;
  std::string proxy_source;  // "kubeconfig ...: clusters[0].cluster.proxy-url" or "HTTPS_PROXY"
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// What a kubeconfig may ask for only when allowed.
struct KubeconfigPolicy {
  // A cluster `server` with http:// (no TLS): its bearer token and every
  // object, Secrets included, would cross the network in the clear. Refused
  // unless set (the operator's --insecure-kubeconfig); the error names the
  // file and the cluster.
  bool allow_http = false;
};

struct LoadOptions {
  std::string kubeconfig_path;  // --kubeconfig; empty: look further
  std::string context;          // empty: the kubeconfig's current-context
  KubeconfigPolicy policy;      // for kubeconfig files (in-cluster is always https)
  // Injectable for tests.
  std::string service_account_dir = kServiceAccountDir;
  std::function<const char*(const char*)> getenv = ::getenv;
  // HTTPS_PROXY / NO_PROXY as the operator read them at start-up: used for
  // the API server when the kubeconfig names no proxy-url (and in-cluster).
  net::ProxySettings proxy_environment;
};

// One kubeconfig file; context empty means its current-context.
Result<ClusterConfig, std::string> load_kubeconfig_file(const std::string& path,
                                                        const std::string& context = "",
                                                        const KubeconfigPolicy& policy = {});

// Several kubeconfig files merged by kubectl's rules: the first file to define
// a cluster, context or user name (or current-context) wins; relative paths
// resolve against the directory of the file that defined the entry. Every
// file must exist and parse.
Result<ClusterConfig, std::string> load_kubeconfig_files(const std::vector<std::string>& paths,
                                                         const std::string& context = "",
                                                         const KubeconfigPolicy& policy = {});

// The service account of the pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT,
// <dir>/ca.crt, <dir>/token (re-read as the kubelet rotates it) and
// $POD_NAMESPACE or <dir>/namespace.
Result<ClusterConfig, std::string> load_in_cluster(const LoadOptions& options);

// The lookup order described above.
Result<ClusterConfig, std::string> load_default(const LoadOptions& options);

}  // namespace sto::kube
