// Kubernetes name rules: DNS-1123 labels (namespace names) and subdomains
// (most object names).
#pragma once

#include <string_view>

namespace sto::kube {

bool is_dns1123_label(std::string_view text);
bool is_dns1123_subdomain(std::string_view text);

}  // namespace sto::kube
