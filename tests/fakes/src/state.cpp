#include "state.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "tokens.h"

namespace sto::fake {
namespace {

using json = nlohmann::json;

constexpr std::int64_t kMaxTokenTtlSeconds = 10LL * 365 * 24 * 3600;
constexpr std::string_view kDefaultRegion = "us-south";

// Thrown inside this file only; the public functions turn it into a Result.
struct DocumentError {
  std::string message;
};

[[noreturn]] void fail_at(const std::string& path, std::string_view problem) {
  throw DocumentError{(path.empty() ? std::string("top level") : path) + ": " +
                      std::string(problem)};
}

std::string member_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string element_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

std::string describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a non-integer number";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a mapping";
    default:
      return "an unsupported value";
  }
}

[[noreturn]] void fail_type(const std::string& path, std::string_view expected, const json& got) {
  fail_at(path, "expected " + std::string(expected) + ", got " + describe(got));
}

// Reads the members of one mapping, rejecting members it does not know so
// that a misspelt field is an error rather than silently ignored.
class ObjectReader {
 public:
  ObjectReader(const json& value, std::string path, std::initializer_list<std::string_view> known)
      : value_(value), path_(std::move(path)) {
    if (!value_.is_object()) fail_type(path_, "a mapping", value_);
    for (const auto& [key, member] : value_.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string expected;
        for (std::string_view k : known)
          expected += (expected.empty() ? "" : ", ") + std::string(k);
        fail_at(member_path(path_, key), "unknown field (expected one of: " + expected + ")");
      }
    }
  }

  const std::string& path() const { return path_; }
  std::string path_of(std::string_view key) const { return member_path(path_, key); }

  const json* find(std::string_view key) const {
    auto it = value_.find(key);
    if (it == value_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::optional<std::string> string(std::string_view key) const {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail_type(path_of(key), "a string", *v);
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty()) fail_at(path_of(key), "must not be empty");
    if (std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      fail_at(path_of(key), "must not contain control characters");
    }
    return s;
  }

  std::string required_string(std::string_view key) const {
    auto s = string(key);
    if (!s) fail_at(path_of(key), "required");
    return *s;
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min,
                                      std::int64_t max) const {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    std::int64_t n = 0;
    if (v->is_number_unsigned()) {
      auto u = v->get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail_at(path_of(key), "out of range");
      }
      n = static_cast<std::int64_t>(u);
    } else if (v->is_number_integer()) {
      n = v->get<std::int64_t>();
    } else if (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>()) {
      fail_at(path_of(key), "integer out of range");
    } else {
      fail_type(path_of(key), "an integer", *v);
    }
    if (n < min || n > max) {
      fail_at(path_of(key), "must be between " + std::to_string(min) + " and " +
                                std::to_string(max) + ", got " + std::to_string(n));
    }
    return n;
  }

  std::optional<bool> boolean(std::string_view key) const {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) fail_type(path_of(key), "true or false", *v);
    return v->get<bool>();
  }

  // The members of a list field, each with its path; absent means empty.
  std::vector<std::pair<const json*, std::string>> list(std::string_view key) const {
    std::vector<std::pair<const json*, std::string>> out;
    const json* v = find(key);
    if (v == nullptr) return out;
    if (!v->is_array()) fail_type(path_of(key), "a list", *v);
    for (std::size_t i = 0; i < v->size(); ++i) {
      out.emplace_back(&(*v)[i], element_path(path_of(key), i));
    }
    return out;
  }

 private:
  const json& value_;
  std::string path_;
};

// A GUID goes into URL paths of the admin API: keep it to a safe alphabet.
void check_guid(const std::string& guid, const std::string& path) {
  bool ok = std::all_of(guid.begin(), guid.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
  });
  if (!ok) fail_at(path, "may contain only letters, digits, '-', '_' and '.'");
}

// A token travels in HTTP headers: printable ASCII without spaces.
void check_token(const std::optional<std::string>& token, const std::string& path) {
  if (!token) return;
  bool ok = std::all_of(token->begin(), token->end(),
                        [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  if (!ok) fail_at(path, "must be printable ASCII without spaces");
}

ExternalApiAuth parse_auth(const std::string& value, const std::string& path) {
  if (value == "ANY") return ExternalApiAuth::Any;
  if (value == "IAM_ONLY") return ExternalApiAuth::IamOnly;
  fail_at(path, "expected ANY or IAM_ONLY, got \"" + value + "\"");
}

TeamHeader parse_team_header(const std::string& value, const std::string& path) {
  if (value == "TeamID") return TeamHeader::TeamID;
  if (value == "SysdigTeamID") return TeamHeader::SysdigTeamID;
  if (value == "Both") return TeamHeader::Both;
  fail_at(path, "expected TeamID, SysdigTeamID or Both, got \"" + value + "\"");
}

// Kubernetes names: a namespace is a DNS-1123 label, a ServiceAccount a
// DNS-1123 subdomain; both lower case.
void check_kube_name(const std::string& name, const std::string& path) {
  static const std::regex kName(
      R"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)");
  if (name.size() > 253 || !std::regex_match(name, kName)) {
    fail_at(path, "must be a Kubernetes name (lower-case letters, digits, '-', '.')");
  }
}

std::vector<TrustedProfilePatch> read_trusted_profiles(const ObjectReader& root) {
  std::vector<TrustedProfilePatch> out;
  std::set<std::string> ids;
  for (const auto& [value, path] : root.list("trustedProfiles")) {
    ObjectReader reader(*value, path, {"id", "name", "iamID", "trust"});
    TrustedProfilePatch profile{path, reader.required_string("id"), reader.string("name"),
                                reader.string("iamID"), std::nullopt};
    check_token(profile.id, reader.path_of("id"));
    if (!ids.insert(profile.id).second) fail_at(reader.path_of("id"), "duplicate profile id");
    if (reader.find("trust") != nullptr) {
      std::vector<TrustRule> rules;
      for (const auto& [rule_value, rule_path] : reader.list("trust")) {
        ObjectReader rule_reader(*rule_value, rule_path, {"namespace", "serviceAccount"});
        TrustRule rule{rule_reader.required_string("namespace"),
                       rule_reader.required_string("serviceAccount")};
        check_kube_name(rule.ns, rule_reader.path_of("namespace"));
        check_kube_name(rule.service_account, rule_reader.path_of("serviceAccount"));
        rules.push_back(std::move(rule));
      }
      profile.trust = std::move(rules);
    }
    out.push_back(std::move(profile));
  }
  return out;
}

StatePatch read_patch(const json& document) {
  ObjectReader root(document, "", {"iam", "apiKeys", "instances", "trustedProfiles"});
  StatePatch patch;

  if (const json* iam = root.find("iam")) {
    ObjectReader reader(*iam, "iam", {"tokenTTLSeconds"});
    patch.token_ttl_seconds = reader.integer("tokenTTLSeconds", 1, kMaxTokenTtlSeconds);
  }

  std::set<std::string> keys;
  for (const auto& [value, path] : root.list("apiKeys")) {
    ObjectReader reader(*value, path, {"key", "iamID", "enabled"});
    ApiKeyPatch key{path, reader.required_string("key"), reader.string("iamID"),
                    reader.boolean("enabled")};
    if (!keys.insert(key.key).second) fail_at(reader.path_of("key"), "duplicate API key");
    patch.api_keys.push_back(std::move(key));
  }

  std::set<std::string> guids;
  for (const auto& [value, path] : root.list("instances")) {
    ObjectReader reader(*value, path,
                        {"guid", "region", "externalApiAuth", "teamHeader", "defaultTeam", "teams"});
    InstancePatch instance{path, reader.required_string("guid"), reader.string("region"), {}, {},
                           {},   {}};
    check_guid(instance.guid, reader.path_of("guid"));
    if (!guids.insert(instance.guid).second) fail_at(reader.path_of("guid"), "duplicate GUID");
    if (auto auth = reader.string("externalApiAuth")) {
      instance.external_api_auth = parse_auth(*auth, reader.path_of("externalApiAuth"));
    }
    if (auto header = reader.string("teamHeader")) {
      instance.team_header = parse_team_header(*header, reader.path_of("teamHeader"));
    }
    instance.default_team_id =
        reader.integer("defaultTeam", 1, std::numeric_limits<std::int64_t>::max());
    std::set<std::int64_t> ids;
    for (const auto& [team_value, team_path] : reader.list("teams")) {
      ObjectReader team_reader(*team_value, team_path, {"id", "name", "token"});
      auto id = team_reader.integer("id", 1, std::numeric_limits<std::int64_t>::max());
      if (!id) fail_at(team_reader.path_of("id"), "required");
      TeamPatch team{team_path, *id, team_reader.string("name"), team_reader.string("token")};
      check_token(team.token, team_reader.path_of("token"));
      if (!ids.insert(team.id).second) fail_at(team_reader.path_of("id"), "duplicate team id");
      instance.teams.push_back(std::move(team));
    }
    patch.instances.push_back(std::move(instance));
  }
  patch.trusted_profiles = read_trusted_profiles(root);
  return patch;
}

// Converts YAML to JSON so that one reader serves both formats. Plain
// scalars are typed by the YAML 1.2 core schema; quoted scalars stay strings.
json scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex kInteger(R"([-+]?[0-9]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, kInteger)) {
    std::int64_t n = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [end, ec] = std::from_chars(begin, text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size()) return n;
    return std::strtod(text.c_str(), nullptr);  // out of int64 range
  }
  if (std::regex_match(text, kFloat)) return std::strtod(text.c_str(), nullptr);
  return text;
}

json yaml_to_json(const YAML::Node& node, const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      std::size_t i = 0;
      for (const auto& element : node) {
        out.push_back(yaml_to_json(element, element_path(path, i++)));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& member : node) {
        if (!member.first.IsScalar()) fail_at(path, "mapping keys must be plain strings");
        const std::string& key = member.first.Scalar();
        if (out.contains(key)) fail_at(member_path(path, key), "duplicate key");
        out[key] = yaml_to_json(member.second, member_path(path, key));
      }
      return out;
    }
  }
  return nullptr;
}

}  // namespace

std::string_view to_string(TeamHeader header) {
  switch (header) {
    case TeamHeader::TeamID:
      return "TeamID";
    case TeamHeader::SysdigTeamID:
      return "SysdigTeamID";
    case TeamHeader::Both:
      break;
  }
  return "Both";
}

std::string_view to_string(ExternalApiAuth auth) {
  return auth == ExternalApiAuth::IamOnly ? "IAM_ONLY" : "ANY";
}

const Team* Instance::find_team(std::int64_t id) const {
  auto it = teams.find(id);
  return it == teams.end() ? nullptr : &it->second;
}

const Team* Instance::find_team_by_name(std::string_view name) const {
  for (const auto& [id, team] : teams) {
    if (team.name == name) return &team;
  }
  return nullptr;
}

const Team* Instance::default_team() const {
  if (default_team_id != 0) return find_team(default_team_id);
  return teams.empty() ? nullptr : &teams.begin()->second;
}

bool TrustedProfile::trusts(std::string_view ns, std::string_view service_account) const {
  return std::any_of(trust.begin(), trust.end(), [&](const TrustRule& rule) {
    return rule.ns == ns && rule.service_account == service_account;
  });
}

const TrustedProfile* State::find_profile(std::string_view id) const {
  auto it = trusted_profiles.find(id);
  return it == trusted_profiles.end() ? nullptr : &it->second;
}

const TrustedProfile* State::find_profile_by_name(std::string_view name) const {
  for (const auto& [id, profile] : trusted_profiles) {
    if (profile.name == name) return &profile;
  }
  return nullptr;
}

const ApiKey* State::find_api_key(std::string_view key) const {
  auto it = api_keys.find(key);
  return it == api_keys.end() ? nullptr : &it->second;
}

Instance* State::find_instance(std::string_view guid) {
  auto it = instances.find(guid);
  return it == instances.end() ? nullptr : &it->second;
}

const Instance* State::find_instance(std::string_view guid) const {
  auto it = instances.find(guid);
  return it == instances.end() ? nullptr : &it->second;
}

Result<StatePatch, std::string> parse_state_json(const nlohmann::json& document) {
  try {
    return read_patch(document);
  } catch (const DocumentError& e) {
    return fail(e.message);
  }
}

Result<StatePatch, std::string> parse_state_yaml(std::string_view text) {
  json document;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (!root.IsMap()) return fail(std::string("expected a mapping at the top level"));
    document = yaml_to_json(root, "");
  } catch (const YAML::Exception& e) {
    // yaml-cpp's own text: "yaml-cpp: error at line L, column C: problem".
    return fail(std::string(e.what()));
  } catch (const DocumentError& e) {
    return fail(e.message);
  }
  return parse_state_json(document);
}

Result<State, std::string> build_state(const StatePatch& patch) {
  State state;
  state.token_ttl_seconds = 3600;
  if (auto merged = merge_state(state, patch); !merged) return fail(merged.error());
  return state;
}

Result<Ok, std::string> merge_state(State& state, const StatePatch& patch) {
  State next = state;
  if (patch.token_ttl_seconds) next.token_ttl_seconds = *patch.token_ttl_seconds;

  for (const auto& p : patch.api_keys) {
    auto it = next.api_keys.find(p.key);
    if (it == next.api_keys.end()) {
      if (!p.iam_id) return fail(member_path(p.path, "iamID") + ": required for a new API key");
      next.api_keys.emplace(p.key, ApiKey{p.key, *p.iam_id, p.enabled.value_or(true)});
      continue;
    }
    if (p.iam_id) it->second.iam_id = *p.iam_id;
    if (p.enabled) it->second.enabled = *p.enabled;
  }

  for (const auto& p : patch.instances) {
    Instance* instance = next.find_instance(p.guid);
    if (instance == nullptr) {
      instance = &next.instances[p.guid];
      instance->guid = p.guid;
      instance->region = std::string(kDefaultRegion);
    }
    if (p.region) instance->region = *p.region;
    if (p.external_api_auth) instance->external_api_auth = *p.external_api_auth;
    if (p.team_header) instance->team_header = *p.team_header;
    if (p.default_team_id) instance->default_team_id = *p.default_team_id;
    for (const auto& t : p.teams) {
      auto it = instance->teams.find(t.id);
      if (it == instance->teams.end()) {
        if (!t.name) return fail(member_path(t.path, "name") + ": required for a new team");
        instance->teams.emplace(t.id, Team{t.id, *t.name, t.token.value_or(random_token())});
        continue;
      }
      if (t.name) it->second.name = *t.name;
      if (t.token) it->second.token = *t.token;
    }
    if (instance->default_team_id != 0 && instance->default_team() == nullptr) {
      return fail(member_path(p.path, "defaultTeam") + ": no team with id " +
                  std::to_string(instance->default_team_id));
    }
    // GET /api/v2/teams/light/name/{name} needs names to be unique.
    std::set<std::string_view> names;
    for (const auto& [id, team] : instance->teams) {
      if (!names.insert(team.name).second) {
        return fail(member_path(p.path, "teams") + ": duplicate team name \"" + team.name + "\"");
      }
    }
  }

  for (const auto& p : patch.trusted_profiles) {
    auto it = next.trusted_profiles.find(p.id);
    if (it == next.trusted_profiles.end()) {
      if (!p.name)
        return fail(member_path(p.path, "name") + ": required for a new trusted profile");
      if (!p.iam_id)
        return fail(member_path(p.path, "iamID") + ": required for a new trusted profile");
      next.trusted_profiles.emplace(p.id, TrustedProfile{p.id, *p.name, *p.iam_id,
                                                         p.trust.value_or(std::vector<TrustRule>{})});
      continue;
    }
    if (p.name) it->second.name = *p.name;
    if (p.iam_id) it->second.iam_id = *p.iam_id;
    if (p.trust) it->second.trust = *p.trust;
  }
  // IAM finds a profile by name too: names are unique.
  std::set<std::string_view> profile_names;
  for (const auto& [id, profile] : next.trusted_profiles) {
    if (!profile_names.insert(profile.name).second) {
      return fail("trustedProfiles: duplicate profile name \"" + profile.name + "\"");
    }
  }

  state = std::move(next);
  return Ok{};
}

nlohmann::json to_json(const State& state) {
  json keys = json::array();
  for (const auto& [k, key] : state.api_keys) {
    keys.push_back({{"key", key.key}, {"iamID", key.iam_id}, {"enabled", key.enabled}});
  }
  json instances = json::array();
  for (const auto& [guid, instance] : state.instances) {
    json teams = json::array();
    for (const auto& [id, team] : instance.teams) {
      teams.push_back({{"id", team.id}, {"name", team.name}, {"token", team.token}});
    }
    instances.push_back({{"guid", instance.guid},
                         {"region", instance.region},
                         {"externalApiAuth", to_string(instance.external_api_auth)},
                         {"teamHeader", to_string(instance.team_header)},
                         {"teams", std::move(teams)}});
    if (instance.default_team_id != 0) instances.back()["defaultTeam"] = instance.default_team_id;
  }
  json profiles = json::array();
  for (const auto& [id, profile] : state.trusted_profiles) {
    json trust = json::array();
    for (const auto& rule : profile.trust) {
      trust.push_back({{"namespace", rule.ns}, {"serviceAccount", rule.service_account}});
    }
    profiles.push_back({{"id", profile.id},
                        {"name", profile.name},
                        {"iamID", profile.iam_id},
                        {"trust", std::move(trust)}});
  }
  return {{"iam", {{"tokenTTLSeconds", state.token_ttl_seconds}}},
          {"apiKeys", std::move(keys)},
          {"instances", std::move(instances)},
          {"trustedProfiles", std::move(profiles)}};
}

Result<State, std::string> load_state_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": cannot read: " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(path + ": cannot read: " + std::strerror(errno));

  auto patch = parse_state_yaml(text.str());
  if (!patch) return fail(path + ": " + patch.error());
  auto state = build_state(*patch);
  if (!state) return fail(path + ": " + state.error());
  return std::move(state).value();
}

}  // namespace sto::fake
