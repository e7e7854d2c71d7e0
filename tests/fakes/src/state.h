// The fake's seeded world: IBM Cloud API keys, IAM trusted profiles (with the
// Kubernetes ServiceAccounts they trust), Monitoring instances and their
// teams, and the IAM token lifetime (DESIGN §6, §8).
//
// The same document shape is read from YAML (`--config FILE`) and from JSON
// (the admin API's PUT/POST /_fake/state). Reading produces a StatePatch in
// which every field but the identifying one is optional; a patch then either
// replaces the state (required fields enforced) or is merged into it (entries
// matched by key, GUID or team id; only the fields given change). Every error
// names the offending field, e.g. `instances[0].teams[1].id: expected an integer`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.h"

namespace sto::fake {

// Whether an instance lets callers use Monitor API tokens (ANY) or only IAM
// (IAM_ONLY, in which case GET /api/token answers 403).
enum class ExternalApiAuth { Any, IamOnly };

std::string_view to_string(ExternalApiAuth auth);

// Which team header GET /api/token honours: IBM's current docs name it
// TeamID, older ones SysdigTeamID. A request without an honoured header is
// answered with the caller's default team, as Sysdig does.
enum class TeamHeader { TeamID, SysdigTeamID, Both };

std::string_view to_string(TeamHeader header);

struct ApiKey {
  std::string key;
  std::string iam_id;
  bool enabled = true;
};

// A compute resource trust rule: the ServiceAccount `service_account` of
// namespace `ns` may act as the profile.
struct TrustRule {
  std::string ns;
  std::string service_account;
  bool operator==(const TrustRule&) const = default;
};

struct TrustedProfile {
  std::string id;
  std::string name;
  std::string iam_id;
  std::vector<TrustRule> trust;

  bool trusts(std::string_view ns, std::string_view service_account) const;
};

struct Team {
  std::int64_t id = 0;
  std::string name;
  std::string token;  // the team's Monitor API token
};

struct Instance {
  std::string guid;
  std::string region;
  ExternalApiAuth external_api_auth = ExternalApiAuth::Any;
  TeamHeader team_header = TeamHeader::Both;
  std::int64_t default_team_id = 0;    // 0: the lowest team id
  std::map<std::int64_t, Team> teams;  // by id

  const Team* find_team(std::int64_t id) const;
  const Team* find_team_by_name(std::string_view name) const;
  const Team* default_team() const;
};

struct State {
  std::int64_t token_ttl_seconds = 3600;
  std::map<std::string, ApiKey, std::less<>> api_keys;     // by key
  std::map<std::string, Instance, std::less<>> instances;  // by GUID
  std::map<std::string, TrustedProfile, std::less<>> trusted_profiles;  // by id

  const ApiKey* find_api_key(std::string_view key) const;
  const TrustedProfile* find_profile(std::string_view id) const;
  const TrustedProfile* find_profile_by_name(std::string_view name) const;
  Instance* find_instance(std::string_view guid);
  const Instance* find_instance(std::string_view guid) const;
};

// A parsed state document; `path` fields locate an entry for error messages.
struct ApiKeyPatch {
  std::string path;
  std::string key;
  std::optional<std::string> iam_id;
  std::optional<bool> enabled;
};

struct TeamPatch {
  std::string path;
  std::int64_t id = 0;
  std::optional<std::string> name;
  std::optional<std::string> token;
};

struct InstancePatch {
  std::string path;
  std::string guid;
  std::optional<std::string> region;
  std::optional<ExternalApiAuth> external_api_auth;
  std::optional<TeamHeader> team_header;
  std::optional<std::int64_t> default_team_id;
  std::vector<TeamPatch> teams;
};

struct TrustedProfilePatch {
  std::string path;
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> iam_id;
  std::optional<std::vector<TrustRule>> trust;  // replaces the rules when given
};

struct StatePatch {
  std::optional<std::int64_t> token_ttl_seconds;
  std::vector<ApiKeyPatch> api_keys;
  std::vector<InstancePatch> instances;
  std::vector<TrustedProfilePatch> trusted_profiles;
};

// Reads a state document. Errors read `<field path>: <problem>`.
Result<StatePatch, std::string> parse_state_json(const nlohmann::json& document);
Result<StatePatch, std::string> parse_state_yaml(std::string_view text);

// A new state holding exactly what the patch describes (PUT semantics).
Result<State, std::string> build_state(const StatePatch& patch);
// Merges the patch into `state` (POST semantics); on error `state` is unchanged.
Result<Ok, std::string> merge_state(State& state, const StatePatch& patch);

// The state as a document of the same shape (tokens included: it is a fake).
nlohmann::json to_json(const State& state);

// Reads and parses a YAML config file; errors are prefixed with the file name.
Result<State, std::string> load_state_file(const std::string& path);

}  // namespace sto::fake
