// The TLS identity of the HTTPS /metrics endpoint (--metrics-secure): the
// certificate and key of a directory (tls.crt, tls.key — a kubernetes.io/tls
// Secret mounted as a volume), or, without one, a self-signed certificate
// made at start (ECDSA P-256, held in memory only).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace boost::asio::ssl {
class context;
}

namespace sto::server {

struct ServerTls {
  std::shared_ptr<boost::asio::ssl::context> context;
  // Where the certificate comes from, for the start-up log line:
  // "/etc/metrics-certs/tls.crt" or "self-signed".
  std::string source;
  // "sha256:" + hex of the DER certificate.
  std::string fingerprint;
};

// TLS 1.2 or newer. The error names the file and what is wrong with it.
Result<ServerTls, std::string> server_tls_from_dir(const std::string& dir);
// A fresh self-signed certificate for "localhost" and 127.0.0.1 (one year).
Result<ServerTls, std::string> self_signed_server_tls();

// Follows a --metrics-cert-dir as cert-manager or a Secret volume update it:
// poll() tells, from the files' identity (device, inode, size and mtime,
// links followed: a Secret volume swaps a symlink), whether they changed
// since the last look, and loads them when they did.
class CertDirWatch {
 public:
  // `loaded_from` is what the directory held when the served identity was
  // loaded (cert_dir_version() before loading).
  CertDirWatch(std::string dir, std::string loaded_from);
  // nullopt: unchanged (or a change already reported). A value: the new
  // identity. An error: the files changed but do not load (the old identity
  // stays in use); reported once per change.
  Result<std::optional<ServerTls>, std::string> poll();

 private:
  std::string dir_;
  std::string seen_;
};

// The identity of tls.crt and tls.key in `dir`; empty when one is missing.
std::string cert_dir_version(const std::string& dir);

}  // namespace sto::server
