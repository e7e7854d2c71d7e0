// Resource: which API collection a request addresses (group, version,
// plural, scope), and the REST paths for it.
#pragma once

#include <string>
#include <string_view>

namespace sto::kube {

struct Resource {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "secrets"
  std::string kind;     // "Secret"
  bool namespaced = true;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // /api/v1/namespaces/NS/secrets, or /apis/G/V/secrets when ns is empty or
  // the resource is cluster-scoped.
  std::string collection_path(std::string_view ns) const;
  std::string item_path(std::string_view ns, std::string_view name,
                        std::string_view subresource = {}) const;
};

namespace resources {
Resource secrets();
Resource leases();
Resource events();
Resource namespaces();
Resource configmaps();
}  // namespace resources

// "ns/name", or "name" for cluster-scoped objects: the cache and queue key.
std::string object_key(std::string_view ns, std::string_view name);

// Percent-encodes a query value.
std::string url_encode(std::string_view value);

}  // namespace sto::kube
