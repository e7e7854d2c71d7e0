#include "kube/resource.h"

#include <cctype>

namespace sto::kube {

std::string Resource::collection_path(std::string_view ns) const {
  std::string path = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) {
    path += "/namespaces/";
    path += ns;
  }
  path += "/" + plural;
  return path;
}

std::string Resource::item_path(std::string_view ns, std::string_view name,
                                std::string_view subresource) const {
  std::string path = collection_path(ns);
  path += "/";
  path += name;
  if (!subresource.empty()) {
    path += "/";
    path += subresource;
  }
  return path;
}

namespace resources {
Resource secrets() { return {"", "v1", "secrets", "Secret", true}; }
Resource configmaps() { return {"", "v1", "configmaps", "ConfigMap", true}; }
Resource namespaces() { return {"", "v1", "namespaces", "Namespace", false}; }
Resource leases() { return {"coordination.k8s.io", "v1", "leases", "Lease", true}; }
Resource events() { return {"events.k8s.io", "v1", "events", "Event", true}; }
}  // namespace resources

std::string object_key(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string key;
  key.reserve(ns.size() + name.size() + 1);
  key.append(ns).append("/").append(name);
  return key;
}

std::string url_encode(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace sto::kube
