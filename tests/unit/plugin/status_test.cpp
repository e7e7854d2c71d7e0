#include "plugin/status.h"

#include <gtest/gtest.h>

#include "common/rfc3339.h"

namespace sto::plugin {
namespace {

using namespace std::chrono_literals;

Clock::time_point at(const char* text) { return *parse_rfc3339(text); }

TEST(PluginAge, FollowsKubectlHumanDuration) {
  EXPECT_EQ(human_duration(0s), "0s");
  EXPECT_EQ(human_duration(-1s), "0s");  // a clock a second ahead is "now"
  EXPECT_EQ(human_duration(-2s), "<invalid>");
  EXPECT_EQ(human_duration(45s), "45s");
  EXPECT_EQ(human_duration(119s), "119s");
  EXPECT_EQ(human_duration(2min), "2m");
  EXPECT_EQ(human_duration(5min + 7s), "5m7s");
  EXPECT_EQ(human_duration(10min + 7s), "10m");
  EXPECT_EQ(human_duration(179min), "179m");
  EXPECT_EQ(human_duration(3h), "3h");
  EXPECT_EQ(human_duration(3h + 25min), "3h25m");
  EXPECT_EQ(human_duration(8h + 25min), "8h");
  EXPECT_EQ(human_duration(47h), "47h");
  EXPECT_EQ(human_duration(48h), "2d");
  EXPECT_EQ(human_duration(52h), "2d4h");
  EXPECT_EQ(human_duration(24h * 8), "8d");
  EXPECT_EQ(human_duration(24h * 400), "400d");
  EXPECT_EQ(human_duration(24h * 365 * 2), "2y");
  EXPECT_EQ(human_duration(24h * (365 * 3 + 10)), "3y10d");
  EXPECT_EQ(human_duration(24h * 365 * 9), "9y");
}

TEST(PluginAge, NextRefreshIsAheadOrDue) {
  const auto now = at("2026-12-02T10:00:00Z");
  EXPECT_EQ(until(now + 42min, now), "in 42m");
  EXPECT_EQ(until(now + 1500ms, now), "in 2s");
  EXPECT_EQ(until(now, now), "due");
  EXPECT_EQ(until(now - 1h, now), "due");
}

TEST(PluginTable, ColumnsAlignedWithThreeSpacesAndNoTrailingBlanks) {
  const std::string out = format_table({{"NAME", "READY", "MESSAGE"},
                                        {"ops", "True", ""},
                                        {"a-much-longer-name", "False", "no key"}});
  EXPECT_EQ(out,
            "NAME                 READY   MESSAGE\n"
            "ops                  True\n"
            "a-much-longer-name   False   no key\n");
}

TEST(PluginTable, WidthCountsCharactersNotBytes) {
  const std::string out = format_table({{"A", "B"}, {"\xC3\xA9t\xC3\xA9", "x"}});
  EXPECT_EQ(out, "A     B\n\xC3\xA9t\xC3\xA9   x\n");
}

TEST(PluginTable, OneLineRemovesControlsAndBadUtf8) {
  EXPECT_EQ(one_line("a\nb\tc\x1b[31md"), "a b c [31md");
  EXPECT_EQ(one_line("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(one_line("bad \xC3 byte"), "bad ? byte");
  EXPECT_EQ(one_line("overlong \xC0\xAF"), "overlong ??");
  EXPECT_EQ(one_line("c1 \xC2\x9B"), "c1  ");
  EXPECT_EQ(one_line("ls\xE2\x80\xA8x"), "ls x");
}

constexpr const char* kReady = R"({
  "apiVersion": "monitoring.ibm.com/v1alpha1", "kind": "SysdigToken",
  "metadata": {"name": "ops", "namespace": "monitoring", "creationTimestamp": "2026-11-30T10:00:00Z",
               "annotations": {"monitoring.ibm.com/reset-token": "r1"}},
  "spec": {"instanceID": "x"},
  "status": {"conditions": [{"type": "Other", "status": "False"},
                            {"type": "Ready", "status": "True", "reason": "TokenSynced",
                             "message": "token synced", "lastTransitionTime": "2026-12-01T09:00:00Z"}],
             "secretName": "sysdig-monitor-token", "teamID": 26055, "revision": 4,
             "tokenFingerprint": "sha256:3f2a9c0d1e4b5a67",
             "lastRotationTime": "2026-12-02T07:00:00Z", "nextRefreshTime": "2026-12-02T10:42:00Z",
             "lastHandledReset": "r1", "lastResetOutcome": "Rotated", "failedAttempts": 0}
})";

constexpr const char* kFailing = R"({
  "kind": "SysdigToken",
  "metadata": {"name": "broken", "namespace": "team-b", "creationTimestamp": "2026-12-02T09:55:00Z"},
  "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "APIKeySecretNotFound",
                             "message": "Secret \"ibm-api-key\" not found\nin team-b"}],
             "failedAttempts": 3}
})";

TEST(PluginStatus, ParsesTheFieldsItShows) {
  auto t = parse_token(kReady);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(t->name, "ops");
  EXPECT_EQ(t->namespace_, "monitoring");
  EXPECT_EQ(t->ready, "True");
  EXPECT_EQ(t->reason, "TokenSynced");
  EXPECT_EQ(t->team, "26055");
  EXPECT_EQ(t->revision, "4");
  EXPECT_EQ(t->secret, "sysdig-monitor-token");
  EXPECT_EQ(t->fingerprint, "sha256:3f2a9c0d1e4b5a67");
  EXPECT_EQ(t->reset_annotation, "r1");
  EXPECT_EQ(t->last_handled_reset, "r1");
  EXPECT_EQ(t->last_reset_outcome, "Rotated");
  EXPECT_EQ(t->failed_attempts, "0");
  EXPECT_EQ(t->last_rotation, at("2026-12-02T07:00:00Z"));
}

TEST(PluginStatus, RefusesWhatIsNotASysdigToken) {
  EXPECT_FALSE(parse_token("not json").ok());
  EXPECT_FALSE(parse_token("[]").ok());
  auto status = parse_token(R"({"kind":"Status","status":"Failure"})");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("a Status, not a SysdigToken"), std::string::npos);
  // Fields of unexpected types are left out, not thrown on.
  auto odd = parse_token(R"({"kind":"SysdigToken","metadata":[],"status":{"teamID":{},"conditions":7}})");
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->team, "");
}

// Missing values are empty cells, as in kubectl get.
TEST(PluginStatus, TableWithNamespaceAndTheFailureMessage) {
  std::string next;
  const std::string list = std::string(R"({"kind":"SysdigTokenList","metadata":{"continue":"c1"},"items":[)") +
                           kReady + "," + kFailing + "]}";
  auto tokens = parse_token_list(list, next);
  ASSERT_TRUE(tokens.ok()) << tokens.error();
  EXPECT_EQ(next, "c1");
  const auto now = at("2026-12-02T10:00:00Z");
  // Empty cells keep their column's width: 3 + 5 + 3 + 20 + 3 + 8 + 3 + 13 + 3 + 12 + 3 spaces.
  const std::string gap(76, ' ');
  EXPECT_EQ(format_table(status_rows(tokens.value(), true, now)),
            "NAMESPACE    NAME     READY   REASON                 TEAM    SECRET                 "
            "REVISION   LAST ROTATION   NEXT REFRESH   AGE   MESSAGE\n"
            "monitoring   ops      True    TokenSynced            26055   sysdig-monitor-token   "
            "4          3h              in 42m         2d\n"
            "team-b       broken   False   APIKeySecretNotFound" + gap +
                "5m    Secret \"ibm-api-key\" not found in team-b\n");
  const auto rows = status_rows(tokens.value(), false, now);
  EXPECT_EQ(rows[0][0], "NAME");
  EXPECT_EQ(rows[0].size(), 10u);
}

// Times far outside the clock's range (clamped to its ends when parsed)
// still give an age and a next refresh, without overflowing.
TEST(PluginStatus, TimesAtTheClocksEnds) {
  std::string next;
  auto tokens = parse_token_list(
      R"({"kind":"SysdigTokenList","items":[{"kind":"SysdigToken","metadata":{"name":"a",)"
      R"("creationTimestamp":"1013-12-02T09:55:00Z"},"status":{"nextRefreshTime":"9999-01-01T00:00:00Z",)"
      R"("lastRotationTime":"0001-01-01T00:00:00Z"}}]})",
      next);
  ASSERT_TRUE(tokens.ok()) << tokens.error();
  const auto now = at("2026-12-02T10:00:00Z");
  const auto rows = status_rows(tokens.value(), false, now);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1][0], "a");
  EXPECT_EQ(rows[1][6], "349y");  // LAST ROTATION: the clock's lower end, 1677
  EXPECT_EQ(rows[1][7], "in 235y");  // NEXT REFRESH: its upper end, 2262
  EXPECT_EQ(rows[1][8], "349y");
  EXPECT_EQ(until(Clock::time_point::max(), Clock::time_point::min()).substr(0, 3), "in ");
}

TEST(PluginStatus, ListErrors) {
  std::string next;
  EXPECT_FALSE(parse_token_list(R"({"kind":"SysdigTokenList"})", next).ok());
  EXPECT_FALSE(parse_token_list(R"({"items":[1]})", next).ok());
  auto empty = parse_token_list(R"({"items":[]})", next);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(PluginDiscovery, TellsAMissingCrdFromAMissingObject) {
  // GET /apis/monitoring.ibm.com/v1alpha1 with the CRD installed.
  EXPECT_TRUE(discovery_serves_sysdigtokens(
      R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"monitoring.ibm.com/v1alpha1",
          "resources":[{"name":"sysdigtokens","namespaced":true,"kind":"SysdigToken"},
                       {"name":"sysdigtokens/status","namespaced":true,"kind":"SysdigToken"}]})"));
  // Another CRD of the group only, or the 404 Status of a group that is not served.
  EXPECT_FALSE(discovery_serves_sysdigtokens(
      R"({"kind":"APIResourceList","resources":[{"name":"clustersysdigtokens"}]})"));
  EXPECT_FALSE(discovery_serves_sysdigtokens(
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","code":404})"));
  EXPECT_FALSE(discovery_serves_sysdigtokens("404 page not found"));
}

TokenStatus token(std::string ready, std::string reason = "", std::string message = "") {
  TokenStatus t;
  t.ready = std::move(ready);
  t.reason = std::move(reason);
  t.message = std::move(message);
  return t;
}

TEST(PluginRotate, HandledResetGivesTheOutcome) {
  TokenStatus before = token("True", "TokenSynced");
  TokenStatus now = before;
  EXPECT_EQ(judge_reset(before, now, "2026-12-02T10:00:00Z", false).state, ResetState::Pending);
  now.last_handled_reset = "2026-12-02T10:00:00Z";
  now.last_reset_outcome = "Rotated";
  now.fingerprint = "sha256:0123456789abcdef";
  auto v = judge_reset(before, now, "2026-12-02T10:00:00Z", false);
  EXPECT_EQ(v.state, ResetState::Rotated);
  EXPECT_EQ(v.line, "Rotated sha256:0123456789abcdef");
  now.last_reset_outcome = "Unchanged";
  v = judge_reset(before, now, "2026-12-02T10:00:00Z", false);
  EXPECT_EQ(v.state, ResetState::Unchanged);
  EXPECT_EQ(v.line, "Unchanged");
  // An older value handled is not this reset.
  now.last_handled_reset = "2026-12-02T09:00:00Z";
  EXPECT_EQ(judge_reset(before, now, "2026-12-02T10:00:00Z", true).state, ResetState::Pending);
}

TEST(PluginRotate, ANewFailureFailsAtOnceAnOldOneOnceSettled) {
  const std::string value = "2026-12-02T10:00:00Z";
  auto v = judge_reset(token("True"), token("False", "IAMUnavailable", "IAM answered 503"), value,
                       false);
  EXPECT_EQ(v.state, ResetState::Failed);
  EXPECT_EQ(v.line, "not rotated: Ready=False (IAMUnavailable): IAM answered 503");
  TokenStatus old = token("False", "AccessDenied", "403");
  EXPECT_EQ(judge_reset(old, old, value, false).state, ResetState::Pending);
  EXPECT_EQ(judge_reset(old, old, value, true).state, ResetState::Failed);
  TokenStatus retried = old;
  retried.failed_attempts = "2";
  EXPECT_EQ(judge_reset(old, retried, value, false).state, ResetState::Failed);
}

}  // namespace
}  // namespace sto::plugin
