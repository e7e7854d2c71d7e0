// The seed-state document: YAML config and admin JSON, replace and merge.
#include "state.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_server.h"

namespace sto::fake {
namespace {

using nlohmann::json;

std::string yaml_error(const std::string& yaml) {
  auto patch = parse_state_yaml(yaml);
  if (!patch) return patch.error();
  auto state = build_state(*patch);
  return state ? "" : state.error();
}

TEST(StateConfig, ReadsTheDesignExample) {
  State state = testing::demo_state();
  EXPECT_EQ(state.token_ttl_seconds, 3600);

  const ApiKey* key = state.find_api_key("demo-api-key-0001");
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->iam_id, "IBMid-550000DEMO");
  EXPECT_TRUE(key->enabled);
  EXPECT_FALSE(state.find_api_key("disabled-api-key-0002")->enabled);

  const Instance* instance = state.find_instance(testing::kGuid);
  ASSERT_NE(instance, nullptr);
  EXPECT_EQ(instance->region, "us-south");
  EXPECT_EQ(instance->external_api_auth, ExternalApiAuth::Any);
  const Team* ops = instance->find_team(26055);
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->name, "Ops");
  EXPECT_EQ(ops->token, "0f8e2c5a-9a51-4d0e-8b7c-1e2f3a4b5c6d");
  EXPECT_EQ(instance->find_team_by_name("Monitor Operations")->id, 26056);
  EXPECT_EQ(instance->default_team()->id, 26055);
  EXPECT_EQ(state.find_instance(testing::kIamOnlyGuid)->external_api_auth,
            ExternalApiAuth::IamOnly);
}

TEST(StateConfig, ErrorsNameTheField) {
  EXPECT_EQ(yaml_error("instances:\n"
                       "  - guid: g\n"
                       "    teams:\n"
                       "      - {id: 1, name: a}\n"
                       "      - {id: x, name: b}\n"),
            "instances[0].teams[1].id: expected an integer, got a string");
  EXPECT_EQ(yaml_error("instances:\n  - guid: g\n    teams:\n      - {id: \"7\", name: a}\n"),
            "instances[0].teams[0].id: expected an integer, got a string");
  EXPECT_EQ(yaml_error("apiKeys:\n  - {key: k, iamID: i, enabled: maybe}\n"),
            "apiKeys[0].enabled: expected true or false, got a string");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, externalApiAuth: SOMETIMES}\n"),
            "instances[0].externalApiAuth: expected ANY or IAM_ONLY, got \"SOMETIMES\"");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, teamHeader: X-Team}\n"),
            "instances[0].teamHeader: expected TeamID, SysdigTeamID or Both, got \"X-Team\"");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: 7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11, defaultTeam: 9,"
                       " teams: [{id: 1, name: a}]}\n"),
            "instances[0].defaultTeam: no team with id 9");
  EXPECT_EQ(yaml_error("iam:\n  tokenTTLSeconds: 0\n"),
            "iam.tokenTTLSeconds: must be between 1 and 315360000, got 0");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, teams: [{id: 99999999999999999999, name: a}]}\n"),
            "instances[0].teams[0].id: integer out of range");
  EXPECT_EQ(yaml_error("instances: {guid: g}\n"), "instances: expected a list, got a mapping");
}

TEST(StateConfig, RejectsUnknownFieldsSoTyposAreNotIgnored) {
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, externalAPIAuth: ANY}\n"),
            "instances[0].externalAPIAuth: unknown field (expected one of: guid, region, "
            "externalApiAuth, teamHeader, defaultTeam, teams)");
  EXPECT_EQ(yaml_error("iam: {tokenTTL: 5}\n"),
            "iam.tokenTTL: unknown field (expected one of: tokenTTLSeconds)");
}

TEST(StateConfig, RejectsMissingAndDuplicateEntries) {
  EXPECT_EQ(yaml_error("apiKeys:\n  - {key: k}\n"), "apiKeys[0].iamID: required for a new API key");
  EXPECT_EQ(yaml_error("apiKeys:\n  - {iamID: i}\n"), "apiKeys[0].key: required");
  EXPECT_EQ(yaml_error("instances:\n  - {region: us-south}\n"), "instances[0].guid: required");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, teams: [{id: 1}]}\n"),
            "instances[0].teams[0].name: required for a new team");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g}\n  - {guid: g}\n"),
            "instances[1].guid: duplicate GUID");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, teams: [{id: 1, name: a}, {id: 1, name: b}]}\n"),
            "instances[0].teams[1].id: duplicate team id");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, teams: [{id: 1, name: a}, {id: 2, name: a}]}\n"),
            "instances[0].teams: duplicate team name \"a\"");
  EXPECT_EQ(yaml_error("iam: {tokenTTLSeconds: 5}\niam: {tokenTTLSeconds: 6}\n"),
            "iam: duplicate key");
}

TEST(StateConfig, RejectsMalformedYamlWithItsPosition) {
  std::string error = yaml_error("instances: [\n");
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  EXPECT_EQ(yaml_error(""), "expected a mapping at the top level");
  EXPECT_EQ(yaml_error("- a\n- b\n"), "expected a mapping at the top level");
}

TEST(StateConfig, RejectsGuidsAndTokensThatCannotTravelInHttp) {
  EXPECT_EQ(yaml_error("instances:\n  - {guid: \"a/b\"}\n"),
            "instances[0].guid: may contain only letters, digits, '-', '_' and '.'");
  EXPECT_EQ(yaml_error("instances:\n  - {guid: g, teams: [{id: 1, name: a, token: \"a b\"}]}\n"),
            "instances[0].teams[0].token: must be printable ASCII without spaces");
}

TEST(StateConfig, DefaultsOptionalFields) {
  auto patch = parse_state_yaml(
      "apiKeys:\n  - {key: k, iamID: i}\ninstances:\n  - guid: g\n    teams:\n"
      "      - {id: 5, name: Five}\n");
  ASSERT_TRUE(patch) << patch.error();
  auto state = build_state(*patch);
  ASSERT_TRUE(state) << state.error();
  EXPECT_EQ(state->token_ttl_seconds, 3600);
  EXPECT_TRUE(state->find_api_key("k")->enabled);
  const Instance* instance = state->find_instance("g");
  EXPECT_EQ(instance->region, "us-south");
  EXPECT_EQ(instance->external_api_auth, ExternalApiAuth::Any);
  EXPECT_EQ(instance->find_team(5)->token.size(), 36u);  // generated, UUID-shaped
}

TEST(StateConfig, LoadFilePrefixesErrorsWithTheFileName) {
  auto path = std::filesystem::temp_directory_path() / "fake-ibm-cloud-state-test.yaml";
  {
    std::ofstream out(path);
    out << "instances:\n  - guid: g\n    teams:\n      - {id: 1, name: a}\n      - {id: x}\n";
  }
  auto state = load_state_file(path.string());
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error(),
            path.string() + ": instances[0].teams[1].id: expected an integer, got a string");
  std::filesystem::remove(path);

  auto missing = load_state_file("/nonexistent/config.yaml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "/nonexistent/config.yaml: cannot read: No such file or directory");
}

TEST(StateJson, RoundTripsThroughTheAdminShape) {
  State state = testing::demo_state();
  json document = to_json(state);
  EXPECT_EQ(document["iam"]["tokenTTLSeconds"], 3600);
  EXPECT_EQ(document["instances"][0]["teams"][0]["id"], 100);

  auto patch = parse_state_json(document);
  ASSERT_TRUE(patch) << patch.error();
  auto again = build_state(*patch);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(to_json(*again), document);
}

TEST(StateMerge, ChangesOnlyTheFieldsGiven) {
  State state = testing::demo_state();
  auto patch = parse_state_json(json::parse(R"({
    "iam": {"tokenTTLSeconds": 60},
    "apiKeys": [{"key": "disabled-api-key-0002", "enabled": true},
                {"key": "new-key", "iamID": "IBMid-NEW"}],
    "instances": [{"guid": "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11", "externalApiAuth": "IAM_ONLY",
                   "teams": [{"id": 26055, "token": "replaced"}, {"id": 7, "name": "Seven"}]}]
  })"));
  ASSERT_TRUE(patch) << patch.error();
  ASSERT_TRUE(merge_state(state, *patch));

  EXPECT_EQ(state.token_ttl_seconds, 60);
  EXPECT_TRUE(state.find_api_key("disabled-api-key-0002")->enabled);
  EXPECT_EQ(state.find_api_key("disabled-api-key-0002")->iam_id, "IBMid-550000GONE");
  EXPECT_EQ(state.find_api_key("new-key")->iam_id, "IBMid-NEW");
  const Instance* instance = state.find_instance(testing::kGuid);
  EXPECT_EQ(instance->external_api_auth, ExternalApiAuth::IamOnly);
  EXPECT_EQ(instance->region, "us-south");
  EXPECT_EQ(instance->find_team(26055)->token, "replaced");
  EXPECT_EQ(instance->find_team(26055)->name, "Ops");
  EXPECT_EQ(instance->find_team(26056)->token, testing::kMonOpsToken);
  EXPECT_EQ(instance->find_team(7)->name, "Seven");
  EXPECT_NE(state.find_instance(testing::kIamOnlyGuid), nullptr);
}

TEST(StateMerge, AFailedMergeChangesNothing) {
  State state = testing::demo_state();
  const json before = to_json(state);
  auto patch = parse_state_json(json::parse(R"({
    "iam": {"tokenTTLSeconds": 60},
    "instances": [{"guid": "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11",
                   "teams": [{"id": 26056, "name": "Ops"}]}]
  })"));
  ASSERT_TRUE(patch) << patch.error();
  auto merged = merge_state(state, *patch);
  ASSERT_FALSE(merged);
  EXPECT_EQ(merged.error(), "instances[0].teams: duplicate team name \"Ops\"");
  EXPECT_EQ(to_json(state), before);
}

TEST(StateJson, RejectsNonObjects) {
  auto patch = parse_state_json(json::array());
  ASSERT_FALSE(patch);
  EXPECT_EQ(patch.error(), "top level: expected a mapping, got a list");
}

}  // namespace
TEST(StateTrustedProfiles, AreReadMergedAndWrittenBack) {
  auto patch = parse_state_yaml(
      "trustedProfiles:\n"
      "  - id: Profile-1\n"
      "    name: sysdig-readers\n"
      "    iamID: iam-Profile-1\n"
      "    trust:\n"
      "      - {namespace: team-a, serviceAccount: reader}\n"
      "      - {namespace: team-b, serviceAccount: reader}\n");
  ASSERT_TRUE(patch) << patch.error();
  auto state = build_state(*patch);
  ASSERT_TRUE(state) << state.error();
  const TrustedProfile* profile = state->find_profile("Profile-1");
  ASSERT_NE(profile, nullptr);
  EXPECT_EQ(profile->name, "sysdig-readers");
  EXPECT_EQ(profile->iam_id, "iam-Profile-1");
  EXPECT_EQ(state->find_profile_by_name("sysdig-readers"), profile);
  EXPECT_TRUE(profile->trusts("team-a", "reader"));
  EXPECT_TRUE(profile->trusts("team-b", "reader"));
  EXPECT_FALSE(profile->trusts("team-a", "writer"));
  EXPECT_FALSE(profile->trusts("team-c", "reader"));

  json document = to_json(*state);
  EXPECT_EQ(document["trustedProfiles"][0]["trust"][1]["namespace"], "team-b");
  auto again = parse_state_json(document);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(to_json(*build_state(*again)), document);

  // A merge replaces the trust rules when given and keeps the rest.
  auto merge = parse_state_json(json::parse(
      R"({"trustedProfiles": [{"id": "Profile-1", "trust": [{"namespace": "team-c", "serviceAccount": "x"}]},
                              {"id": "Profile-2", "name": "other", "iamID": "iam-2"}]})"));
  ASSERT_TRUE(merge) << merge.error();
  State merged = *state;
  ASSERT_TRUE(merge_state(merged, *merge));
  EXPECT_FALSE(merged.find_profile("Profile-1")->trusts("team-a", "reader"));
  EXPECT_TRUE(merged.find_profile("Profile-1")->trusts("team-c", "x"));
  EXPECT_EQ(merged.find_profile("Profile-1")->name, "sysdig-readers");
  EXPECT_TRUE(merged.find_profile("Profile-2")->trust.empty());
}

TEST(StateTrustedProfiles, ErrorsNameTheField) {
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, iamID: i}\n"),
            "trustedProfiles[0].name: required for a new trusted profile");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, name: n}\n"),
            "trustedProfiles[0].iamID: required for a new trusted profile");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {name: n, iamID: i}\n"),
            "trustedProfiles[0].id: required");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, name: n, iamID: i, trust: [{namespace: a}]}\n"),
            "trustedProfiles[0].trust[0].serviceAccount: required");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, name: n, iamID: i, trust: [{namespace: A_b, serviceAccount: s}]}\n"),
            "trustedProfiles[0].trust[0].namespace: must be a Kubernetes name (lower-case letters, "
            "digits, '-', '.')");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, name: n, iamID: i, trsut: []}\n"),
            "trustedProfiles[0].trsut: unknown field (expected one of: id, name, iamID, trust)");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, name: n, iamID: i}\n  - {id: P, name: m, iamID: j}\n"),
            "trustedProfiles[1].id: duplicate profile id");
  EXPECT_EQ(yaml_error("trustedProfiles:\n  - {id: P, name: n, iamID: i}\n  - {id: Q, name: n, iamID: j}\n"),
            "trustedProfiles: duplicate profile name \"n\"");
}

}  // namespace sto::fake
