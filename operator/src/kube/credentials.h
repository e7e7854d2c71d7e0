// Credentials: where the Authorization header of each API server request comes
// from. A static token, a token file that the kubelet rotates on disk, or an
// exec credential plugin (client.authentication.k8s.io/v1) whose answer is
// cached until it expires. Certificate-only clients use no_credentials().
//
// Implementations are safe to share between clients and threads; they
// re-read or refresh as needed. An event loop asks through
// authorization_async(), which never blocks it: an exec plugin, which runs a
// subprocess (bounded by its timeout) when its cached token is missing,
// expired or invalidated, runs it on a thread of its own while the loop goes
// on serving probes and other reconciles.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"

namespace sto::kube {

class Credentials {
 public:
  virtual ~Credentials() = default;
  // "Bearer <token>", or empty when the client authenticates with a
  // certificate only (or not at all). The error says what failed and where.
  // May block the calling thread while an exec plugin runs.
  virtual Result<std::string, std::string> authorization() = 0;
  // The same for a caller on an event loop: never blocks the loop. The
  // default answers authorization() at once (a string or a small file);
  // an exec plugin runs on its own thread and resumes the caller on its
  // executor when done, concurrent callers sharing one run.
  virtual boost::asio::awaitable<Result<std::string, std::string>> authorization_async();
  // The server answered 401: drop what is cached and refresh on the next call.
  virtual void invalidate() {}
  // The client is shutting down: work in progress ends now (an exec plugin
  // is killed and its callers answered with an error) and no new work
  // starts. Returns once nothing runs that could still resume a caller.
  virtual void shutdown() {}
};

// No Authorization header: certificate-only or anonymous clients.
std::shared_ptr<Credentials> no_credentials();

// A fixed bearer token (kubeconfig `token`).
std::shared_ptr<Credentials> static_token(std::string token);

struct TokenFileOptions {
  // Re-read at least this often even when the file looks unchanged.
  std::chrono::seconds max_age{60};
  // Clock for max_age; steady_clock::now when empty (tests inject one).
  std::function<std::chrono::steady_clock::time_point()> now;
};

// A bearer token read from a file (kubeconfig `tokenFile`, the in-cluster
// service-account token). The file is re-read when it changes (identity,
// size or mtime, checked on every call), at least every max_age, and after
// invalidate(). When a re-read fails, the last good token is kept.
std::shared_ptr<Credentials> token_file(std::string path, TokenFileOptions options = {});

// The apiVersions of ExecCredential this client speaks.
inline constexpr const char* kExecApiV1 = "client.authentication.k8s.io/v1";
inline constexpr const char* kExecApiV1Beta1 = "client.authentication.k8s.io/v1beta1";

struct ExecEnvVar {
  std::string name;
  std::string value;
};

// Sent to the plugin in KUBERNETES_EXEC_INFO when provide_cluster_info is set.
struct ExecClusterInfo {
  std::string server;
  std::string tls_server_name;
  bool insecure_skip_tls_verify = false;
  std::string certificate_authority_pem;  // sent base64-encoded
  std::string proxy_url;                  // the cluster's proxy-url, as client-go sends it
};

// A kubeconfig `users[].user.exec` section.
struct ExecConfig {
  std::string api_version = kExecApiV1;
  // A program on PATH, an absolute path, or a path relative to the kubeconfig's
  // directory when it contains a slash.
  std::string command;
  std::vector<std::string> args;
  std::vector<ExecEnvVar> env;  // added to (and overriding) the operator's env
  std::string install_hint;     // shown when the command cannot be found
  bool provide_cluster_info = false;
  ExecClusterInfo cluster;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

// Runs the plugin (posix_spawn, stdin /dev/null, non-interactive, in its own
// process group) on a thread of its own, and caches its token until
// status.expirationTimestamp (forever when absent) or invalidate(). One run
// at a time: callers that need a token while it runs wait for its answer
// (authorization_async() without blocking their event loop). A plugin still
// running after config.timeout is killed with its whole process group, and
// the error says so. Errors include the plugin's exit status and the first
// line of its stderr. Plugins that answer with a client certificate instead
// of a token are reported as unsupported. shutdown() (and destroying the
// credentials) kills a run in progress.
std::shared_ptr<Credentials> exec_plugin(ExecConfig config, std::string kubeconfig_dir);

}  // namespace sto::kube
