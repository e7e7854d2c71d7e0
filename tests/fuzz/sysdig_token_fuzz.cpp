// The SysdigToken and ClusterSysdigToken projections (watch events and list
// items of the CRDs, written by any tenant or cluster admin) and the
// Namespace projection: never throw out of their Result API; whatever they
// keep, resolve_spec and the selection can judge without throwing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/sysdig_token.h"
#include "fuzz_support.h"

namespace {

void cluster_token(std::string_view json) {
  auto object = sto::controller::project_cluster_sysdig_token(json);
  if (!object) return;
  auto token = std::dynamic_pointer_cast<const sto::controller::ClusterSysdigToken>(*object);
  sto::fuzz::check(token != nullptr, "project_cluster_sysdig_token returned another type");
  sto::fuzz::check(token->meta.ns.empty(), "a ClusterSysdigToken kept a namespace");
  // A spec the operator cannot act on selects nothing.
  const bool selects = token->selects("team-a", {{"team", "a"}});
  sto::fuzz::check(!selects || token->spec_error.empty(), "a broken spec selects namespaces");
  sto::controller::SysdigToken member;
  member.meta = token->meta;
  member.meta.ns = "team-a";
  member.spec = token->spec;
  member.cluster_scoped = true;
  (void)sto::controller::resolve_spec(member);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view json(reinterpret_cast<const char*>(data), size);
  try {
    auto object = sto::controller::project_sysdig_token(json);
    if (object) {
      auto token = std::dynamic_pointer_cast<const sto::controller::SysdigToken>(*object);
      sto::fuzz::check(token != nullptr, "project_sysdig_token returned another type");
      (void)sto::controller::resolve_spec(*token);
    }
    cluster_token(json);
    (void)sto::controller::project_namespace(json);
  } catch (...) {
    sto::fuzz::fail("exception out of a projection or resolve_spec");
  }
  return 0;
}
