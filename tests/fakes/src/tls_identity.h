// The fake's TLS identity, made fresh at every start: a private CA (EC P-256,
// basicConstraints CA:TRUE) and a server certificate it signs, with the
// subject alternative names clients connect by (127.0.0.1, ::1 and localhost,
// plus any extra). Clients trust the CA certificate (`--tls-dir DIR` writes it
// to DIR/ca.crt).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace sto::fake {

struct TlsIdentity {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;  // PKCS#8
};

// `extra_names` are DNS names or IP addresses added to the default SANs.
Result<TlsIdentity, std::string> generate_tls_identity(
    const std::vector<std::string>& extra_names = {});

// Whether `name` can be a SAN: an IP address or a DNS name (letters, digits,
// '-', '.', and a leading "*." wildcard).
bool is_valid_subject_alt_name(const std::string& name);

}  // namespace sto::fake
