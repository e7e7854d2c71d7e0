// ClusterSysdigToken fan-out: a ClusterSysdigToken is handled as one member
// per selected namespace, each reconciled as a SysdigToken of that namespace
// (so one fetch of the team's token serves them all), and summed up in the
// ClusterSysdigToken's status. This file holds the pure parts: queue keys,
// members and the status summary (its patch: kube_gateway.h).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/sysdig_token.h"
#include "kube/resource.h"

namespace sto::controller {

kube::Resource cluster_sysdig_tokens();

// Work queue keys: "csdt:NAME" for the summary of a ClusterSysdigToken,
// "csdt:NS/NAME" for its member in NS (names hold no ':' or '/').
inline constexpr std::string_view kClusterKeyPrefix = "csdt:";
std::string summary_key(std::string_view name);
std::string member_key(std::string_view ns, std::string_view name);
struct ClusterKey {
  std::string ns;  // empty for the summary
  std::string name;
  bool member() const { return !ns.empty(); }
};
std::optional<ClusterKey> parse_cluster_key(std::string_view key);

// The member of `token` in `ns`, with the status kept for it (if any).
std::shared_ptr<SysdigToken> make_member(const ClusterSysdigToken& token, const std::string& ns,
                                         const SysdigTokenStatus* status);

// One namespace the ClusterSysdigToken selects or lists.
struct MemberView {
  std::string ns;
  bool exists = true;                       // false: listed in spec.namespaces, absent
  const SysdigTokenStatus* status = nullptr;  // nothing reported yet
};

// The ClusterSysdigToken's status from its members' (sorted by namespace).
// `spec_error`: the spec cannot be acted on (reported alone).
ClusterSysdigTokenStatus summarize(const ClusterSysdigToken& token,
                                   const std::vector<MemberView>& members,
                                   const std::string& spec_error,
                                   std::chrono::system_clock::time_point now);

}  // namespace sto::controller
