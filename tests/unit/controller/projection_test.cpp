// What the reconciler reads and writes, without the reconciler: Go
// durations, spec resolution, the informer projections of SysdigTokens and
// managed Secrets (malformed input is an error, never a crash), the Secret the
// controller renders, and the status patch.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "controller/kube_gateway.h"
#include "controller/managed_secret.h"
#include "controller/names.h"
#include "controller/sysdig_token.h"

namespace sto::controller {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// --- parse_go_duration --------------------------------------------------------------

TEST(ParseGoDuration, AcceptsGoDurations) {
  EXPECT_EQ(parse_go_duration("1h"), std::chrono::milliseconds(1h));
  EXPECT_EQ(parse_go_duration("90m"), std::chrono::milliseconds(90min));
  EXPECT_EQ(parse_go_duration("1h30m"), std::chrono::milliseconds(90min));
  EXPECT_EQ(parse_go_duration("1.5h"), std::chrono::milliseconds(90min));
  EXPECT_EQ(parse_go_duration("90s"), std::chrono::milliseconds(90s));
  EXPECT_EQ(parse_go_duration("1h0m0s"), std::chrono::milliseconds(1h));
  EXPECT_EQ(parse_go_duration("2h45m30s"), std::chrono::milliseconds(2h + 45min + 30s));
  EXPECT_EQ(parse_go_duration("1500ms"), std::chrono::milliseconds(1500));
  EXPECT_EQ(parse_go_duration("2000000us"), std::chrono::milliseconds(2000));
  EXPECT_EQ(parse_go_duration("2000000\xC2\xB5s"), std::chrono::milliseconds(2000));
  EXPECT_EQ(parse_go_duration("3000000000ns"), std::chrono::milliseconds(3000));
  EXPECT_EQ(parse_go_duration("0.5m"), std::chrono::milliseconds(30s));
  EXPECT_EQ(parse_go_duration("24h"), std::chrono::milliseconds(24h));
}

TEST(ParseGoDuration, RejectsWhatIsNotADuration) {
  for (const char* text : {"", "1", "h", "1x", "1d", "1H", "-1h", "1h ", " 1h", "1 h", "1e3s", ".",
                           "..h", "1hh", "h1", "1h-30m", "one hour", "1,5h"}) {
    EXPECT_FALSE(parse_go_duration(text)) << "\"" << text << "\"";
  }
}

TEST(ParseGoDuration, RejectsMalformedNumbers) {
  // The CRD pattern rejects these; an API server without the schema passes them.
  for (const char* text : {"1..5h", "1.2.3h", "1.5.h"}) {
    EXPECT_FALSE(parse_go_duration(text)) << "\"" << text << "\"";
  }
}

TEST(ParseGoDuration, RejectsOverflow) {
  EXPECT_FALSE(parse_go_duration("99999999999999999999h"));
  EXPECT_FALSE(parse_go_duration(std::string(400, '9') + "h"));
}

// --- project_sysdig_token and resolve_spec ---------------------------------------------

Json token_json() {
  return Json{{"apiVersion", "monitoring.ibm.com/v1alpha1"},
              {"kind", "SysdigToken"},
              {"metadata",
               {{"name", "ops-team"},
                {"namespace", "monitoring"},
                {"uid", "uid-1"},
                {"resourceVersion", "42"},
                {"generation", 3},
                {"annotations", {{"monitoring.ibm.com/reset-token", "2026-11-28T10:00:00Z"}}},
                {"managedFields", Json::array({{{"manager", "kubectl"}}})}}},
              {"spec",
               {{"instanceID", "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11"},
                {"teamID", 26055},
                {"region", "us-south"},
                {"apiKeySecretRef", {{"name", "ibm-api-key"}, {"key", "apikey"}}},
                {"refreshInterval", "30m"},
                {"target",
                 {{"name", "sysdig-monitor-token"},
                  {"tokenKey", "TOKEN"},
                  {"includeConnectionInfo", false},
                  {"labels", {{"team", "ops"}}},
                  {"annotations", {{"example.com/a", "b"}}},
                  {"deletionPolicy", "Retain"}}}}},
              {"status",
               {{"observedGeneration", 2},
                {"conditions", Json::array({{{"type", "Ready"},
                                             {"status", "True"},
                                             {"reason", "TokenSynced"},
                                             {"message", "ok"},
                                             {"observedGeneration", 2},
                                             {"lastTransitionTime", "2026-11-28T09:00:00Z"}}})},
                {"secretName", "sysdig-monitor-token"},
                {"teamID", 26055},
                {"tokenFingerprint", "sha256:0123456789abcdef"},
                {"revision", 4},
                {"lastSyncTime", "2026-11-28T09:00:00Z"},
                {"lastRotationTime", "2026-11-28T08:00:00Z"},
                {"nextRefreshTime", "2026-11-28T10:00:00Z"},
                {"lastHandledReset", "r0"},
                {"lastResetOutcome", "Rotated"},
                {"resetCheckUntil", nullptr},
                {"failedAttempts", 0},
                {"nextRetryTime", nullptr}}}};
}

std::shared_ptr<const SysdigToken> project(const Json& j) {
  auto p = project_sysdig_token(j.dump());
  if (!p) {
    ADD_FAILURE() << p.error();
    return std::make_shared<SysdigToken>();
  }
  return std::static_pointer_cast<const SysdigToken>(p.value());
}

TEST(ProjectSysdigToken, KeepsMetadataResetSpecAndStatus) {
  auto t = project(token_json());
  EXPECT_EQ(t->meta.name, "ops-team");
  EXPECT_EQ(t->meta.ns, "monitoring");
  EXPECT_EQ(t->meta.uid, "uid-1");
  EXPECT_EQ(t->meta.resource_version, "42");
  EXPECT_EQ(t->meta.generation, 3);
  EXPECT_FALSE(t->meta.deleting);
  EXPECT_EQ(t->key(), "monitoring/ops-team");
  EXPECT_EQ(t->reset_value, "2026-11-28T10:00:00Z");
  EXPECT_EQ(t->spec_error, "");
  EXPECT_EQ(t->spec.instance_id, "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11");
  EXPECT_EQ(t->spec.team_id, 26055);
  EXPECT_EQ(t->spec.region, "us-south");
  EXPECT_EQ(t->spec.api_key_secret_name, "ibm-api-key");
  EXPECT_EQ(t->spec.api_key_secret_key, "apikey");
  EXPECT_EQ(t->spec.refresh_interval, "30m");
  EXPECT_EQ(t->spec.target.name, "sysdig-monitor-token");
  EXPECT_EQ(t->spec.target.token_key, "TOKEN");
  EXPECT_FALSE(t->spec.target.include_connection_info);
  EXPECT_EQ(t->spec.target.labels.at("team"), "ops");
  EXPECT_EQ(t->spec.target.annotations.at("example.com/a"), "b");
  EXPECT_TRUE(t->spec.target.retain);

  const auto& st = t->status;
  EXPECT_EQ(st.observed_generation, 2);
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->status, "True");
  EXPECT_EQ(st.ready->reason, "TokenSynced");
  EXPECT_EQ(st.ready->last_transition_time, "2026-11-28T09:00:00Z");
  EXPECT_EQ(st.secret_name, "sysdig-monitor-token");
  EXPECT_EQ(st.team_id, 26055);
  EXPECT_EQ(st.revision, 4);
  EXPECT_EQ(st.last_handled_reset, "r0");
  EXPECT_EQ(st.last_reset_outcome, "Rotated");
  EXPECT_EQ(st.reset_check_until, "");
  EXPECT_EQ(st.next_retry_time, "");
}

TEST(ProjectSysdigToken, DefaultsWhenFieldsAreAbsent) {
  Json j = token_json();
  j["spec"] = {{"instanceID", "x"}};
  j.erase("status");
  j["metadata"].erase("annotations");
  auto t = project(j);
  EXPECT_EQ(t->reset_value, "");
  EXPECT_FALSE(t->spec.team_id);
  EXPECT_EQ(t->spec.endpoint_type, "public");
  EXPECT_EQ(t->spec.api_key_secret_key, "apikey");
  EXPECT_EQ(t->spec.refresh_interval, "1h");
  EXPECT_EQ(t->spec.target.token_key, "SYSDIG_MONITOR_API_TOKEN");
  EXPECT_TRUE(t->spec.target.include_connection_info);
  EXPECT_FALSE(t->spec.target.retain);
  EXPECT_EQ(t->status, SysdigTokenStatus{});
}

TEST(ProjectSysdigToken, DeletionTimestampMeansDeleting) {
  Json j = token_json();
  j["metadata"]["deletionTimestamp"] = "2026-11-28T10:00:00Z";
  EXPECT_TRUE(project(j)->meta.deleting);
}

TEST(ProjectSysdigToken, SpecOfTheWrongShapeIsKeptAsSpecError) {
  struct Case {
    std::function<void(Json&)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](Json& s) { s["teamID"] = "26055"; }, "spec.teamID"},
      {[](Json& s) { s["teamID"] = 1.5; }, "spec.teamID"},
      {[](Json& s) { s["region"] = 7; }, "spec.region"},
      {[](Json& s) { s["apiKeySecretRef"] = "ibm-api-key"; }, "spec.apiKeySecretRef"},
      {[](Json& s) { s["apiKeySecretRef"]["key"] = nullptr; }, "spec.apiKeySecretRef.key"},
      {[](Json& s) { s["target"] = "x"; }, "spec.target"},
      {[](Json& s) { s["target"]["labels"] = Json::array({"a"}); }, "spec.target.labels"},
      {[](Json& s) {
         s["target"]["annotations"] = {{"a", 1}};
       },
       "spec.target.annotations"},
      {[](Json& s) { s["target"]["includeConnectionInfo"] = "yes"; },
       "spec.target.includeConnectionInfo"},
      {[](Json& s) { s["target"]["deletionPolicy"] = "Orphan"; }, "spec.target.deletionPolicy"},
  };
  for (const auto& c : cases) {
    Json j = token_json();
    c.edit(j["spec"]);
    SCOPED_TRACE(j["spec"].dump());
    auto t = project(j);
    EXPECT_NE(t->spec_error.find(c.field), std::string::npos) << t->spec_error;
    auto resolved = resolve_spec(*t);
    ASSERT_FALSE(resolved);
    EXPECT_EQ(resolved.error(), t->spec_error);
  }
  Json j = token_json();
  j["spec"] = "not an object";
  EXPECT_EQ(project(j)->spec_error, "spec must be an object");
}

TEST(ProjectSysdigToken, StatusOfTheWrongShapeIsIgnored) {
  Json j = token_json();
  j["status"] = "garbage";
  auto t = project(j);
  EXPECT_EQ(t->status, SysdigTokenStatus{});
  EXPECT_EQ(t->spec.team_id, 26055);

  j = token_json();
  j["status"]["revision"] = "four";
  j["status"]["conditions"] = {{{"type", "Ready"}, {"status", 1}}, "x", 3};
  t = project(j);
  EXPECT_EQ(t->status.revision, 0);
  EXPECT_EQ(t->status.secret_name, "sysdig-monitor-token");
}

TEST(ProjectSysdigToken, MalformedJsonIsAnError) {
  for (const char* text :
       {"", "{", "[]", "null", "42", "\"x\"", "{\"metadata\":1}", "{\"spec\":{}}",
        "{\"metadata\":{}}", "{\"metadata\":{\"name\":5}}", "{\"metadata\":{\"name\":\"a\"",
        "{\"metadata\":{\"name\":\"a\",}}", "{\"metadata\":{\"name\":\"a\",\"labels\":[1]}}",
        "{\"metadata\":{\"name\":\"a\",\"generation\":\"1\"}}",
        "{\"metadata\":{\"name\":\"a\",\"ownerReferences\":{}}}",
        "{\"metadata\":{\"name\":\"a\",\"annotations\":{\"k\":1}}}"}) {
    auto p = project_sysdig_token(text);
    EXPECT_FALSE(p) << text;
  }
}

// Projections run on whatever the API server (or a proxy) sends; an error
// is a value, never an exception or a crash.
template <typename Projector>
void expect_no_throw(Projector&& projector, const std::string& text) {
  try {
    auto p = projector(text);
    (void)p;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw \"" << e.what() << "\" on: " << text;
  }
}

TEST(ProjectSysdigToken, MissingValueIsAnErrorNotAnException) {
  auto project = [](std::string_view json) { return project_sysdig_token(json).ok(); };
  for (const char* text : {
           R"({"metadata":{"name":"a","annotations":}})",
           R"({"metadata":{"name":"a","labels":,"uid":"u"}})",
           R"({"metadata":{"name":"a","deletionTimestamp":]}})",
           R"({"metadata":{"name":"a"},"spec":{"target":}})",
           R"({"metadata":{"name":"a"},"spec":{"target":{"labels":}}})",
           R"({"metadata":{"name":"a"},"status":})",
       }) {
    expect_no_throw(project, text);
  }
}

// Every prefix of a valid object and a few byte flips: an error or an
// object, never a throw or a crash (the sanitizer build checks the reads).
TEST(ProjectSysdigToken, TruncatedOrCorruptedInputIsAnErrorNotAnException) {
  std::string text = token_json().dump();
  auto project_and_resolve = [](std::string_view json) {
    auto p = project_sysdig_token(json);
    if (p) (void)resolve_spec(*std::static_pointer_cast<const SysdigToken>(p.value()));
    return p.ok();
  };
  for (std::size_t n = 0; n < text.size(); ++n)
    expect_no_throw(project_and_resolve, text.substr(0, n));
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (char c : {'"', '{', '}', '[', ']', ',', ':', '\\', '\0', '\xff'}) {
      std::string corrupted = text;
      corrupted[i] = c;
      expect_no_throw(project_and_resolve, corrupted);
    }
  }
}

// The same inputs with exceptions tolerated: every read stays in bounds
// (the sanitizer build checks).
template <typename Projector>
void run_tolerating_exceptions(Projector&& projector, const std::string& text) {
  try {
    (void)projector(text);
  } catch (const std::exception&) {
  }
}

TEST(ProjectSysdigToken, TruncatedOrCorruptedInputIsReadInBounds) {
  std::string text = token_json().dump();
  auto project_and_resolve = [](std::string_view json) {
    auto p = project_sysdig_token(json);
    if (p) (void)resolve_spec(*std::static_pointer_cast<const SysdigToken>(p.value()));
    return p.ok();
  };
  for (std::size_t n = 0; n < text.size(); ++n) {
    run_tolerating_exceptions(project_and_resolve, text.substr(0, n));
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (char c : {'"', '{', '}', '[', ']', ',', ':', '\\', '\0', '\xff'}) {
      std::string corrupted = text;
      corrupted[i] = c;
      run_tolerating_exceptions(project_and_resolve, corrupted);
    }
  }
}

SysdigToken resolvable() {
  SysdigToken t;
  t.meta.name = "ops-team";
  t.meta.ns = "monitoring";
  t.spec.instance_id = "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11";
  t.spec.team_id = 26055;
  t.spec.region = "us-south";
  t.spec.api_key_secret_name = "ibm-api-key";
  return t;
}

TEST(ResolveSpec, Defaults) {
  auto r = resolve_spec(resolvable());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->monitoring_endpoint, "https://us-south.monitoring.cloud.ibm.com");
  EXPECT_EQ(r->iam_endpoint, "https://iam.cloud.ibm.com");
  EXPECT_EQ(r->target_name, "ops-team");
  EXPECT_EQ(r->refresh_interval, 1h);
}

TEST(ResolveSpec, PrivateEndpoints) {
  auto t = resolvable();
  t.spec.endpoint_type = "private";
  auto r = resolve_spec(t);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->monitoring_endpoint, "https://private.us-south.monitoring.cloud.ibm.com");
  EXPECT_EQ(r->iam_endpoint, "https://private.iam.cloud.ibm.com");
}

TEST(ResolveSpec, ExplicitEndpointsOverrideTheRegionAndAreNormalized) {
  auto t = resolvable();
  t.spec.endpoint = "https://EU-DE.monitoring.cloud.ibm.com/";
  t.spec.iam_endpoint = "https://iam.test.cloud.ibm.com:8443";
  t.spec.target.name = "sysdig-monitor-token";
  t.spec.refresh_interval = "1h30m";
  auto r = resolve_spec(t);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->monitoring_endpoint, "https://eu-de.monitoring.cloud.ibm.com");
  EXPECT_EQ(r->iam_endpoint, "https://iam.test.cloud.ibm.com:8443");
  EXPECT_EQ(r->target_name, "sysdig-monitor-token");
  EXPECT_EQ(r->refresh_interval, 90min);
}

TEST(ResolveSpec, TeamNameAloneIsEnough) {
  auto t = resolvable();
  t.spec.team_id.reset();
  t.spec.team_name = "Ops";
  EXPECT_TRUE(resolve_spec(t));
}

TEST(ResolveSpec, ErrorsNameTheField) {
  struct Case {
    std::function<void(SysdigToken&)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](SysdigToken& t) { t.spec.instance_id.clear(); }, "spec.instanceID"},
      {[](SysdigToken& t) { t.spec.instance_id = "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c1"; },
       "spec.instanceID"},
      {[](SysdigToken& t) { t.spec.instance_id = "7a1f3c2e_5b0d-4c8e-9f21-3d6b8a4e0c11"; },
       "spec.instanceID"},
      {[](SysdigToken& t) { t.spec.team_id.reset(); }, "spec.teamID"},
      {[](SysdigToken& t) { t.spec.team_id = 0; }, "spec.teamID"},
      {[](SysdigToken& t) { t.spec.team_id = -5; }, "spec.teamID"},
      {[](SysdigToken& t) { t.spec.endpoint_type = "internal"; }, "spec.endpointType"},
      {[](SysdigToken& t) { t.spec.region = "mars-1"; }, "spec.region"},
      {[](SysdigToken& t) { t.spec.region.clear(); }, "spec.region"},
      {[](SysdigToken& t) { t.spec.endpoint = "http://us-south.monitoring.cloud.ibm.com"; },
       "spec.endpoint"},
      {[](SysdigToken& t) { t.spec.endpoint = "https://host/path"; }, "spec.endpoint"},
      {[](SysdigToken& t) { t.spec.endpoint = "https://u:p@host"; }, "spec.endpoint"},
      {[](SysdigToken& t) { t.spec.iam_endpoint = "iam.cloud.ibm.com"; }, "spec.iamEndpoint"},
      {[](SysdigToken& t) { t.spec.api_key_secret_name.clear(); }, "spec.apiKeySecretRef.name"},
      {[](SysdigToken& t) { t.spec.api_key_secret_name = "Bad_Name"; },
       "spec.apiKeySecretRef.name"},
      {[](SysdigToken& t) { t.spec.api_key_secret_key = "a/b"; }, "spec.apiKeySecretRef.key"},
      {[](SysdigToken& t) { t.spec.api_key_secret_key.clear(); }, "spec.apiKeySecretRef.key"},
      {[](SysdigToken& t) { t.spec.refresh_interval = "59s"; }, "spec.refreshInterval"},
      {[](SysdigToken& t) { t.spec.refresh_interval = "soon"; }, "spec.refreshInterval"},
      {[](SysdigToken& t) { t.spec.refresh_interval = ""; }, "spec.refreshInterval"},
      {[](SysdigToken& t) { t.spec.target.name = "UPPER"; }, "spec.target.name"},
      {[](SysdigToken& t) { t.spec.target.token_key = "has space"; }, "spec.target.tokenKey"},
      {[](SysdigToken& t) { t.spec.target.token_key = "IBM_INSTANCE_ID"; }, "spec.target.tokenKey"},
      {[](SysdigToken& t) { t.spec.target.labels["app.kubernetes.io/managed-by"] = "me"; },
       "spec.target.labels"},
      {[](SysdigToken& t) { t.spec.target.annotations["monitoring.ibm.com/revision"] = "9"; },
       "spec.target.annotations"},
      {[](SysdigToken& t) { t.spec_error = "spec.teamID must be an integer"; }, "spec.teamID"},
  };
  for (const auto& c : cases) {
    auto t = resolvable();
    c.edit(t);
    auto r = resolve_spec(t);
    ASSERT_FALSE(r) << "expected an error naming " << c.field;
    EXPECT_NE(r.error().find(c.field), std::string::npos) << r.error();
  }
}

// --- spec.trustedProfile ----------------------------------------------------------------

Json trusted_profile_json(Json profile) {
  Json j = token_json();
  j["spec"].erase("apiKeySecretRef");
  j["spec"]["trustedProfile"] = std::move(profile);
  return j;
}

TEST(TrustedProfile, IsDecodedAndResolvedInsteadOfAnApiKey) {
  auto t = project(trusted_profile_json(
      {{"id", "Profile-0c3e1c2f"}, {"serviceAccountName", "sysdig-reader"}}));
  EXPECT_EQ(t->spec_error, "");
  EXPECT_TRUE(t->spec.has_trusted_profile);
  EXPECT_FALSE(t->spec.has_api_key_secret_ref);
  EXPECT_EQ(t->spec.trusted_profile_id, "Profile-0c3e1c2f");
  EXPECT_EQ(t->spec.service_account_name, "sysdig-reader");
  auto r = resolve_spec(*t);
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->trusted_profile);

  auto by_name =
      project(trusted_profile_json({{"name", "sysdig-readers"}, {"serviceAccountName", "reader"}}));
  auto rn = resolve_spec(*by_name);
  ASSERT_TRUE(rn) << rn.error();
  EXPECT_EQ(by_name->spec.trusted_profile_name, "sysdig-readers");
  EXPECT_TRUE(rn->trusted_profile);
  EXPECT_FALSE(resolve_spec(*project(token_json()))->trusted_profile);
}

TEST(TrustedProfile, ExactlyOneCredentialAndOneOfIdOrName) {
  auto check = [](Json j, const std::string& expected) {
    SCOPED_TRACE(j["spec"].dump());
    auto t = project(j);
    auto r = resolve_spec(*t);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(expected), std::string::npos) << r.error();
  };
  Json both = token_json();
  both["spec"]["trustedProfile"] = {{"id", "Profile-1"}, {"serviceAccountName", "reader"}};
  check(both, "spec.apiKeySecretRef and spec.trustedProfile are exclusive");
  Json neither = token_json();
  neither["spec"].erase("apiKeySecretRef");
  check(neither, "one of spec.apiKeySecretRef.name or spec.trustedProfile is required");
  check(trusted_profile_json({{"id", "P-1"}, {"name", "p"}, {"serviceAccountName", "reader"}}),
        "exactly one of id or name");
  check(trusted_profile_json({{"serviceAccountName", "reader"}}), "exactly one of id or name");
  check(trusted_profile_json({{"id", "P 1"}, {"serviceAccountName", "reader"}}),
        "spec.trustedProfile.id");
  check(trusted_profile_json({{"id", "P-1"}}), "spec.trustedProfile.serviceAccountName is required");
  check(trusted_profile_json({{"id", "P-1"}, {"serviceAccountName", "Reader_1"}}),
        "spec.trustedProfile.serviceAccountName");
  check(trusted_profile_json({{"id", "P-1"}, {"serviceAccountName", 7}}),
        "spec.trustedProfile.serviceAccountName must be a string");
  check(trusted_profile_json("P-1"), "spec.trustedProfile must be an object");
}

TEST(TrustedProfile, AnotherNamespaceCannotBeNamed) {
  auto check = [](Json j, const std::string& expected) {
    SCOPED_TRACE(j["spec"].dump());
    auto t = project(j);
    auto r = resolve_spec(*t);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find(expected), std::string::npos) << r.error();
  };
  check(trusted_profile_json({{"id", "P-1"}, {"serviceAccountName", "kube-system/reader"}}),
        "other namespaces cannot be named");
  check(trusted_profile_json({{"id", "P-1"},
                              {"serviceAccountName", "system:serviceaccount:kube-system:reader"}}),
        "other namespaces cannot be named");
  check(trusted_profile_json(
            {{"id", "P-1"}, {"serviceAccountName", "reader"}, {"namespace", "kube-system"}}),
        "spec.trustedProfile.namespace is not a field");
}

TEST(TrustedProfile, TheTokenRequestAsksForAudienceIamForTenMinutes) {
  auto body = Json::parse(token_request_body());
  EXPECT_EQ(body["apiVersion"], "authentication.k8s.io/v1");
  EXPECT_EQ(body["kind"], "TokenRequest");
  EXPECT_EQ(body["spec"]["audiences"], Json::array({"iam"}));
  EXPECT_EQ(body["spec"]["expirationSeconds"], 600);
  std::string answer = R"({"kind":"TokenRequest","status":{"token":"eyJ.sa.token","expirationTimestamp":"2026-12-01T00:10:00Z"}})";
  EXPECT_EQ(token_of(answer), "eyJ.sa.token");
  std::string no_token = R"({"kind":"TokenRequest","status":{}})";
  EXPECT_FALSE(token_of(no_token));
  std::string empty = R"({"status":{"token":""}})";
  EXPECT_FALSE(token_of(empty));
  std::string garbage = "not json";
  EXPECT_FALSE(token_of(garbage));
}

TEST(ResolveSpec, MinimumRefreshIntervalIsOneMinute) {
  auto t = resolvable();
  t.spec.refresh_interval = "1m";
  EXPECT_TRUE(resolve_spec(t));
  t.spec.refresh_interval = "60s";
  EXPECT_TRUE(resolve_spec(t));
  t.spec.refresh_interval = "59.999s";
  EXPECT_FALSE(resolve_spec(t));
}

TEST(ResolveSpec, ConnectionInfoKeyIsAllowedAsTokenKeyWithoutConnectionInfo) {
  auto t = resolvable();
  t.spec.target.token_key = "SYSDIG_MONITOR_URL";
  t.spec.target.include_connection_info = false;
  EXPECT_TRUE(resolve_spec(t));
}

TEST(ResolveSpec, LongInstanceIdIsTruncatedInTheMessage) {
  auto t = resolvable();
  t.spec.instance_id = std::string(10000, 'z');
  auto r = resolve_spec(t);
  ASSERT_FALSE(r);
  EXPECT_LT(r.error().size(), 200u);
}

// --- project_managed_secret --------------------------------------------------------

Json secret_json() {
  return Json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"type", "Opaque"},
              {"metadata",
               {{"name", "sysdig-monitor-token"},
                {"namespace", "monitoring"},
                {"uid", "secret-uid"},
                {"resourceVersion", "7"},
                {"labels",
                 {{"app.kubernetes.io/managed-by", "sysdig-token-operator"},
                  {"monitoring.ibm.com/sysdigtoken", "ops-team"}}},
                {"annotations",
                 {{"monitoring.ibm.com/token-fingerprint", "sha256:0123456789abcdef"},
                  {"monitoring.ibm.com/revision", "3"},
                  {"kubectl.kubernetes.io/last-applied-configuration", std::string(1000, 'x')}}},
                {"ownerReferences", Json::array({{{"apiVersion", "monitoring.ibm.com/v1alpha1"},
                                                  {"kind", "SysdigToken"},
                                                  {"name", "ops-team"},
                                                  {"uid", "owner-uid"},
                                                  {"controller", true},
                                                  {"blockOwnerDeletion", true}}})}}},
              {"data", {{"TOKEN", base64_encode("the-token")}, {"BROKEN", "@@not base64@@"}}}};
}

// The keys of a table, in order, comma-separated.
std::string names(const StringTable& table) {
  std::string out;
  for (const auto& e : table) out.append(out.empty() ? "" : ",").append(e.key);
  return out;
}

std::shared_ptr<const ManagedSecret> project_secret(const Json& j) {
  auto p = project_managed_secret(j.dump());
  if (!p) {
    ADD_FAILURE() << p.error();
    return std::make_shared<ManagedSecret>();
  }
  return std::static_pointer_cast<const ManagedSecret>(p.value());
}

TEST(ProjectManagedSecret, KeepsOwnershipOurAnnotationsAndDigestsNeverData) {
  auto s = project_secret(secret_json());
  EXPECT_EQ(s->meta.name, "sysdig-monitor-token");
  EXPECT_EQ(s->meta.resource_version, "7");
  EXPECT_EQ(s->type, "Opaque");
  EXPECT_EQ(s->label("monitoring.ibm.com/sysdigtoken"), "ops-team");
  EXPECT_EQ(s->annotation("monitoring.ibm.com/revision"), "3");
  EXPECT_FALSE(s->annotations.contains("kubectl.kubernetes.io/last-applied-configuration"));
  EXPECT_EQ(s->data_sha256.get("TOKEN"), sha256_hex("the-token"));
  EXPECT_EQ(s->data_sha256.get("BROKEN"), "invalid");
  ASSERT_EQ(s->meta.owners.size(), 1u);
  EXPECT_TRUE(s->meta.owners[0].controller);
  EXPECT_EQ(s->meta.owners[0].uid, "owner-uid");
}

TEST(ProjectManagedSecret, OwnershipIsDecidedByTheOwnerUid) {
  auto s = project_secret(secret_json());
  EXPECT_TRUE(s->owned_by("owner-uid"));
  EXPECT_FALSE(s->owned_by("another-uid"));
  EXPECT_FALSE(s->owned_by(""));

  Json j = secret_json();
  j["metadata"]["ownerReferences"][0]["controller"] = false;
  EXPECT_FALSE(project_secret(j)->owned_by("owner-uid")) << "not the controller";

  j = secret_json();
  j["metadata"].erase("ownerReferences");
  EXPECT_FALSE(project_secret(j)->owned_by("owner-uid"));
  j["metadata"]["annotations"]["monitoring.ibm.com/owner-uid"] = "owner-uid";
  EXPECT_TRUE(project_secret(j)->owned_by("owner-uid")) << "Retain";
  EXPECT_FALSE(project_secret(j)->owned_by(""));
}

// Anyone can put the managed-by label on a Secret: what the cache keeps of
// one is bounded, whatever it carries; the operator's own keys survive.
TEST(ProjectManagedSecret, WhatIsKeptIsBoundedAndOurOwnKeysSurvive) {
  Json j = secret_json();
  for (int i = 0; i < 2000; ++i) {
    j["metadata"]["labels"]["spoof.example.com/l" + std::to_string(i)] = std::string(60, 'v');
    j["metadata"]["annotations"]["monitoring.ibm.com/a" + std::to_string(i)] = std::string(100, 'a');
    j["data"]["k" + std::to_string(i)] = base64_encode("x");
  }
  Json fields = Json::object();
  for (int i = 0; i < 2000; ++i) fields["f:data"]["f:k" + std::to_string(i)] = Json::object();
  j["metadata"]["managedFields"] = Json::array(
      {{{"manager", "sysdig-token-operator"}, {"operation", "Apply"}, {"fieldsV1", fields}}});
  // Our annotations sort after the spoofed ones: they must not be pushed out.
  j["metadata"]["labels"]["monitoring.ibm.com/sysdigtoken"] = "ops-team";
  j["metadata"]["annotations"]["monitoring.ibm.com/token-fingerprint"] = "sha256:0123456789abcdef";
  auto s = project_secret(j);
  EXPECT_TRUE(s->oversized);
  std::size_t foreign = 0;
  for (const auto& [k, v] : s->labels) foreign += k.starts_with("spoof") ? k.size() + v.size() : 0;
  for (const auto& [k, v] : s->annotations) foreign += k.size() + v.size();
  EXPECT_LE(foreign, kMaxForeignMetadataBytes + 200);
  EXPECT_LE(s->data_sha256.size(), kMaxDataKeys);
  EXPECT_LE(s->applied.data.size(), kMaxAppliedNames);
  EXPECT_TRUE(s->applied.truncated);
  EXPECT_EQ(s->label("monitoring.ibm.com/sysdigtoken"), "ops-team");
  EXPECT_EQ(s->label("app.kubernetes.io/managed-by"), "sysdig-token-operator");
  EXPECT_EQ(s->annotation("monitoring.ibm.com/token-fingerprint"), "sha256:0123456789abcdef");
  EXPECT_EQ(s->annotation("monitoring.ibm.com/revision"), "3");
  EXPECT_TRUE(s->owned_by("owner-uid"));

  EXPECT_FALSE(project_secret(secret_json())->oversized) << "an ordinary Secret is kept whole";
}

TEST(ProjectManagedSecret, MalformedJsonIsAnError) {
  for (const char* text : {"", "{", "[]", "null", "{\"data\":{}}",
                           "{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":1}}",
                           "{\"metadata\":{\"name\":\"a\",\"labels\":{\"k\":null}}}",
                           "{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"dg==\""}) {
    auto p = project_managed_secret(text);
    EXPECT_FALSE(p) << text;
  }
  EXPECT_TRUE(project_managed_secret("{\"metadata\":{\"name\":\"a\"},\"data\":null}"));
}

TEST(ProjectManagedSecret, MissingValueIsAnErrorNotAnException) {
  auto project = [](std::string_view json) { return project_managed_secret(json).ok(); };
  for (const char* text : {
           R"({"metadata":{"name":"a","annotations":}})",
           R"({"metadata":{"name":"a","labels":,"uid":"u"}})",
           R"({"metadata":{"name":"a","deletionTimestamp":}})",
       }) {
    expect_no_throw(project, text);
  }
}

TEST(ProjectManagedSecret, TruncatedOrCorruptedInputIsAnErrorNotAnException) {
  std::string text = secret_json().dump();
  auto project = [](std::string_view json) { return project_managed_secret(json).ok(); };
  auto value = [](std::string_view json) { return secret_value(json, "TOKEN").has_value(); };
  for (std::size_t n = 0; n < text.size(); ++n) expect_no_throw(project, text.substr(0, n));
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (char c : {'"', '{', '}', '[', ']', ',', ':', '\\', '\0', '\xff'}) {
      std::string corrupted = text;
      corrupted[i] = c;
      expect_no_throw(project, corrupted);
      expect_no_throw(value, corrupted);
    }
  }
}

TEST(ProjectManagedSecret, TruncatedOrCorruptedInputIsReadInBounds) {
  std::string text = secret_json().dump();
  auto project = [](std::string_view json) { return project_managed_secret(json).ok(); };
  auto value = [](std::string_view json) { return secret_value(json, "TOKEN").has_value(); };
  for (std::size_t n = 0; n < text.size(); ++n) {
    run_tolerating_exceptions(project, text.substr(0, n));
    run_tolerating_exceptions(value, text.substr(0, n));
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (char c : {'"', '{', '}', '[', ']', ',', ':', '\\', '\0', '\xff'}) {
      std::string corrupted = text;
      corrupted[i] = c;
      run_tolerating_exceptions(project, corrupted);
      run_tolerating_exceptions(value, corrupted);
    }
  }
}

TEST(SecretValue, DecodesOneKey) {
  std::string text = secret_json().dump();
  EXPECT_EQ(secret_value(text, "TOKEN"), "the-token");
  EXPECT_FALSE(secret_value(text, "MISSING"));
  EXPECT_FALSE(secret_value(text, "BROKEN"));
  EXPECT_FALSE(secret_value("{", "TOKEN"));
  EXPECT_FALSE(secret_value("[]", "TOKEN"));
  EXPECT_FALSE(secret_value("{\"data\":{\"TOKEN\":5}}", "TOKEN"));
}

// --- The Secret the controller renders -------------------------------------------

TEST(DesiredSecret, RendersAnOpaqueSecretWithAControllerOwnerReference) {
  DesiredSecret d;
  d.ns = "monitoring";
  d.name = "s";
  d.data = {{"TOKEN", "the-token"}};
  d.labels = {{"a", "b"}};
  d.annotations = {{"c", "d"}};
  d.owner_name = "ops-team";
  d.owner_uid = "uid-1";
  Json j = Json::parse(d.to_json());
  EXPECT_EQ(j["type"], "Opaque");
  EXPECT_EQ(j["kind"], "Secret");
  EXPECT_FALSE(j["metadata"].contains("resourceVersion"));
  EXPECT_EQ(j["data"]["TOKEN"], base64_encode("the-token"));
  auto owner = j["metadata"]["ownerReferences"][0];
  EXPECT_EQ(owner["uid"], "uid-1");
  EXPECT_EQ(owner["controller"], true);
  EXPECT_EQ(owner["blockOwnerDeletion"], true);
  EXPECT_EQ(owner["kind"], "SysdigToken");
  EXPECT_EQ(owner["apiVersion"], "monitoring.ibm.com/v1alpha1");

  Json conditional = Json::parse(d.to_json("99"));
  EXPECT_EQ(conditional["metadata"]["resourceVersion"], "99");

  d.owner_uid.clear();  // Retain
  EXPECT_FALSE(Json::parse(d.to_json())["metadata"].contains("ownerReferences"));
}

TEST(TokenFingerprint, IsAShortDigestNeverTheToken) {
  auto fp = token_fingerprint("the-token");
  EXPECT_EQ(fp, "sha256:" + sha256_hex("the-token").substr(0, 16));
  EXPECT_EQ(fp.find("the-token"), std::string::npos);
  EXPECT_NE(token_fingerprint("a"), token_fingerprint("b"));
}

// --- The status patch ---------------------------------------------------------------

// An IBM error body with invalid UTF-8 ends up in the condition message: the
// patch replaces the bad bytes instead of throwing (which once stopped a
// worker for good).
TEST(StatusPatch, InvalidUtf8InAMessageIsReplacedNotThrown) {
  SysdigTokenStatus s;
  Condition c;
  c.type = "Ready";
  c.status = "False";
  c.reason = "APIKeyInvalid";
  c.message = std::string("IAM said: bad \xff\xfe key \xc3");
  s.ready = c;
  std::string patch;
  ASSERT_NO_THROW(patch = status_patch(s));
  Json j = Json::parse(patch)["status"];
  EXPECT_EQ(j["conditions"][0]["message"], "IAM said: bad \ufffd\ufffd key \ufffd");
}

TEST(StatusPatch, ClearsEmptyFieldsSoAMergePatchRemovesThem) {
  SysdigTokenStatus s;
  s.observed_generation = 2;
  s.revision = 3;
  s.secret_name = "x";
  Json j = Json::parse(status_patch(s))["status"];
  EXPECT_EQ(j["observedGeneration"], 2);
  EXPECT_EQ(j["revision"], 3);
  EXPECT_EQ(j["secretName"], "x");
  EXPECT_EQ(j["failedAttempts"], 0);
  for (const char* k : {"nextRetryTime", "lastHandledReset", "tokenFingerprint", "teamID",
                        "resetCheckUntil", "lastSyncTime"}) {
    ASSERT_TRUE(j.contains(k)) << k;
    EXPECT_TRUE(j[k].is_null()) << k;
  }
  EXPECT_FALSE(j.contains("conditions"));
}

TEST(StatusPatch, RoundTripsThroughTheProjection) {
  SysdigTokenStatus s;
  s.observed_generation = 2;
  Condition c;
  c.type = "Ready";
  c.status = "False";
  c.reason = "RateLimited";
  c.message = "slow down";
  c.observed_generation = 2;
  c.last_transition_time = "2026-11-28T10:00:00Z";
  s.ready = c;
  s.secret_name = "x";
  s.team_id = 26055;
  s.token_fingerprint = "sha256:0123456789abcdef";
  s.revision = 3;
  s.last_sync_time = "2026-11-28T10:00:00Z";
  s.last_rotation_time = "2026-11-28T09:00:00Z";
  s.next_refresh_time = "2026-11-28T11:00:00Z";
  s.last_handled_reset = "r1";
  s.last_reset_outcome = "Unchanged";
  s.reset_check_until = "2026-11-28T10:15:00Z";
  s.failed_attempts = 4;
  s.next_retry_time = "2026-11-28T10:01:20Z";
  Json object = token_json();
  object.merge_patch(Json::parse(status_patch(s)));
  auto t = project(object);
  EXPECT_EQ(t->status, s);
}

// --- managedFields -------------------------------------------------------------------

Json managed_entry(const std::string& manager, const std::string& operation, Json fields) {
  return {{"manager", manager},         {"operation", operation}, {"apiVersion", "v1"},
          {"time", "2026-12-01T10:00:00Z"}, {"fieldsType", "FieldsV1"}, {"fieldsV1", fields}};
}

Json secret_with_managed_fields(Json entries) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata",
           {{"name", "s"},
            {"namespace", "n"},
            {"uid", "u-1"},
            {"resourceVersion", "42"},
            {"managedFields", entries}}},
          {"data", {{"TOKEN", "dG9r"}}}};
}

// Its Apply entry, and the Update entry a create leaves until the first
// apply; never another manager's fields.
TEST(ManagedSecretProjection, ReadsTheFieldsTheOperatorOwns) {
  Json ours = {{"f:metadata",
                {{"f:labels", {{"f:team", Json::object()}, {"f:app.kubernetes.io/managed-by", Json::object()}}},
                 {"f:annotations", {{"f:monitoring.ibm.com/revision", Json::object()}}},
                 {"f:ownerReferences", {{"k:{\"uid\":\"t-1\"}", Json::object()}}}}},
               {"f:data", {{"f:TOKEN", Json::object()}, {"f:SYSDIG_MONITOR_URL", Json::object()}}}};
  Json theirs = {{"f:metadata", {{"f:labels", {{"f:other", Json::object()}}}}}};
  Json created = {{"f:data", {{"f:grafana.yaml", Json::object()}}}};
  auto json = secret_with_managed_fields(
                  Json::array({managed_entry("kubectl-edit", "Update", theirs),
                               managed_entry(std::string(kFieldManager), "Apply", ours),
                               managed_entry(std::string(kFieldManager), "Update", created)}))
                  .dump();
  auto projected = project_managed_secret(json);
  ASSERT_TRUE(projected.ok()) << projected.error();
  auto secret = std::static_pointer_cast<const ManagedSecret>(projected.value());
  EXPECT_EQ(names(secret->applied.labels), "app.kubernetes.io/managed-by,team");
  EXPECT_EQ(names(secret->applied.annotations), "monitoring.ibm.com/revision");
  EXPECT_EQ(names(secret->applied.data), "SYSDIG_MONITOR_URL,TOKEN,grafana.yaml");
  EXPECT_TRUE(secret->applied.owner_references);
  EXPECT_EQ(secret->meta.resource_version, "42");
}

TEST(ManagedSecretProjection, MalformedManagedFieldsAreAnError) {
  auto bad = secret_with_managed_fields(Json::array({{{"manager", 7}}}));
  EXPECT_FALSE(project_managed_secret(bad.dump()).ok());
  auto not_array = secret_with_managed_fields(Json::object());
  EXPECT_FALSE(project_managed_secret(not_array.dump()).ok());
}

TEST(FieldOwnershipPatch, MovesTheOperatorsUpdateEntryIntoItsApplyEntry) {
  Json created = {{"f:data", {{"f:TOKEN", Json::object()}}},
                  {"f:metadata", {{"f:labels", {{"f:team", Json::object()}}}}}};
  Json applied = {{"f:metadata", {{"f:annotations", {{"f:x", Json::object()}}}}}};
  Json other = {{"f:metadata", {{"f:labels", {{"f:other", Json::object()}}}}}};
  auto json = secret_with_managed_fields(
                  Json::array({managed_entry(std::string(kFieldManager), "Update", created),
                               managed_entry("kubectl-edit", "Update", other),
                               managed_entry(std::string(kFieldManager), "Apply", applied)}))
                  .dump();
  auto patch = field_ownership_patch(json);
  ASSERT_TRUE(patch);
  auto p = Json::parse(*patch);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], (Json{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", "42"}}));
  EXPECT_EQ(p[1]["op"], "replace");
  EXPECT_EQ(p[1]["path"], "/metadata/managedFields");
  const Json& entries = p[1]["value"];
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]["manager"], "kubectl-edit");
  EXPECT_EQ(entries[1]["manager"], kFieldManager);
  EXPECT_EQ(entries[1]["operation"], "Apply");
  Json merged = created;
  merged.merge_patch(applied);
  EXPECT_EQ(entries[1]["fieldsV1"], merged);
}

TEST(FieldOwnershipPatch, NothingToDoWhenTheOperatorOwnsOnlyThroughApply) {
  Json fields = {{"f:data", {{"f:TOKEN", Json::object()}}}};
  auto json = secret_with_managed_fields(
      Json::array({managed_entry(std::string(kFieldManager), "Apply", fields),
                   managed_entry("someone", "Update", fields)}));
  EXPECT_FALSE(field_ownership_patch(json.dump()));
  EXPECT_FALSE(field_ownership_patch("not json"));
  EXPECT_FALSE(field_ownership_patch("{\"metadata\":{}}"));
}

// A Secret created in one request keeps its fields in the create's Update
// entry; they move to the Apply entry only when one must go.
TEST(FieldOwnershipPatch, NeededOnlyWhenTheCreateOwnsAnUnwantedField) {
  Json created = {{"f:data", {{"f:TOKEN", Json::object()}, {"f:grafana.yaml", Json::object()}}},
                  {"f:metadata", {{"f:labels", {{"f:team", Json::object()}}}}}};
  auto json = secret_with_managed_fields(
                  Json::array({managed_entry(std::string(kFieldManager), "Update", created),
                               managed_entry("someone", "Update",
                                             {{"f:data", {{"f:theirs", Json::object()}}}})}))
                  .dump();
  DesiredSecret desired;
  desired.data = {{"TOKEN", "t"}, {"grafana.yaml", "g"}};
  desired.labels = {{"team", "a"}};
  desired.owner_uid = "t-1";
  EXPECT_FALSE(created_fields_unwanted(json, desired));
  desired.data.erase("grafana.yaml");  // a template key dropped from the spec
  EXPECT_TRUE(created_fields_unwanted(json, desired));
  desired.data["grafana.yaml"] = "g";
  desired.labels.clear();  // a label dropped
  EXPECT_TRUE(created_fields_unwanted(json, desired));
  EXPECT_FALSE(created_fields_unwanted("not json", desired));
}

}  // namespace
}  // namespace sto::controller
