// The reconciler when something is wrong: every failure reason, the
// per-resource backoff kept in the status, specs it cannot act on, hosts off
// the allowlist, Secrets that are not ours, two SysdigTokens naming one
// target, renamed targets, deletionPolicy Retain — and that no token or API
// key ever reaches a status, an event or an error.
#include <functional>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "reconciler_fixture.h"

namespace sto::controller_test {
namespace {

namespace names = controller;
using ibm::IbmErrorKind;

std::string s(std::string_view v) { return std::string(v); }

bool contains(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

// --- The API key -------------------------------------------------------------

TEST_F(Reconciler, MissingApiKeySecretIsAPIKeySecretNotFound) {
  cluster->remove_secret(kNs, "ibm-api-key");
  add_token();
  auto r = reconcile();
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.reason, Reason::APIKeySecretNotFound);
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->status, "False");
  EXPECT_EQ(st.ready->reason, "APIKeySecretNotFound");
  EXPECT_TRUE(contains(st.ready->message, "ibm-api-key")) << st.ready->message;
  EXPECT_TRUE(contains(st.ready->message, "spec.apiKeySecretRef.name")) << st.ready->message;
  EXPECT_EQ(st.failed_attempts, 1);
  EXPECT_EQ(monitoring->fetches(), 0);
  EXPECT_EQ(cluster->secret(kNs, kName), nullptr);
  auto warnings = events->with_reason("APIKeySecretNotFound");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(warnings[0].warning);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 5s);
}

// --- A trusted profile ----------------------------------------------------------

Json trusted_profile_token(const std::string& sa = "sysdig-reader") {
  Json t = token_json();
  t["spec"].erase("apiKeySecretRef");
  t["spec"]["trustedProfile"] = {{"id", "Profile-1"}, {"serviceAccountName", sa}};
  return t;
}

TEST_F(Reconciler, TrustedProfileSyncsWithATokenOfTheNamedServiceAccount) {
  cluster->put_service_account(kNs, "sysdig-reader");
  monitoring->set_token(kTeam, std::string("profile:Profile-1:") + kNs + "/sysdig-reader",
                        kToken2);
  add_token(trusted_profile_token());
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Synced) << r.label();
  EXPECT_EQ(cluster->count("read_secret_value"), 0);
  EXPECT_EQ(cluster->count("request_service_account_token"), 1);
  ASSERT_EQ(monitoring->cr_tokens().size(), 1u);
  EXPECT_TRUE(contains(monitoring->cr_tokens()[0], "sa-token-monitoring-sysdig-reader"));
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->status, "True");
  for (const auto& e : events->all()) {
    EXPECT_FALSE(contains(e.message, "sa-token")) << e.message;
  }
}

TEST_F(Reconciler, TrustedProfileWithAMissingServiceAccountIsServiceAccountTokenFailed) {
  add_token(trusted_profile_token("nobody"));
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::ServiceAccountTokenFailed);
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->reason, "ServiceAccountTokenFailed");
  EXPECT_TRUE(contains(st.ready->message, "ServiceAccount nobody")) << st.ready->message;
  EXPECT_TRUE(contains(st.ready->message, "not found in namespace monitoring"))
      << st.ready->message;
  EXPECT_EQ(cluster->secret(kNs, kName), nullptr);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 5s);
}

TEST_F(Reconciler, TrustedProfileForbiddenTokenRequestNamesTheMissingPermission) {
  cluster->put_service_account(kNs, "sysdig-reader");
  cluster->fail_next("request_service_account_token",
                     api_error(kube::ApiErrorKind::Forbidden, "cannot create serviceaccounts/token"));
  add_token(trusted_profile_token());
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::ServiceAccountTokenFailed);
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_TRUE(contains(st.ready->message, "create on serviceaccounts/token")) << st.ready->message;
}

TEST_F(Reconciler, MissingApiKeyKeyNamesTheKeyField) {
  cluster->put_api_key(kNs, "ibm-api-key", "other", kApiKey);
  add_token();
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::APIKeySecretNotFound);
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->reason, "APIKeySecretNotFound");
  EXPECT_TRUE(contains(st.ready->message, "spec.apiKeySecretRef.key")) << st.ready->message;
  EXPECT_TRUE(contains(st.ready->message, "\"apikey\"")) << st.ready->message;
  EXPECT_EQ(monitoring->fetches(), 0);
}

TEST_F(Reconciler, EmptyApiKeyIsAPIKeySecretNotFound) {
  cluster->put_api_key(kNs, "ibm-api-key", "apikey", "");
  add_token();
  EXPECT_EQ(reconcile().reason, Reason::APIKeySecretNotFound);
  EXPECT_EQ(monitoring->fetches(), 0);
}

TEST_F(Reconciler, ApiKeyReadErrorIsLeftToTheWorkQueue) {
  add_token();
  cluster->fail_next("read_secret_value",
                     api_error(kube::ApiErrorKind::ServerError, "etcdserver: leader changed"));
  auto r = try_reconcile();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, kube::ApiErrorKind::ServerError);
  EXPECT_EQ(monitoring->fetches(), 0);
}

// --- Every IBM Cloud failure reason ---------------------------------------------

class ReconcilerFailure : public Reconciler, public ::testing::WithParamInterface<IbmErrorKind> {};

TEST_P(ReconcilerFailure, IsReportedWithItsReasonAndBacksOffExponentially) {
  const IbmErrorKind kind = GetParam();
  const std::string reason(ibm::to_string(kind));
  add_token();
  monitoring->fail_fetch(ibm::make_error(kind, "what went wrong: " + reason, 0), 3);

  std::chrono::seconds expected_delay = 5s;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    SCOPED_TRACE("attempt " + std::to_string(attempt));
    auto r = reconcile();
    EXPECT_TRUE(r.failed());
    EXPECT_EQ(r.label(), reason);
    auto st = status();
    ASSERT_TRUE(st.ready);
    EXPECT_EQ(st.ready->status, "False");
    EXPECT_EQ(st.ready->reason, reason);
    EXPECT_EQ(st.ready->message, "what went wrong: " + reason);
    EXPECT_EQ(st.failed_attempts, attempt);
    EXPECT_EQ(st.next_retry_time, at(clock.now + expected_delay));
    ASSERT_TRUE(r.requeue_after);
    EXPECT_EQ(*r.requeue_after, expected_delay);
    EXPECT_EQ(monitoring->fetches(), attempt);
    EXPECT_EQ(cluster->secret(kNs, kName), nullptr);
    clock.now += expected_delay;
    expected_delay *= 2;
  }
  auto warnings = events->with_reason(reason);
  ASSERT_EQ(warnings.size(), 1u) << "the same failure is announced once";
  EXPECT_TRUE(warnings[0].warning);

  // Recovery.
  auto r = reconcile();
  EXPECT_FALSE(r.failed());
  EXPECT_EQ(r.outcome, Outcome::Synced);
  auto st = status();
  EXPECT_EQ(st.ready->status, "True");
  EXPECT_EQ(st.failed_attempts, 0);
  EXPECT_EQ(st.next_retry_time, "");
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
}

INSTANTIATE_TEST_SUITE_P(EveryKind, ReconcilerFailure,
                         ::testing::Values(IbmErrorKind::APIKeyInvalid, IbmErrorKind::TeamNotFound,
                                           IbmErrorKind::IAMUnavailable,
                                           IbmErrorKind::MonitoringUnavailable,
                                           IbmErrorKind::RateLimited),
                         [](const auto& info) { return std::string(ibm::to_string(info.param)); });

// A 403 (including instances set to IAM_ONLY) needs a person to act: the
// resource backs off from 5 minutes, not seconds, and a new reset value or a
// spec change tries again at once.
TEST_F(Reconciler, AccessDeniedBacksOffFromFiveMinutesAndRetriesAtOnceOnAChange) {
  add_token();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::AccessDenied, "Not enough privileges", 403),
                         3);
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::AccessDenied);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, std::chrono::milliseconds(5min));
  EXPECT_EQ(status().next_retry_time, at(clock.now + 5min));
  clock.now += 1min;
  EXPECT_EQ(reconcile().outcome, Outcome::BackingOff);
  EXPECT_EQ(monitoring->fetches(), 1);

  cluster->edit_token(
      kNs, kName,
      [](Json& t) { t["metadata"]["annotations"][std::string(controller::kResetAnnotation)] = "r1"; },
      false);
  world->sync(*cluster);
  EXPECT_EQ(reconcile().reason, Reason::AccessDenied);
  EXPECT_EQ(monitoring->fetches(), 2) << "a new reset value retries at once";

  cluster->edit_token(kNs, kName, [](Json& t) { t["spec"]["teamID"] = kTeam; }, true);
  world->sync(*cluster);
  EXPECT_EQ(reconcile().reason, Reason::AccessDenied);
  EXPECT_EQ(monitoring->fetches(), 3) << "a spec change retries at once";
}

// An IBM answer that says the spec itself is wrong waits for a change of the
// resource instead of retrying.
TEST_F(Reconciler, InvalidSpecFromIbmWaitsForAChange) {
  add_token();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::InvalidSpec, "bad instance", 400), 1);
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::InvalidSpec);
  EXPECT_FALSE(r.requeue_after);
  EXPECT_EQ(status().next_retry_time, "");
}

// A Secret write the API server refuses for good (422, 403) is reported with
// the server's message, backs off, and never quotes the token.
TEST_F(Reconciler, SecretRejectedByTheApiServerIsReportedAndBacksOff) {
  add_token();
  cluster->fail_next("create_secret",
                     api_error(kube::ApiErrorKind::Invalid,
                               "Secret \"ops-team\" is invalid: data: value " + kToken1 +
                                   " too long"));
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::SecretRejected);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, std::chrono::milliseconds(5s));
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->reason, "SecretRejected");
  EXPECT_NE(st.ready->message.find("is invalid"), std::string::npos) << st.ready->message;
  EXPECT_EQ(st.ready->message.find(kToken1), std::string::npos) << st.ready->message;
  auto warnings = events->with_reason("SecretRejected");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].message.find(kToken1), std::string::npos);

  cluster->fail_next("create_secret", api_error(kube::ApiErrorKind::Forbidden, "forbidden"));
  clock.now += 5s;
  EXPECT_EQ(reconcile().reason, Reason::SecretRejected);
  EXPECT_EQ(status().failed_attempts, 2);
  clock.now += 10s;
  EXPECT_EQ(reconcile().outcome, Outcome::Synced);
}

// An exception that escapes a reconcile is reported on that resource only.
TEST_F(Reconciler, InternalErrorIsReportedOnTheResource) {
  add_token();
  auto r = run_coroutine(reconciler->report_internal_error(kKey, "internal error"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().reason, Reason::InternalError);
  ASSERT_TRUE(r.value().requeue_after);
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->reason, "InternalError");
  EXPECT_EQ(events->with_reason("InternalError").size(), 1u);
}

TEST_F(Reconciler, BackoffIsCappedByTheOptions) {
  add_token();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::IAMUnavailable, "IAM is down"), 12);
  std::chrono::milliseconds last{0};
  for (int i = 0; i < 12; ++i) {
    auto r = reconcile();
    ASSERT_TRUE(r.requeue_after);
    last = *r.requeue_after;
    clock.now += std::chrono::duration_cast<std::chrono::seconds>(last);
  }
  EXPECT_EQ(last, 10min);
  EXPECT_EQ(status().failed_attempts, 12);
}

TEST_F(Reconciler, RetryAfterIsHonoured) {
  add_token();
  auto e = ibm::make_error(IbmErrorKind::RateLimited, "too many requests", 429);
  e.retry_after = 120s;
  monitoring->fail_fetch(e);
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::RateLimited);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 120s);
  EXPECT_EQ(status().next_retry_time, at(clock.now + 120s));
}

TEST_F(Reconciler, TeamNameLookupFailureIsReported) {
  Json t = token_json();
  t["spec"].erase("teamID");
  t["spec"]["teamName"] = "Nobody";
  add_token(t);
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::TeamNotFound);
  EXPECT_EQ(ready_reason(), "TeamNotFound");
  EXPECT_TRUE(contains(status().ready->message, "Nobody"));
  EXPECT_EQ(monitoring->fetches(), 0);
}

TEST_F(Reconciler, FailureNeverDeletesOrBlanksTheSecret) {
  add_token();
  reconcile();
  std::string secret_json = cluster->secret(kNs, kName)->dump();
  cluster->clear_calls();

  // A refresh that fails, then a reset that fails.
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::MonitoringUnavailable, "503"), 2);
  clock.advance(1h);
  EXPECT_TRUE(reconcile().failed());
  annotate_reset("r1");
  EXPECT_TRUE(reconcile().failed());

  EXPECT_EQ(cluster->secret(kNs, kName)->dump(), secret_json);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  EXPECT_EQ(cluster->count("create_secret"), 0);
  EXPECT_EQ(cluster->count("delete_secret"), 0);
  EXPECT_EQ(cluster->count("release_secret"), 0);
  auto st = status();
  EXPECT_EQ(st.secret_name, kName);
  EXPECT_EQ(st.revision, 1);
  EXPECT_EQ(st.token_fingerprint, controller::token_fingerprint(kToken1));
  EXPECT_EQ(st.last_handled_reset, "") << "a reset that failed is not handled";
  EXPECT_EQ(st.failed_attempts, 2);

  // The reset is handled once Sysdig answers again.
  monitoring->set_token(kTeam, kApiKey, kToken2);
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Rotated);
  EXPECT_EQ(status().last_handled_reset, "r1");
  EXPECT_EQ(status().failed_attempts, 0);
}

TEST_F(Reconciler, BackingOffResourceIsNotFetchedBeforeNextRetryTime) {
  add_token();
  reconcile();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::IAMUnavailable, "IAM timed out"));
  clock.advance(1h);
  ASSERT_TRUE(reconcile().failed());
  ASSERT_EQ(monitoring->fetches(), 2);
  cluster->clear_calls();

  clock.advance(2s);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::BackingOff);
  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(cluster->writes(), 0);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 3s);

  restart();
  EXPECT_EQ(reconcile().outcome, Outcome::BackingOff);
  EXPECT_EQ(monitoring->fetches(), 2);

  clock.advance(3s);
  EXPECT_EQ(reconcile().outcome, Outcome::Refreshed);
  EXPECT_EQ(monitoring->fetches(), 3);
  EXPECT_EQ(status().failed_attempts, 0);
}

// "A restart re-fetches nothing that is not due": a resource whose first
// sync failed has no Secret yet, but its nextRetryTime still says when the
// next try is due.
TEST_F(Reconciler, FailingResourceWithoutASecretIsNotFetchedBeforeNextRetryTime) {
  add_token();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::MonitoringUnavailable, "503"), 5);
  ASSERT_TRUE(reconcile().failed());
  ASSERT_EQ(status().next_retry_time, at(clock.now + 5s));
  clock.advance(1s);
  restart();
  auto r = reconcile();
  EXPECT_EQ(monitoring->fetches(), 1) << "fetched again before nextRetryTime";
  EXPECT_EQ(status().failed_attempts, 1);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 4s);
}

TEST_F(Reconciler, SameFailureAgainIsNotAnnouncedAgainButADifferentOneIs) {
  add_token();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::IAMUnavailable, "IAM timed out"), 2);
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::AccessDenied, "instance is IAM_ONLY"));
  for (int i = 0; i < 3; ++i) {
    auto r = reconcile();
    clock.now += std::chrono::duration_cast<std::chrono::seconds>(*r.requeue_after);
  }
  EXPECT_EQ(events->with_reason("IAMUnavailable").size(), 1u);
  EXPECT_EQ(events->with_reason("AccessDenied").size(), 1u);
  EXPECT_EQ(ready_reason(), "AccessDenied");
}

TEST_F(Reconciler, FailedConditionKeepsItsTransitionTime) {
  add_token();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::IAMUnavailable, "IAM timed out"), 2);
  auto first = clock.now;
  auto r = reconcile();
  clock.now += std::chrono::duration_cast<std::chrono::seconds>(*r.requeue_after);
  reconcile();
  EXPECT_EQ(status().ready->last_transition_time, at(first));
  clock.advance(10s);
  reconcile();
  EXPECT_EQ(status().ready->status, "True");
  EXPECT_EQ(status().ready->last_transition_time, at(clock.now));
}

TEST_F(Reconciler, KubernetesWriteErrorsAreLeftToTheWorkQueue) {
  add_token();
  cluster->fail_next("create_secret",
                     api_error(kube::ApiErrorKind::ServerError, "etcdserver: request timed out"));
  auto r = try_reconcile();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, kube::ApiErrorKind::ServerError);
  EXPECT_EQ(status().revision, 0);
  EXPECT_EQ(reconcile().outcome, Outcome::Synced);
}

// --- Specs the controller cannot act on -----------------------------------------

struct BadSpec {
  std::string name;
  std::function<void(Json&)> edit;
  std::string field;  // the message names it
};

TEST_F(Reconciler, InvalidSpecIsReportedWithTheFieldAndNotRetried) {
  std::vector<BadSpec> cases = {
      {"short-refresh", [](Json& s) { s["refreshInterval"] = "10s"; }, "spec.refreshInterval"},
      {"bad-refresh", [](Json& s) { s["refreshInterval"] = "soon"; }, "spec.refreshInterval"},
      {"no-team", [](Json& s) { s.erase("teamID"); }, "spec.teamID"},
      {"bad-endpoint", [](Json& s) { s["endpoint"] = "http://us-south.monitoring.cloud.ibm.com"; },
       "spec.endpoint"},
      {"unknown-region", [](Json& s) { s["region"] = "mars-1"; }, "spec.region"},
      {"no-region", [](Json& s) { s.erase("region"); }, "spec.region"},
      {"bad-instance", [](Json& s) { s["instanceID"] = "not-a-guid"; }, "spec.instanceID"},
      {"bad-iam", [](Json& s) { s["iamEndpoint"] = "https://user:pw@iam.cloud.ibm.com"; },
       "spec.iamEndpoint"},
      {"bad-team-type", [](Json& s) { s["teamID"] = "26055"; }, "spec.teamID"},
      {"bad-policy",
       [](Json& s) {
         s["target"] = {{"deletionPolicy", "Keep"}};
       },
       "spec.target.deletionPolicy"},
      {"key-collides",
       [](Json& s) {
         s["target"] = {{"tokenKey", "SYSDIG_MONITOR_URL"}};
       },
       "spec.target.tokenKey"},
      {"reserved-label",
       [](Json& s) {
         s["target"] = {{"labels", {{"monitoring.ibm.com/sysdigtoken", "x"}}}};
       },
       "spec.target.labels"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Json t = token_json(c.name);
    c.edit(t["spec"]);
    add_token(t);
    cluster->clear_calls();
    events->clear();
    auto r = reconcile(std::string(kNs) + "/" + c.name);
    EXPECT_TRUE(r.failed());
    EXPECT_EQ(r.reason, Reason::InvalidSpec);
    EXPECT_FALSE(r.requeue_after) << "only a spec change can help";
    auto st = status(c.name);
    ASSERT_TRUE(st.ready);
    EXPECT_EQ(st.ready->status, "False");
    EXPECT_EQ(st.ready->reason, "InvalidSpec");
    EXPECT_TRUE(contains(st.ready->message, c.field)) << st.ready->message;
    EXPECT_EQ(st.next_retry_time, "");
    EXPECT_EQ(cluster->count("read_secret_value"), 0);
    EXPECT_EQ(cluster->count("create_secret"), 0);
    ASSERT_EQ(events->all().size(), 1u);
    EXPECT_TRUE(events->all()[0].warning);
    EXPECT_EQ(events->all()[0].reason, "InvalidSpec");
  }
  EXPECT_EQ(monitoring->fetches(), 0);
  EXPECT_EQ(monitoring->finds(), 0);
}

TEST_F(Reconciler, InvalidSpecReconciledAgainWritesNothing) {
  Json t = token_json();
  t["spec"]["refreshInterval"] = "10s";
  add_token(t);
  reconcile();
  std::string rv = token_rv();
  auto before = status();
  events->clear();
  clock.advance(1min);
  reconcile();
  restart();
  reconcile();
  EXPECT_EQ(cluster->count("write_status"), 1)
      << "failedAttempts went to " << status().failed_attempts;
  EXPECT_EQ(token_rv(), rv);
  EXPECT_EQ(status(), before);
  EXPECT_TRUE(events->all().empty());
}

TEST_F(Reconciler, FixedSpecSyncs) {
  Json t = token_json();
  t["spec"]["region"] = "mars-1";
  add_token(t);
  EXPECT_EQ(reconcile().reason, Reason::InvalidSpec);
  edit_spec([](Json& spec) { spec["region"] = "us-south"; });
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Synced);
  auto st = status();
  EXPECT_EQ(st.ready->status, "True");
  EXPECT_EQ(st.failed_attempts, 0);
  EXPECT_EQ(st.observed_generation, 2);
}

TEST_F(Reconciler, InvalidSpecNeverTouchesAnExistingSecret) {
  add_token();
  reconcile();
  std::string secret_json = cluster->secret(kNs, kName)->dump();
  edit_spec([](Json& spec) { spec["region"] = "mars-1"; });
  EXPECT_EQ(reconcile().reason, Reason::InvalidSpec);
  EXPECT_EQ(cluster->secret(kNs, kName)->dump(), secret_json);
  EXPECT_EQ(status().token_fingerprint, controller::token_fingerprint(kToken1));
}

// --- The host allowlist -----------------------------------------------------------

TEST_F(Reconciler, EndpointOffTheAllowlistIsNeverCalled) {
  Json t = token_json();
  t["spec"].erase("region");
  t["spec"]["endpoint"] = "https://monitoring.example.com:8443";
  add_token(t);
  auto r = reconcile();
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.reason, Reason::EndpointNotAllowed);
  EXPECT_FALSE(r.requeue_after);
  EXPECT_EQ(ready_reason(), "EndpointNotAllowed");
  EXPECT_TRUE(contains(status().ready->message, "monitoring.example.com"))
      << status().ready->message;
  EXPECT_EQ(monitoring->fetches(), 0);
  EXPECT_EQ(cluster->count("read_secret_value"), 0);
}

TEST_F(Reconciler, IamEndpointOffTheAllowlistIsNeverCalled) {
  Json t = token_json();
  t["spec"]["iamEndpoint"] = "https://iam.example.com";
  add_token(t);
  EXPECT_EQ(reconcile().reason, Reason::EndpointNotAllowed);
  EXPECT_TRUE(contains(status().ready->message, "iam.example.com"));
  EXPECT_EQ(monitoring->fetches(), 0);
}

TEST_F(Reconciler, NarrowedAllowlistExcludesTheRegionHost) {
  allowlist =
      ibm::HostAllowlist::parse({"iam.cloud.ibm.com", "eu-de.monitoring.cloud.ibm.com"}).value();
  restart();
  add_token();
  EXPECT_EQ(reconcile().reason, Reason::EndpointNotAllowed);
  EXPECT_TRUE(contains(status().ready->message, "us-south.monitoring.cloud.ibm.com"));
  EXPECT_EQ(monitoring->fetches(), 0);
}

// --- Secrets that are not ours ----------------------------------------------------

TEST_F(Reconciler, ForeignSecretIsNeverOverwritten) {
  cluster->put_secret(Json{{"apiVersion", "v1"},
                           {"kind", "Secret"},
                           {"metadata", {{"namespace", kNs}, {"name", kName}}},
                           {"data", {{"password", base64_encode("hunter2")}}}});
  std::string foreign = cluster->secret(kNs, kName)->dump();
  add_token();
  ASSERT_EQ(world->secret(kNs, kName), nullptr) << "not in the label-selected cache";
  auto r = reconcile();
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.reason, Reason::SecretConflict);
  EXPECT_EQ(ready_reason(), "SecretConflict");
  EXPECT_TRUE(contains(status().ready->message, "spec.target.name"));
  EXPECT_EQ(cluster->secret(kNs, kName)->dump(), foreign);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  EXPECT_EQ(events->with_reason("SecretConflict").size(), 1u);
  EXPECT_TRUE(r.requeue_after);

  // It stays that way.
  clock.now += std::chrono::duration_cast<std::chrono::seconds>(*r.requeue_after);
  EXPECT_EQ(reconcile().reason, Reason::SecretConflict);
  EXPECT_EQ(cluster->secret(kNs, kName)->dump(), foreign);

  // Once it is gone, ours is created.
  cluster->remove_secret(kNs, kName);
  sync();
  clock.advance(10min);
  auto ok = reconcile();
  EXPECT_FALSE(ok.failed()) << ok.outcome;
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_EQ(status().failed_attempts, 0);
}

TEST_F(Reconciler, SecretOfAnotherSysdigTokenIsAConflictWithoutFlapping) {
  Json a = token_json("team-a");
  a["spec"]["target"] = {{"name", "shared"}};
  Json b = token_json("team-b");
  b["spec"]["target"] = {{"name", "shared"}};
  add_token(a);
  add_token(b);
  const std::string key_a = std::string(kNs) + "/team-a";
  const std::string key_b = std::string(kNs) + "/team-b";

  EXPECT_EQ(reconcile(key_a).outcome, Outcome::Synced);
  std::string written = cluster->secret(kNs, "shared")->dump();
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto rb = reconcile(key_b);
    EXPECT_EQ(rb.reason, Reason::SecretConflict);
    auto ra = reconcile(key_a);
    EXPECT_FALSE(ra.failed()) << ra.outcome;
    clock.advance(1min);
    sync();
  }
  EXPECT_EQ(cluster->secret(kNs, "shared")->dump(), written);
  EXPECT_EQ(cluster->count("create_secret"), 1);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  EXPECT_EQ(cluster->count("delete_secret"), 0);
  EXPECT_EQ(ready_status("team-a"), "True");
  EXPECT_EQ(ready_reason("team-b"), "SecretConflict");
  EXPECT_TRUE(contains(status("team-b").ready->message, "team-a"))
      << status("team-b").ready->message;
  EXPECT_EQ(status("team-b").secret_name, "");
  EXPECT_TRUE(stored_secret("shared")->owned_by(token_uid("team-a")));
}

TEST_F(Reconciler, ConflictIsDecidedAtWriteTimeWhenTheCacheHasNotSeenTheOtherSecret) {
  Json a = token_json("team-a");
  a["spec"]["target"] = {{"name", "shared"}};
  Json b = token_json("team-b");
  b["spec"]["target"] = {{"name", "shared"}};
  add_token(a);
  add_token(b);
  EXPECT_EQ(reconcile(std::string(kNs) + "/team-a").outcome, Outcome::Synced);
  std::string written = cluster->secret(kNs, "shared")->dump();
  world->forget_secret(kNs, "shared");  // the watch is behind

  auto r = reconcile(std::string(kNs) + "/team-b");
  EXPECT_EQ(r.reason, Reason::SecretConflict);
  EXPECT_EQ(cluster->count("create_secret"), 2);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  EXPECT_EQ(cluster->secret(kNs, "shared")->dump(), written);
  EXPECT_TRUE(stored_secret("shared")->owned_by(token_uid("team-a")));
}

TEST_F(Reconciler, SecretOfAnEarlierSysdigTokenOfTheSameNameIsNotOurs) {
  // Same name, another UID: a SysdigToken deleted and created again.
  cluster->put_secret(Json{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata",
       {{"namespace", kNs},
        {"name", kName},
        {"labels",
         {{s(names::kManagedByLabel), s(names::kManagedByValue)}, {s(names::kOwnerLabel), kName}}},
        {"ownerReferences", Json::array({{{"apiVersion", "monitoring.ibm.com/v1alpha1"},
                                          {"kind", "SysdigToken"},
                                          {"name", kName},
                                          {"uid", "uid-of-an-earlier-one"},
                                          {"controller", true}}})}}},
      {"data", {{"SYSDIG_MONITOR_API_TOKEN", base64_encode("old")}}}});
  std::string old = cluster->secret(kNs, kName)->dump();
  add_token();
  EXPECT_EQ(reconcile().reason, Reason::SecretConflict);
  EXPECT_EQ(cluster->secret(kNs, kName)->dump(), old);
}

// --- Renamed targets ----------------------------------------------------------------

TEST_F(Reconciler, TargetRenameDeletesTheOldManagedSecret) {
  add_token();
  reconcile();
  std::string old_uid = cluster->secret(kNs, kName)->at("metadata").value("uid", "");
  edit_spec([](Json& spec) { spec["target"] = {{"name", "renamed"}}; });
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome;
  ASSERT_EQ(cluster->count("delete_secret"), 1);
  for (const auto& c : cluster->calls()) {
    if (c.verb == "delete_secret") {
      EXPECT_EQ(c.target, "monitoring/ops-team");
      EXPECT_EQ(c.body, old_uid) << "deleted with a UID precondition";
    }
  }
  EXPECT_EQ(cluster->secret(kNs, kName), nullptr);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN", "renamed"), kToken1);
  EXPECT_EQ(status().secret_name, "renamed");
  EXPECT_EQ(status().revision, 1);

  sync();
  clock.advance(1min);
  cluster->clear_calls();
  EXPECT_EQ(reconcile().outcome, Outcome::UpToDate);
  EXPECT_EQ(cluster->writes(), 0);
}

TEST_F(Reconciler, TargetRenameReleasesTheOldSecretUnderRetain) {
  Json t = token_json();
  t["spec"]["target"] = {{"deletionPolicy", "Retain"}};
  add_token(t);
  reconcile();
  edit_spec([](Json& spec) { spec["target"]["name"] = "renamed"; });
  reconcile();
  EXPECT_EQ(cluster->count("delete_secret"), 0);
  ASSERT_EQ(cluster->count("release_secret"), 1);
  const Json* old = cluster->secret(kNs, kName);
  ASSERT_NE(old, nullptr);
  EXPECT_FALSE(has_meta_entry(old, "labels", s(names::kManagedByLabel)));
  EXPECT_FALSE(has_meta_entry(old, "labels", s(names::kOwnerLabel)));
  EXPECT_FALSE(has_owner_references(old));
  EXPECT_FALSE(has_meta_entry(old, "annotations", s(names::kOwnerUidAnnotation)));
  EXPECT_FALSE(has_meta_entry(old, "annotations", s(names::kFingerprintAnnotation)));
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1) << "the data stays";
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN", "renamed"), kToken1);
  EXPECT_EQ(status().secret_name, "renamed");
}

TEST_F(Reconciler, TargetRenameKeepsTheOldSecretUntilTheNewOneIsWritten) {
  add_token();
  reconcile();
  monitoring->fail_fetch(ibm::make_error(IbmErrorKind::MonitoringUnavailable, "503"));
  edit_spec([](Json& spec) { spec["target"] = {{"name", "renamed"}}; });
  auto r = reconcile();
  EXPECT_TRUE(r.failed());
  EXPECT_NE(cluster->secret(kNs, kName), nullptr)
      << "the only Secret holding a working token was deleted by a failed reconcile";
  EXPECT_EQ(cluster->secret(kNs, "renamed"), nullptr);
}

TEST_F(Reconciler, TargetRenameToAnotherOwnersSecretKeepsOurs) {
  Json a = token_json("team-a");
  a["spec"]["target"] = {{"name", "taken"}};
  add_token(a);
  add_token();
  reconcile(std::string(kNs) + "/team-a");
  reconcile();
  edit_spec([](Json& spec) { spec["target"] = {{"name", "taken"}}; });
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::SecretConflict);
  EXPECT_TRUE(stored_secret("taken")->owned_by(token_uid("team-a")));
  EXPECT_NE(cluster->secret(kNs, kName), nullptr)
      << "a rename into a conflict deleted the Secret holding a working token";
}

// --- deletionPolicy --------------------------------------------------------------

TEST_F(Reconciler, RetainWritesAnOwnerUidAnnotationInsteadOfAnOwnerReference) {
  Json t = token_json();
  t["spec"]["target"] = {{"deletionPolicy", "Retain"}};
  add_token(t);
  EXPECT_EQ(reconcile().outcome, Outcome::Synced);
  const Json* secret = cluster->secret(kNs, kName);
  EXPECT_FALSE(has_owner_references(secret));
  EXPECT_EQ(meta_entry(secret, "annotations", s(names::kOwnerUidAnnotation)), token_uid());
  EXPECT_EQ(meta_entry(secret, "labels", s(names::kOwnerLabel)), kName);
  EXPECT_TRUE(stored_secret()->owned_by(token_uid()));

  // And it is recognised as ours afterwards.
  cluster->clear_calls();
  clock.advance(1h);
  EXPECT_EQ(reconcile().outcome, Outcome::Refreshed);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
}

TEST_F(Reconciler, ARecreatedSysdigTokenTakesOverTheSecretItsNamesakeRetained) {
  Json t = token_json();
  t["spec"]["target"] = {{"deletionPolicy", "Retain"}};
  add_token(t);
  reconcile();
  const std::string old_uid = token_uid();
  cluster->remove_token(kNs, kName);
  sync();
  add_token(t);
  ASSERT_NE(token_uid(), old_uid);
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome << ": " << status().ready->message;
  EXPECT_TRUE(stored_secret()->owned_by(token_uid()));
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_TRUE(events->with_reason("SecretConflict").empty());
}

TEST_F(Reconciler, ASecretRetainedForAnotherNameStillConflicts) {
  Json t = token_json("other");
  t["spec"]["target"] = {{"deletionPolicy", "Retain"}, {"name", kName}};
  add_token(t);
  reconcile(std::string(kNs) + "/other");
  cluster->remove_token(kNs, "other");
  sync();
  add_token();
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::SecretConflict);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
}

TEST_F(Reconciler, SwitchingToRetainDropsTheOwnerReference) {
  add_token();
  reconcile();
  edit_spec([](Json& spec) { spec["target"] = {{"deletionPolicy", "Retain"}}; });
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome;
  const Json* secret = cluster->secret(kNs, kName);
  EXPECT_FALSE(has_owner_references(secret))
      << "the garbage collector would still delete the Secret with the SysdigToken";
  EXPECT_EQ(meta_entry(secret, "annotations", s(names::kOwnerUidAnnotation)), token_uid());
}

TEST_F(Reconciler, SwitchingToDeleteAddsTheOwnerReference) {
  Json t = token_json();
  t["spec"]["target"] = {{"deletionPolicy", "Retain"}};
  add_token(t);
  reconcile();
  edit_spec([](Json& spec) { spec["target"]["deletionPolicy"] = "Delete"; });
  reconcile();
  const Json* secret = cluster->secret(kNs, kName);
  ASSERT_TRUE(has_owner_references(secret));
  EXPECT_EQ(secret->at("metadata").at("ownerReferences").at(0).value("uid", ""), token_uid());
  EXPECT_FALSE(has_meta_entry(secret, "annotations", s(names::kOwnerUidAnnotation)));
}

// --- Secrets never leak -------------------------------------------------------------

TEST_F(Reconciler, NoTokenOrApiKeyInStatusEventsOrErrors) {
  std::vector<std::string> errors;
  auto run = [&](const std::string& key) {
    auto r = try_reconcile(key);
    if (!r) {
      errors.push_back(r.error().describe());
    } else {
      errors.push_back(std::string(r.value().label()));
    }
  };
  add_token();
  run(kKey);                                       // first sync
  monitoring->set_token(kTeam, kApiKey, kToken2);  // rotation by reset
  annotate_reset("r1");
  run(kKey);
  annotate_reset("r2");  // same token: Unchanged
  run(kKey);
  clock.advance(30s);
  monitoring->set_token(kTeam, kApiKey, kToken3);
  run(kKey);  // poll rotates
  cluster->edit_secret(kNs, kName, [](Json& s) {
    s["data"]["SYSDIG_MONITOR_API_TOKEN"] = base64_encode("tampered");
  });
  sync();
  run(kKey);  // drift
  for (auto kind : {IbmErrorKind::APIKeyInvalid, IbmErrorKind::AccessDenied,
                    IbmErrorKind::RateLimited, IbmErrorKind::IAMUnavailable}) {
    monitoring->fail_fetch(ibm::make_error(kind, "failure " + std::string(ibm::to_string(kind))));
    clock.advance(2h);
    run(kKey);
  }
  cluster->fail_next("write_status", api_error(kube::ApiErrorKind::Conflict, "conflict"));
  clock.advance(2h);
  run(kKey);
  Json other = token_json("other");
  other["spec"]["target"] = {{"name", kName}};
  add_token(other);
  run(std::string(kNs) + "/other");  // conflict
  cluster->remove_secret(kNs, "ibm-api-key");
  clock.advance(2h);
  run(kKey);  // API key gone

  std::vector<std::string> haystack = errors;
  for (const auto& c : cluster->calls()) {
    if (c.verb == "write_status") haystack.push_back(c.body);
  }
  for (const auto& [key, token] : cluster->tokens()) haystack.push_back(token.dump());
  for (const auto& e : events->all()) haystack.push_back(e.reason + " " + e.message);
  for (const auto& [key, secret] : cluster->secrets()) {
    haystack.push_back(secret.at("metadata").dump());
  }
  ASSERT_GT(events->all().size(), 8u);
  for (std::string secret : {kToken1, kToken2, kToken3, kApiKey}) {
    for (const std::string& needle : {secret, base64_encode(secret)}) {
      for (const auto& text : haystack) {
        EXPECT_FALSE(contains(text, needle)) << needle << " leaked into: " << text;
      }
    }
  }
}

}  // namespace
}  // namespace sto::controller_test
