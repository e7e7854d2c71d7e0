// The reconciler when IBM Cloud answers: the first sync, the steady state
// (nothing due, nothing fetched, nothing written), refreshes, the reset
// annotation handled exactly once (across restarts and lost status writes),
// the Unchanged outcome and its polling window, and drift repair.
#include "common/encoding.h"
#include "common/rfc3339.h"
#include "reconciler_fixture.h"

namespace sto::controller_test {
namespace {

namespace names = controller;

std::string s(std::string_view v) { return std::string(v); }

TEST_F(Reconciler, FirstSyncCreatesTheSecret) {
  add_token();
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Synced);
  EXPECT_FALSE(r.failed());

  ASSERT_EQ(cluster->count("create_secret"), 1);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  const Json* secret = cluster->secret(kNs, kName);
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(secret->value("type", ""), "Opaque");
  EXPECT_EQ(meta_entry(secret, "labels", s(names::kManagedByLabel)), "sysdig-token-operator");
  EXPECT_EQ(meta_entry(secret, "labels", s(names::kOwnerLabel)), kName);

  ASSERT_TRUE(has_owner_references(secret));
  const Json& owners = secret->at("metadata").at("ownerReferences");
  ASSERT_EQ(owners.size(), 1u);
  const Json& owner = owners.at(0);
  EXPECT_EQ(owner.value("apiVersion", ""), "monitoring.ibm.com/v1alpha1");
  EXPECT_EQ(owner.value("kind", ""), "SysdigToken");
  EXPECT_EQ(owner.value("name", ""), kName);
  EXPECT_EQ(owner.value("uid", ""), token_uid());
  EXPECT_EQ(owner.value("controller", false), true);
  EXPECT_EQ(owner.value("blockOwnerDeletion", false), true);
  EXPECT_FALSE(has_meta_entry(secret, "annotations", s(names::kOwnerUidAnnotation)));

  EXPECT_EQ(meta_entry(secret, "annotations", s(names::kFingerprintAnnotation)),
            controller::token_fingerprint(kToken1));
  EXPECT_EQ(meta_entry(secret, "annotations", s(names::kRevisionAnnotation)), "1");

  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_URL"), kEndpoint);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_TEAM_ID"), "26055");
  EXPECT_EQ(stored_value("IBM_INSTANCE_ID"), kGuid);
}

TEST_F(Reconciler, FirstSyncFetchesWithTheResolvedEndpointsAndTheApiKey) {
  add_token();
  reconcile();
  ASSERT_EQ(monitoring->fetches(), 1);
  const auto& team = monitoring->fetched()[0];
  EXPECT_EQ(team.team_id, kTeam);
  EXPECT_EQ(team.instance.endpoint, kEndpoint);
  EXPECT_EQ(team.instance.iam_endpoint, kIam);
  EXPECT_EQ(team.instance.instance_id, kGuid);
  EXPECT_EQ(monitoring->api_keys()[0], kApiKey);
  ASSERT_EQ(cluster->count("read_secret_value"), 1);
  EXPECT_EQ(cluster->calls()[0].target, "monitoring/ibm-api-key");
  EXPECT_EQ(cluster->calls()[0].body, "apikey");
}

TEST_F(Reconciler, FirstSyncReportsReadyWithFingerprintAndRevisionOne) {
  add_token();
  auto r = reconcile();
  auto st = status();
  ASSERT_TRUE(st.ready);
  EXPECT_EQ(st.ready->type, "Ready");
  EXPECT_EQ(st.ready->status, "True");
  EXPECT_EQ(st.ready->reason, "TokenSynced");
  EXPECT_EQ(st.ready->observed_generation, 1);
  EXPECT_EQ(st.ready->last_transition_time, at(clock.now));
  EXPECT_EQ(st.observed_generation, 1);
  EXPECT_EQ(st.secret_name, kName);
  EXPECT_EQ(st.team_id, kTeam);
  EXPECT_EQ(st.revision, 1);
  EXPECT_EQ(st.token_fingerprint, controller::token_fingerprint(kToken1));
  EXPECT_TRUE(st.token_fingerprint.starts_with("sha256:"));
  EXPECT_EQ(st.token_fingerprint.size(), 7u + 16u);
  EXPECT_EQ(st.token_fingerprint.find(kToken1), std::string::npos);
  EXPECT_EQ(st.last_sync_time, at(clock.now));
  EXPECT_EQ(st.last_rotation_time, at(clock.now));
  EXPECT_EQ(st.next_refresh_time, at(clock.now + 1h));
  EXPECT_EQ(st.failed_attempts, 0);
  EXPECT_EQ(st.next_retry_time, "");
  EXPECT_EQ(st.last_handled_reset, "");

  ASSERT_EQ(events->all().size(), 1u);
  EXPECT_FALSE(events->all()[0].warning);
  EXPECT_EQ(events->all()[0].reason, "TokenSynced");
  EXPECT_EQ(events->all()[0].object, kKey);

  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 1h);
  EXPECT_EQ(cluster->count("write_status"), 1);
}

TEST_F(Reconciler, TargetNameKeyLabelsAndAnnotationsComeFromTheSpec) {
  Json t = token_json();
  t["spec"]["target"] = {{"name", "sysdig-monitor-token"},
                         {"tokenKey", "TOKEN"},
                         {"includeConnectionInfo", false},
                         {"labels", {{"team", "ops"}}},
                         {"annotations", {{"example.com/note", "hello"}}}};
  add_token(t);
  reconcile();
  EXPECT_EQ(cluster->secret(kNs, kName), nullptr);
  const Json* secret = cluster->secret(kNs, "sysdig-monitor-token");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(stored_value("TOKEN", "sysdig-monitor-token"), kToken1);
  EXPECT_EQ(secret->at("data").size(), 1u) << "no connection info keys";
  EXPECT_EQ(meta_entry(secret, "labels", "team"), "ops");
  EXPECT_EQ(meta_entry(secret, "labels", s(names::kOwnerLabel)), kName);
  EXPECT_EQ(meta_entry(secret, "annotations", "example.com/note"), "hello");
  EXPECT_EQ(status().secret_name, "sysdig-monitor-token");
}

TEST_F(Reconciler, SecondReconcileWithNothingDueFetchesAndWritesNothing) {
  add_token();
  reconcile();
  std::string rv = token_rv();
  std::string secret_version = secret_rv();
  auto before = status();
  cluster->clear_calls();
  events->clear();

  clock.advance(10min);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::UpToDate);
  EXPECT_EQ(monitoring->fetches(), 1);
  EXPECT_TRUE(cluster->calls().empty()) << "not even the API key is read";
  EXPECT_EQ(token_rv(), rv);
  EXPECT_EQ(secret_rv(), secret_version);
  EXPECT_EQ(status(), before);
  EXPECT_TRUE(events->all().empty());
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 50min);
}

TEST_F(Reconciler, RestartWithNothingDueFetchesNothing) {
  add_token();
  reconcile();
  cluster->clear_calls();
  clock.advance(20min);
  restart();
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::UpToDate);
  EXPECT_EQ(monitoring->fetches(), 1);
  EXPECT_EQ(cluster->writes(), 0);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 40min);
}

TEST_F(Reconciler, RefreshWhenDueFetchesAndLeavesAnUnchangedSecretAlone) {
  add_token();
  reconcile();
  std::string secret_version = secret_rv();
  auto first = clock.now;
  cluster->clear_calls();
  events->clear();

  clock.advance(1h);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Refreshed);
  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(cluster->writes(), 0) << "a refresh that finds the same token writes nothing";
  EXPECT_EQ(secret_rv(), secret_version);
  auto st = status();
  EXPECT_EQ(st.revision, 1);
  EXPECT_EQ(st.last_sync_time, at(first)) << "lastSyncTime records the last write";
  EXPECT_EQ(st.last_rotation_time, at(first));
  EXPECT_EQ(st.ready->last_transition_time, at(first));
  EXPECT_TRUE(events->all().empty());
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 1h);

  // The refresh is remembered: a look before the next one fetches nothing.
  clock.advance(10min);
  auto later = reconcile();
  EXPECT_EQ(later.outcome, Outcome::UpToDate);
  EXPECT_EQ(monitoring->fetches(), 2);
  ASSERT_TRUE(later.requeue_after);
  EXPECT_EQ(*later.requeue_after, 50min);

  // A new process knows only the record: the refresh it shows as passed is
  // made once more, and again writes nothing.
  restart();
  EXPECT_EQ(reconcile().outcome, Outcome::Refreshed);
  EXPECT_EQ(monitoring->fetches(), 3);
  EXPECT_EQ(reconcile().outcome, Outcome::UpToDate);
  EXPECT_EQ(monitoring->fetches(), 3);
  EXPECT_EQ(cluster->writes(), 0);
}

TEST_F(Reconciler, RefreshIntervalFromTheSpecIsUsed) {
  Json t = token_json();
  t["spec"]["refreshInterval"] = "1h30m";
  add_token(t);
  auto r = reconcile();
  EXPECT_EQ(status().next_refresh_time, at(clock.now + 90min));
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 90min);
  clock.advance(89min);
  reconcile();
  EXPECT_EQ(monitoring->fetches(), 1);
  clock.advance(1min);
  reconcile();
  EXPECT_EQ(monitoring->fetches(), 2);
}

TEST_F(Reconciler, RefreshJitterStaysWithinItsBound) {
  options.refresh_jitter = 0.1;
  restart();
  add_token();
  auto r = reconcile();
  auto next = parse_rfc3339(status().next_refresh_time);
  ASSERT_TRUE(next);
  EXPECT_GE(*next, clock.now + 1h);
  EXPECT_LE(*next, clock.now + 66min);
  ASSERT_TRUE(r.requeue_after);
  EXPECT_GE(*r.requeue_after, 1h);
  EXPECT_LE(*r.requeue_after, 66min);
}

TEST_F(Reconciler, RefreshThatFindsANewTokenRotates) {
  add_token();
  reconcile();
  events->clear();
  monitoring->set_token(kTeam, kApiKey, kToken2);  // reset elsewhere, no annotation
  clock.advance(1h);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Rotated);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  auto st = status();
  EXPECT_EQ(st.revision, 2);
  EXPECT_EQ(st.token_fingerprint, controller::token_fingerprint(kToken2));
  EXPECT_EQ(st.last_rotation_time, at(clock.now));
  EXPECT_EQ(stored_secret()->annotation(names::kRevisionAnnotation), "2");
  ASSERT_EQ(events->with_reason("TokenRotated").size(), 1u);
  EXPECT_EQ(events->all().size(), 1u);
}

TEST_F(Reconciler, ResetAnnotationWithANewTokenRotatesAtOnce) {
  add_token();
  reconcile();
  events->clear();
  cluster->clear_calls();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  clock.advance(5min);
  annotate_reset("2026-11-28T10:05:00Z");

  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Rotated);
  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);

  // The reset value the token answers is recorded in the same write.
  ASSERT_EQ(cluster->count("apply_secret"), 1);
  Json written;
  for (const auto& c : cluster->calls()) {
    if (c.verb == "apply_secret") written = Json::parse(c.body);
  }
  EXPECT_EQ(meta_entry(&written, "annotations", s(names::kResetHandledAnnotation)),
            "2026-11-28T10:05:00Z");
  EXPECT_EQ(controller::secret_value(written.dump(), "SYSDIG_MONITOR_API_TOKEN"), kToken2);
  EXPECT_EQ(stored_secret()->annotation(names::kResetHandledAnnotation), "2026-11-28T10:05:00Z");

  auto st = status();
  EXPECT_EQ(st.revision, 2);
  EXPECT_EQ(st.last_handled_reset, "2026-11-28T10:05:00Z");
  EXPECT_EQ(st.last_reset_outcome, "Rotated");
  EXPECT_EQ(st.last_rotation_time, at(clock.now));
  EXPECT_EQ(st.token_fingerprint, controller::token_fingerprint(kToken2));
  auto rotated = events->with_reason("TokenRotated");
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_FALSE(rotated[0].warning);
  EXPECT_NE(rotated[0].message.find("revision 2"), std::string::npos) << rotated[0].message;
}

TEST_F(Reconciler, ResetAnnotationRotatesOnceAcrossRestart) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  reconcile();
  ASSERT_EQ(monitoring->fetches(), 2);
  ASSERT_EQ(status().revision, 2);
  cluster->clear_calls();
  events->clear();

  // Sysdig would hand out yet another token: a second handling would show.
  monitoring->set_token(kTeam, kApiKey, kToken3);
  clock.advance(1min);
  auto again = reconcile();
  EXPECT_EQ(again.outcome, Outcome::UpToDate);
  restart();
  auto after_restart = reconcile();
  EXPECT_EQ(after_restart.outcome, Outcome::UpToDate);

  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(cluster->writes(), 0);
  EXPECT_TRUE(events->all().empty());
  EXPECT_EQ(status().revision, 2);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
}

TEST_F(Reconciler, ChangingTheResetValueRotatesAgain) {
  add_token();
  annotate_reset("r1");
  reconcile();  // the first sync handles r1 too
  EXPECT_EQ(status().last_handled_reset, "r1");
  EXPECT_EQ(status().revision, 1);

  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r2");
  reconcile();
  EXPECT_EQ(status().last_handled_reset, "r2");
  EXPECT_EQ(status().revision, 2);

  monitoring->set_token(kTeam, kApiKey, kToken3);
  annotate_reset("r3");
  reconcile();
  EXPECT_EQ(status().last_handled_reset, "r3");
  EXPECT_EQ(status().revision, 3);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken3);
  EXPECT_EQ(events->with_reason("TokenRotated").size(), 2u);
}

// The status write after the Secret write is lost (the process was killed
// between the two); the cache still holds the old status.
TEST_F(Reconciler, ResetIsNotHandledAgainWhenTheStatusWriteWasLost) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  cluster->fail_next("write_status",
                     api_error(kube::ApiErrorKind::Transport, "connection reset by peer"));
  auto lost = try_reconcile();
  ASSERT_FALSE(lost);
  ASSERT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  ASSERT_EQ(status().last_handled_reset, "") << "the status write was dropped";
  ASSERT_EQ(status().revision, 1);
  ASSERT_EQ(world->token(kKey)->status.last_handled_reset, "") << "the cache is stale too";
  events->clear();
  cluster->clear_calls();

  monitoring->set_token(kTeam, kApiKey, kToken3);
  auto r = reconcile();
  EXPECT_EQ(monitoring->fetches(), 2) << "the reset was handled again";
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  EXPECT_EQ(cluster->count("create_secret"), 0);
  EXPECT_TRUE(events->with_reason("TokenRotated").empty());
  // The status catches up with the Secret.
  auto st = status();
  EXPECT_EQ(st.last_handled_reset, "r1");
  EXPECT_EQ(st.revision, 2);
  EXPECT_EQ(st.token_fingerprint, controller::token_fingerprint(kToken2));
  EXPECT_FALSE(r.failed());
}

TEST_F(Reconciler, ResetIsNotHandledAgainAfterAKillBetweenSecretAndStatusWrites) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  cluster->fail_next("write_status", api_error(kube::ApiErrorKind::Transport, "killed"));
  ASSERT_FALSE(try_reconcile());
  events->clear();

  monitoring->set_token(kTeam, kApiKey, kToken3);
  clock.advance(2min);
  restart();
  reconcile();
  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  EXPECT_EQ(status().last_handled_reset, "r1");
  EXPECT_EQ(status().revision, 2);
  EXPECT_TRUE(events->with_reason("TokenRotated").empty());

  // And later reconciles stay quiet.
  cluster->clear_calls();
  clock.advance(1min);
  reconcile();
  EXPECT_EQ(cluster->writes(), 0);
  EXPECT_EQ(monitoring->fetches(), 2);
}

TEST_F(Reconciler, StatusTimesCatchUpWithTheSecretAfterALostStatusWrite) {
  add_token();
  reconcile();
  clock.advance(2min);
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  cluster->fail_next("write_status", api_error(kube::ApiErrorKind::Transport, "killed"));
  ASSERT_FALSE(try_reconcile());
  const std::string rotated_at = format_rfc3339(clock.now);
  ASSERT_EQ(stored_secret()->annotation(names::kSyncedAtAnnotation), rotated_at);

  clock.advance(1min);
  restart();
  reconcile();
  auto st = status();
  EXPECT_EQ(st.revision, 2);
  EXPECT_EQ(st.last_sync_time, rotated_at);
  EXPECT_EQ(st.last_rotation_time, rotated_at);
  auto next = parse_rfc3339(st.next_refresh_time);
  ASSERT_TRUE(next);
  EXPECT_GE(*next, *parse_rfc3339(rotated_at) + 1h) << st.next_refresh_time;
  EXPECT_EQ(monitoring->fetches(), 2);
}

TEST_F(Reconciler, AResetAsksSysdigAgainWhileOtherFetchesMayShare) {
  add_token();
  reconcile();
  ASSERT_EQ(monitoring->fetch_ages().size(), 1u);
  EXPECT_GT(monitoring->fetch_ages().back(), 0ms);
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  reconcile();
  ASSERT_EQ(monitoring->fetch_ages().size(), 2u);
  EXPECT_EQ(monitoring->fetch_ages().back(), 0ms);  // when the reset arrived is unknown
}

// In a storm of resets, a fetch that started after the resource's reset
// reached the operator answers it: the accepted age is the time since the
// version carrying the reset was received, never more.
TEST_F(Reconciler, AResetSharesOnlyFetchesStartedAfterItArrived) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  const auto arrived = std::chrono::steady_clock::now() - 5s;
  world->received(kKey, arrived);
  const auto before = std::chrono::steady_clock::now();
  reconcile();
  const auto after = std::chrono::steady_clock::now();
  ASSERT_EQ(monitoring->fetch_ages().size(), 2u);
  const auto age = monitoring->fetch_ages().back();
  EXPECT_GE(age, std::chrono::floor<std::chrono::milliseconds>(before - arrived));
  EXPECT_LE(age, after - arrived);
  EXPECT_EQ(status().last_reset_outcome, "Rotated");
}

// Resets of one fetch group (API key, instance, team) wait until no other
// arrived for reset_quiet, so a storm shares one request; another group
// waits for the storm too, but not past a quarter of reset_max_wait after its
// own reset, and no reset waits longer than reset_max_wait.
TEST_F(Reconciler, AResetWaitsWhileResetsOfItsFetchGroupKeepArriving) {
  add_token();
  add_token(token_json("web-team"));
  Json other = token_json("other-team");
  other["spec"]["teamID"] = kTeam + 1;
  add_token(other);
  monitoring->set_token(kTeam + 1, kApiKey, kToken1);
  for (const char* name : {kName, "web-team", "other-team"}) {
    reconcile(std::string(kNs) + "/" + name);
  }
  const int fetched = monitoring->fetches();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  for (const char* name : {kName, "web-team", "other-team"}) annotate_reset("r1", name);

  const auto now = std::chrono::steady_clock::now();
  auto arrive = [&](const std::string& name, std::chrono::steady_clock::duration ago) {
    const std::string key = std::string(kNs) + "/" + name;
    world->received(key, now - ago);
    reconciler->reset_arrived(*world->token_lookup()(key));
  };
  arrive(kName, 200ms);
  arrive("web-team", 0ms);     // the group's last arrival: ops-team waits for it
  arrive("other-team", 3s);    // alone, and waited for the storm long enough (2.5 s)

  auto held = reconcile();
  EXPECT_EQ(held.outcome, Outcome::Gathering);
  ASSERT_TRUE(held.requeue_after);
  // Until the group has been quiet for three times its spacing (200 ms).
  EXPECT_GT(*held.requeue_after, 0ms);
  EXPECT_LE(*held.requeue_after, 600ms);
  EXPECT_EQ(monitoring->fetches(), fetched);
  EXPECT_EQ(status().last_handled_reset, "");
  EXPECT_TRUE(events->with_reason("TokenRotated").empty());

  EXPECT_EQ(reconcile(std::string(kNs) + "/other-team").outcome, Outcome::Unchanged);
  EXPECT_EQ(monitoring->fetches(), fetched + 1);

  // A reset that has waited reset_max_wait goes on even while others arrive.
  world->received(kKey, now - options.reset_max_wait - 1s);
  EXPECT_EQ(reconcile().outcome, Outcome::Rotated);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
}

TEST_F(Reconciler, AResetIsNotHeldOnceItsFetchGroupIsQuiet) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  world->received(kKey, std::chrono::steady_clock::now() - options.reset_quiet - 10ms);
  reconciler->reset_arrived(*world->token_lookup()(kKey));
  EXPECT_EQ(reconcile().outcome, Outcome::Rotated);
  EXPECT_EQ(status().last_handled_reset, "r1");
}

// The Unchanged outcome and its polling window must survive a lost status
// write too: the Secret records the outcome with the handled value.
TEST_F(Reconciler, ResetPollingSurvivesALostStatusWrite) {
  add_token();
  reconcile();
  clock.advance(5min);
  annotate_reset("r1");  // Sysdig still hands out the old token
  cluster->fail_next("write_status", api_error(kube::ApiErrorKind::Transport, "killed"));
  ASSERT_FALSE(try_reconcile());
  ASSERT_EQ(stored_secret()->annotation(names::kResetHandledAnnotation), "r1");
  auto annotated = clock.now;

  // The user resets the token in the UI; the operator restarts.
  monitoring->set_token(kTeam, kApiKey, kToken2);
  clock.advance(30s);
  restart();
  auto r = reconcile();
  while (stored_value("SYSDIG_MONITOR_API_TOKEN") != kToken2 && r.requeue_after &&
         clock.now + *r.requeue_after <= annotated + 15min) {
    clock.now += std::chrono::duration_cast<std::chrono::seconds>(*r.requeue_after);
    r = reconcile();
  }
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2)
      << "no rotation within the 15 minute window";
  EXPECT_EQ(status().last_handled_reset, "r1");
  EXPECT_EQ(events->with_reason("ResetTokenUnchanged").size(), 1u) << "handled once";
}

TEST_F(Reconciler, ResetOutcomeInTheStatusFollowsTheSecretAfterALostStatusWrite) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  reconcile();
  ASSERT_EQ(status().last_reset_outcome, "Rotated");

  clock.advance(5min);
  annotate_reset("r2");  // same token: Unchanged
  cluster->fail_next("write_status", api_error(kube::ApiErrorKind::Transport, "killed"));
  ASSERT_FALSE(try_reconcile());
  ASSERT_EQ(stored_secret()->annotation(names::kResetOutcomeAnnotation), "Unchanged");
  restart();
  reconcile();
  auto st = status();
  EXPECT_EQ(st.last_handled_reset, "r2");
  EXPECT_EQ(st.last_reset_outcome, "Unchanged")
      << "the status says reset r2 rotated the token; it did not";
}

TEST_F(Reconciler, ResetWithTheSameTokenWarnsAndPollsForTheNewOne) {
  add_token();
  reconcile();
  events->clear();
  clock.advance(5min);
  annotate_reset("r1");  // annotated before the reset in the Monitoring UI

  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Unchanged);
  EXPECT_FALSE(r.failed());
  auto st = status();
  EXPECT_EQ(st.last_reset_outcome, "Unchanged");
  EXPECT_EQ(st.last_handled_reset, "r1");
  EXPECT_EQ(st.revision, 1);
  EXPECT_EQ(stored_secret()->annotation(names::kResetHandledAnnotation), "r1");
  auto warnings = events->with_reason("ResetTokenUnchanged");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(warnings[0].warning);
  EXPECT_NE(warnings[0].message.find("Monitoring UI"), std::string::npos) << warnings[0].message;
  EXPECT_TRUE(events->with_reason("TokenRotated").empty());
  EXPECT_TRUE(events->with_reason("SecretRestored").empty());
  ASSERT_TRUE(r.requeue_after);
  EXPECT_EQ(*r.requeue_after, 30s);

  // Too early for the next look.
  clock.advance(10s);
  auto early = reconcile();
  EXPECT_EQ(monitoring->fetches(), 2);
  ASSERT_TRUE(early.requeue_after);
  EXPECT_EQ(*early.requeue_after, 20s);

  // Still the old token: the Secret is left alone, the look repeats.
  clock.advance(20s);
  std::string secret_version = secret_rv();
  auto poll = reconcile();
  EXPECT_EQ(monitoring->fetches(), 3);
  EXPECT_EQ(secret_rv(), secret_version);
  ASSERT_TRUE(poll.requeue_after);
  EXPECT_EQ(*poll.requeue_after, 30s);
  EXPECT_EQ(events->with_reason("ResetTokenUnchanged").size(), 1u) << "warned once";

  // The user resets the token in the UI: the next poll rotates.
  monitoring->set_token(kTeam, kApiKey, kToken2);
  clock.advance(30s);
  auto rotated = reconcile();
  EXPECT_EQ(rotated.outcome, Outcome::Rotated);
  EXPECT_EQ(monitoring->fetches(), 4);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  st = status();
  EXPECT_EQ(st.revision, 2);
  EXPECT_EQ(st.last_reset_outcome, "Rotated");
  EXPECT_EQ(st.last_handled_reset, "r1");
  EXPECT_EQ(events->with_reason("TokenRotated").size(), 1u);

  // Polling is over.
  clock.advance(30s);
  auto after = reconcile();
  EXPECT_EQ(after.outcome, Outcome::UpToDate);
  EXPECT_EQ(monitoring->fetches(), 4);
  ASSERT_TRUE(after.requeue_after);
  EXPECT_GT(*after.requeue_after, 30min);
}

TEST_F(Reconciler, ResetPollingStopsAfterFifteenMinutes) {
  add_token();
  reconcile();
  annotate_reset("r1");
  auto r = reconcile();
  ASSERT_EQ(r.outcome, Outcome::Unchanged);
  auto window_start = clock.now;
  int polls = 0;
  // Follow the requeues as the work queue would.
  while (r.requeue_after && *r.requeue_after <= 30s && clock.now - window_start < 20min) {
    clock.now += *r.requeue_after;
    r = reconcile();
    ++polls;
  }
  EXPECT_GE(polls, 29);
  EXPECT_LE(polls, 31);
  EXPECT_LE(clock.now - window_start, 15min + 30s);
  EXPECT_EQ(monitoring->fetches(), 2 + polls - 1) << "the last reconcile, past the window, only "
                                                     "schedules the refresh";
  ASSERT_TRUE(r.requeue_after);
  EXPECT_GT(*r.requeue_after, 30min);
  EXPECT_EQ(status().revision, 1);
  EXPECT_EQ(events->with_reason("ResetTokenUnchanged").size(), 1u);
}

TEST_F(Reconciler, ResetPollingSurvivesARestart) {
  add_token();
  reconcile();
  annotate_reset("r1");
  ASSERT_EQ(reconcile().outcome, Outcome::Unchanged);
  monitoring->set_token(kTeam, kApiKey, kToken2);
  clock.advance(3min);
  restart();
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Rotated);
  EXPECT_EQ(status().revision, 2);
  EXPECT_EQ(events->with_reason("ResetTokenUnchanged").size(), 1u);
}

TEST_F(Reconciler, DeletedSecretIsRecreatedWithTheSameRevision) {
  add_token();
  reconcile();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  reconcile();
  ASSERT_EQ(status().revision, 2);
  events->clear();

  cluster->remove_secret(kNs, kName);
  sync();
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Restored);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  auto secret = stored_secret();
  ASSERT_TRUE(secret);
  EXPECT_TRUE(secret->owned_by(token_uid()));
  EXPECT_EQ(secret->annotation(names::kRevisionAnnotation), "2");
  EXPECT_EQ(secret->annotation(names::kResetHandledAnnotation), "r1");
  EXPECT_EQ(status().revision, 2);
  ASSERT_EQ(events->with_reason("SecretRestored").size(), 1u);
  EXPECT_TRUE(events->with_reason("TokenRotated").empty());
  EXPECT_TRUE(events->with_reason("TokenSynced").empty());
  EXPECT_EQ(status().last_handled_reset, "r1");
}

TEST_F(Reconciler, EditedTokenIsFetchedAgainAndRestored) {
  add_token();
  reconcile();
  events->clear();
  cluster->edit_secret(kNs, kName, [](Json& s) {
    s["data"]["SYSDIG_MONITOR_API_TOKEN"] = base64_encode("tampered");
  });
  sync();
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Restored);
  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_EQ(status().revision, 1);
  EXPECT_EQ(events->with_reason("SecretRestored").size(), 1u);
  EXPECT_TRUE(events->with_reason("TokenRotated").empty());
}

TEST_F(Reconciler, RemovedTokenKeyIsFetchedAgainAndRestored) {
  add_token();
  reconcile();
  cluster->edit_secret(kNs, kName, [](Json& s) { s["data"].erase("SYSDIG_MONITOR_API_TOKEN"); });
  sync();
  reconcile();
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_EQ(events->with_reason("SecretRestored").size(), 1u);
}

TEST_F(Reconciler, EditedConnectionInfoIsRestoredWithoutAFetch) {
  add_token();
  reconcile();
  events->clear();
  cluster->edit_secret(kNs, kName, [](Json& s) {
    s["data"]["SYSDIG_MONITOR_URL"] = base64_encode("https://evil.example.com");
  });
  sync();
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Restored);
  EXPECT_EQ(monitoring->fetches(), 1) << "the token in the Secret is still the one written";
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_URL"), kEndpoint);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_EQ(events->with_reason("SecretRestored").size(), 1u);
}

TEST_F(Reconciler, StrippedManagedByLabelIsRestored) {
  add_token();
  reconcile();
  events->clear();
  cluster->edit_secret(kNs, kName, [](Json& s) {
    s["metadata"]["labels"].erase(std::string(controller::kManagedByLabel));
  });
  sync();  // the Secret leaves the label-selected cache
  ASSERT_EQ(world->secret(kNs, kName), nullptr);
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome;
  EXPECT_EQ(stored_secret()->label(names::kManagedByLabel), "sysdig-token-operator");
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_EQ(status().revision, 1);
  EXPECT_EQ(ready_status(), "True");
  EXPECT_EQ(events->with_reason("SecretRestored").size(), 1u);
}

TEST_F(Reconciler, StrippedOwnerLabelIsRestored) {
  add_token();
  reconcile();
  events->clear();
  cluster->edit_secret(kNs, kName, [](Json& s) {
    s["metadata"]["labels"].erase(std::string(controller::kOwnerLabel));
  });
  sync();
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome;
  EXPECT_EQ(stored_secret()->label(names::kOwnerLabel), kName);
  EXPECT_EQ(ready_status(), "True");
  EXPECT_EQ(events->with_reason("SecretRestored").size(), 1u);
}

TEST_F(Reconciler, StrippedLabelsAreRestored) {
  add_token();
  reconcile();
  events->clear();
  cluster->edit_secret(kNs, kName, [](Json& s) { s["metadata"].erase("labels"); });
  sync();
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome;
  EXPECT_EQ(stored_secret()->label(names::kManagedByLabel), "sysdig-token-operator");
  EXPECT_EQ(stored_secret()->label(names::kOwnerLabel), kName);
  EXPECT_EQ(events->with_reason("SecretRestored").size(), 1u);
}

TEST_F(Reconciler, StrippedCustomLabelIsRestoredWithoutAFetch) {
  Json t = token_json();
  t["spec"]["target"] = {{"labels", {{"team", "ops"}}}};
  add_token(t);
  reconcile();
  cluster->edit_secret(kNs, kName, [](Json& s) { s["metadata"]["labels"].erase("team"); });
  sync();
  clock.advance(1min);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Restored);
  EXPECT_EQ(monitoring->fetches(), 1);
  EXPECT_EQ(stored_secret()->label("team"), "ops");
}

TEST_F(Reconciler, TurningOffConnectionInfoRemovesItsKeys) {
  add_token();
  reconcile();
  ASSERT_TRUE(stored_value("SYSDIG_MONITOR_URL"));
  clock.advance(1min);
  edit_spec([](Json& spec) { spec["target"] = {{"includeConnectionInfo", false}}; });
  auto r = reconcile();
  EXPECT_FALSE(r.failed()) << r.outcome;
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);
  EXPECT_FALSE(stored_value("SYSDIG_MONITOR_URL"));
  EXPECT_FALSE(stored_value("SYSDIG_MONITOR_TEAM_ID"));
  EXPECT_FALSE(stored_value("IBM_INSTANCE_ID"));
}

TEST_F(Reconciler, LabelRemovedFromTheSpecIsRemovedFromTheSecret) {
  Json t = token_json();
  t["spec"]["target"] = {{"labels", {{"team", "ops"}}}};
  add_token(t);
  reconcile();
  ASSERT_EQ(stored_secret()->label("team"), "ops");
  clock.advance(1min);
  edit_spec([](Json& spec) { spec["target"].erase("labels"); });
  reconcile();
  EXPECT_EQ(stored_secret()->label("team"), "");
  EXPECT_EQ(stored_secret()->label(names::kOwnerLabel), kName);
}

TEST_F(Reconciler, ChangedTokenKeyMovesTheToken) {
  add_token();
  reconcile();
  clock.advance(1min);
  edit_spec([](Json& spec) { spec["target"] = {{"tokenKey", "TOKEN"}}; });
  reconcile();
  EXPECT_EQ(stored_value("TOKEN"), kToken1);
  EXPECT_FALSE(stored_value("SYSDIG_MONITOR_API_TOKEN"));
  EXPECT_EQ(status().revision, 1);
}

TEST_F(Reconciler, ForeignLabelsAndAnnotationsOnTheSecretAreLeftAlone) {
  add_token();
  reconcile();
  cluster->edit_secret(kNs, kName, [](Json& s) {
    s["metadata"]["labels"]["someone.else/label"] = "x";
    s["metadata"]["annotations"]["someone.else/note"] = "y";
  });
  sync();
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  reconcile();
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  EXPECT_EQ(meta_entry(cluster->secret(kNs, kName), "labels", "someone.else/label"), "x");
  EXPECT_EQ(meta_entry(cluster->secret(kNs, kName), "annotations", "someone.else/note"), "y");
}

TEST_F(Reconciler, UpdatesCarryTheResourceVersionThatWasChecked) {
  add_token();
  reconcile();
  // Someone writes the Secret; the watch has not delivered it yet.
  cluster->edit_secret(kNs, kName, [](Json& s) { s["metadata"]["labels"]["x"] = "y"; });
  monitoring->set_token(kTeam, kApiKey, kToken2);
  clock.advance(1h);
  auto r = try_reconcile();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, kube::ApiErrorKind::Conflict);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1) << "the stale write was refused";
  EXPECT_EQ(status().revision, 1);

  sync();
  auto retried = reconcile();
  EXPECT_EQ(retried.outcome, Outcome::Rotated);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  EXPECT_EQ(meta_entry(cluster->secret(kNs, kName), "labels", "x"), "y");
}

TEST_F(Reconciler, StatusIsNeverWrittenWhenIdentical) {
  add_token();
  reconcile();
  std::string rv = token_rv();
  for (int i = 0; i < 5; ++i) {
    clock.advance(5min);
    reconcile();
  }
  restart();
  reconcile();
  EXPECT_EQ(cluster->count("write_status"), 1);
  EXPECT_EQ(token_rv(), rv);
}

// A day of the work queue following requeue_after: one fetch per hour,
// the Secret written once, the status once per refresh.
TEST_F(Reconciler, ADayOfUnchangedRefreshesWritesOnlyTheFirstSync) {
  add_token();
  auto day_end = clock.now + 24h;
  int reconciles = 0;
  while (clock.now < day_end) {
    auto r = reconcile();
    ++reconciles;
    ASSERT_TRUE(r.requeue_after);
    ASSERT_GT(*r.requeue_after, 0ms);
    clock.now += std::chrono::duration_cast<std::chrono::seconds>(*r.requeue_after);
    ASSERT_LT(reconciles, 100);
  }
  EXPECT_EQ(monitoring->fetches(), 24);
  EXPECT_EQ(cluster->count("create_secret"), 1);
  EXPECT_EQ(cluster->count("apply_secret"), 0);
  EXPECT_EQ(cluster->count("write_status"), 1) << "refreshes that find the same token write nothing";
  EXPECT_EQ(status().revision, 1);
  EXPECT_EQ(events->all().size(), 1u);
}

TEST_F(Reconciler, TeamNameResolvesThroughFindTeamId) {
  monitoring->set_team("Ops", kTeam);
  Json t = token_json();
  t["spec"].erase("teamID");
  t["spec"]["teamName"] = "Ops";
  add_token(t);
  auto r = reconcile();
  EXPECT_EQ(r.outcome, Outcome::Synced);
  ASSERT_EQ(monitoring->finds(), 1);
  EXPECT_EQ(monitoring->team_names()[0], "Ops");
  ASSERT_EQ(monitoring->fetches(), 1);
  EXPECT_EQ(monitoring->fetched()[0].team_id, kTeam);
  EXPECT_EQ(status().team_id, kTeam);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_TEAM_ID"), "26055");
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken1);

  // Between refreshes the id comes from the status: no lookups.
  clock.advance(10min);
  reconcile();
  EXPECT_EQ(monitoring->finds(), 1);
  EXPECT_EQ(cluster->writes(), 2);
}

TEST_F(Reconciler, SpecChangeFetchesAtOnce) {
  add_token();
  reconcile();
  monitoring->set_token(4242, kApiKey, kToken2);
  clock.advance(1min);
  edit_spec([](Json& spec) { spec["teamID"] = 4242; });
  auto r = reconcile();
  EXPECT_EQ(monitoring->fetches(), 2);
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_TEAM_ID"), "4242");
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  EXPECT_EQ(status().observed_generation, 2);
  EXPECT_EQ(status().team_id, 4242);
  EXPECT_FALSE(r.failed());
}

TEST_F(Reconciler, ChangedApiKeyIsUsedAtTheNextRefresh) {
  add_token();
  reconcile();
  cluster->put_api_key(kNs, "ibm-api-key", "apikey", "ibm-api-key-SECRET-0002");
  monitoring->set_token(kTeam, "ibm-api-key-SECRET-0002", kToken1);
  clock.advance(1h);
  reconcile();
  ASSERT_EQ(monitoring->api_keys().size(), 2u);
  EXPECT_EQ(monitoring->api_keys()[1], "ibm-api-key-SECRET-0002");
}

TEST_F(Reconciler, DeletedOrDeletingSysdigTokenIsLeftAlone) {
  auto r = reconcile("monitoring/nobody");
  EXPECT_EQ(r.outcome, Outcome::Deleted);
  Json t = token_json();
  t["metadata"]["deletionTimestamp"] = "2026-11-28T09:00:00Z";
  add_token(t);
  auto deleting = reconcile();
  EXPECT_EQ(deleting.outcome, Outcome::Deleted);
  EXPECT_TRUE(cluster->calls().empty());
  EXPECT_EQ(monitoring->fetches(), 0);
  EXPECT_TRUE(events->all().empty());
}

}  // namespace
}  // namespace sto::controller_test
