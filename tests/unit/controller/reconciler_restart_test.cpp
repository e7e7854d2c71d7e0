// What a rotation does beyond the Secret: spec.rolloutRestartTargets (a
// restart per new revision, debounced per workload, never for a first sync,
// drift repair, an unchanged refresh or an operator restart; a missing
// target reported while the token is still written), spec.target.template
// (rendered values, their drift without a fetch) and spec.service
// WorkloadProtection.
#include "common/encoding.h"
#include "controller/restarts.h"
#include "reconciler_fixture.h"

namespace sto::controller_test {
namespace {

constexpr const char* kSecureToken = "SYSDIG_SECURE_API_TOKEN";

class Restarts : public Reconciler {
 protected:
  Restarts() {
    until_idle = false;
    options.restart_debounce = 200ms;
    options.requeue = [this](const std::string& key) { requeued.push_back(key); };
    restart();
    cluster->put_workload("Deployment", kNs, "api");
    cluster->put_workload("StatefulSet", kNs, "db");
  }

  static Json with_targets(Json token, Json targets) {
    token["spec"]["rolloutRestartTargets"] = std::move(targets);
    return token;
  }
  static Json api_and_db() {
    return Json::array({{{"kind", "Deployment"}, {"name", "api"}},
                        {{"kind", "StatefulSet"}, {"name", "db"}}});
  }

  // Lets waiting restarts run (their debounce is real time).
  void let_restarts_run() {
    io.restart();
    io.run_for(600ms);
  }

  std::size_t restarts_of(const std::string& id) const {
    auto it = cluster->restarts().find(id);
    return it == cluster->restarts().end() ? 0 : it->second.size();
  }

  // A new token handed out through the reset annotation, reconciled.
  void rotate(const std::string& token, const std::string& reset,
              const std::string& name = kName) {
    monitoring->set_token(kTeam, kApiKey, token);
    annotate_reset(reset, name);
    EXPECT_EQ(reconcile(std::string(kNs) + "/" + name).outcome, Outcome::Rotated);
  }

  std::vector<std::string> requeued;
};

TEST_F(Restarts, FirstSyncRecordsTheRevisionAndRestartsNothing) {
  add_token(with_targets(token_json(), api_and_db()));
  EXPECT_EQ(reconcile().outcome, Outcome::Synced);
  let_restarts_run();
  EXPECT_EQ(cluster->count("restart_workload"), 0);
  EXPECT_EQ(status().restarted_revision, 1);
  EXPECT_EQ(status().last_restart_time, "");
}

TEST_F(Restarts, ANewTokenRestartsEachTargetOnceAndRecordsIt) {
  add_token(with_targets(token_json(), api_and_db()));
  reconcile();
  events->clear();
  clock.advance(5min);
  rotate(kToken2, "r1");
  EXPECT_EQ(cluster->count("restart_workload"), 0) << "debounced, not at once";
  let_restarts_run();
  EXPECT_EQ(restarts_of("Deployment/monitoring/api"), 1u);
  EXPECT_EQ(restarts_of("StatefulSet/monitoring/db"), 1u);
  EXPECT_EQ(cluster->restarts().at("Deployment/monitoring/api")[0], at(clock.now));
  ASSERT_EQ(requeued, std::vector<std::string>{kKey});

  reconcile();
  auto st = status();
  EXPECT_EQ(st.restarted_revision, 2);
  EXPECT_EQ(st.last_restart_time, at(clock.now));
  ASSERT_TRUE(st.restarted);
  EXPECT_EQ(st.restarted->type, "WorkloadsRestarted");
  EXPECT_EQ(st.restarted->status, "True");
  EXPECT_EQ(st.restarted->reason, "RolloutRestarted");
  EXPECT_NE(st.restarted->message.find("Deployment api"), std::string::npos);
  EXPECT_NE(st.restarted->message.find("revision 2"), std::string::npos);
  EXPECT_EQ(events->with_reason("RolloutRestarted").size(), 1u);

  // Looked at again, and after an operator restart: nothing more.
  reconcile();
  restart();
  reconcile();
  let_restarts_run();
  EXPECT_EQ(cluster->count("restart_workload"), 2);
}

TEST_F(Restarts, DriftRepairAndAnUnchangedRefreshRestartNothing) {
  add_token(with_targets(token_json(), api_and_db()));
  reconcile();
  cluster->remove_secret(kNs, kName);
  sync();
  EXPECT_EQ(reconcile().outcome, Outcome::Restored);
  clock.advance(2h);
  EXPECT_EQ(reconcile().outcome, Outcome::Refreshed);
  let_restarts_run();
  EXPECT_EQ(cluster->count("restart_workload"), 0);
  EXPECT_EQ(status().revision, 1);
}

TEST_F(Restarts, ARestartLostToAnOperatorStopIsMadeOnceAfterTheNextStart) {
  add_token(with_targets(token_json(), api_and_db()));
  reconcile();
  rotate(kToken2, "r1");
  reconciler->stop_restarts();
  let_restarts_run();
  EXPECT_EQ(cluster->count("restart_workload"), 0);
  EXPECT_EQ(status().restarted_revision, 1);

  restart();
  reconcile();
  let_restarts_run();
  EXPECT_EQ(restarts_of("Deployment/monitoring/api"), 1u);
  reconcile();
  EXPECT_EQ(status().restarted_revision, 2);
  restart();
  reconcile();
  let_restarts_run();
  EXPECT_EQ(restarts_of("Deployment/monitoring/api"), 1u);
}

TEST_F(Restarts, TokensThatRotateTogetherRestartAWorkloadOnce) {
  const Json api = Json::array({{{"kind", "Deployment"}, {"name", "api"}}});
  for (int i = 0; i < 5; ++i) {
    add_token(with_targets(token_json("t" + std::to_string(i)), api));
    reconcile(std::string(kNs) + "/t" + std::to_string(i));
  }
  monitoring->set_token(kTeam, kApiKey, kToken2);
  for (int i = 0; i < 5; ++i) {
    annotate_reset("r1", "t" + std::to_string(i));
    reconcile(std::string(kNs) + "/t" + std::to_string(i));
  }
  let_restarts_run();
  EXPECT_EQ(restarts_of("Deployment/monitoring/api"), 1u);
  EXPECT_EQ(requeued.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    reconcile(std::string(kNs) + "/t" + std::to_string(i));
    EXPECT_EQ(status("t" + std::to_string(i)).restarted_revision, 2);
  }
}

TEST_F(Restarts, AMissingTargetIsReportedAndTheTokenStillWritten) {
  add_token(with_targets(token_json(), Json::array({{{"kind", "Deployment"}, {"name", "api"}},
                                                    {{"kind", "Deployment"}, {"name", "gone"}},
                                                    {{"kind", "CronJob"}, {"name", "nightly"}}})));
  reconcile();
  events->clear();
  rotate(kToken2, "r1");
  EXPECT_EQ(stored_value("SYSDIG_MONITOR_API_TOKEN"), kToken2);
  let_restarts_run();
  EXPECT_EQ(restarts_of("Deployment/monitoring/api"), 1u);
  reconcile();
  auto st = status();
  EXPECT_EQ(st.ready->status, "True");
  ASSERT_TRUE(st.restarted);
  EXPECT_EQ(st.restarted->status, "False");
  EXPECT_EQ(st.restarted->reason, "RestartFailed");
  EXPECT_NE(st.restarted->message.find("Deployment gone not found"), std::string::npos)
      << st.restarted->message;
  EXPECT_NE(st.restarted->message.find("CronJob nightly"), std::string::npos);
  EXPECT_EQ(st.restarted_revision, 2) << "reported once, not retried for ever";
  auto warnings = events->with_reason("RestartFailed");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_TRUE(warnings[0].warning);
}

TEST_F(Restarts, AFailingApiServerIsRetriedBeforeItIsReported) {
  add_token(with_targets(token_json(), Json::array({{{"kind", "Deployment"}, {"name", "api"}}})));
  reconcile();
  cluster->fail_next("restart_workload", api_error(kube::ApiErrorKind::ServerError, "etcd"));
  rotate(kToken2, "r1");
  io.restart();
  io.run_for(1500ms);
  EXPECT_EQ(cluster->count("restart_workload"), 2);
  EXPECT_EQ(restarts_of("Deployment/monitoring/api"), 1u);
  reconcile();
  EXPECT_EQ(status().restarted->status, "True");
}

TEST_F(Restarts, TargetsRemovedClearTheRecord) {
  add_token(with_targets(token_json(), api_and_db()));
  reconcile();
  EXPECT_EQ(status().restarted_revision, 1);
  edit_spec([](Json& spec) { spec.erase("rolloutRestartTargets"); });
  reconcile();
  EXPECT_EQ(status().restarted_revision, 0);
  EXPECT_FALSE(status().restarted);
}

// spec.target.template.data
TEST_F(Reconciler, TemplateDataIsRenderedWithTheTokenAndConnectionInfo) {
  Json t = token_json();
  t["spec"]["target"]["template"]["data"] = {
      {"netrc", "machine us-south.monitoring.cloud.ibm.com password ${token}"},
      {"datasource.yaml", "url: ${url}\nteam: ${teamID}\ninstance: ${instanceID}\n"
                          "region: ${region}\nliteral: $${token} and $5"}};
  add_token(t);
  EXPECT_EQ(reconcile().outcome, Outcome::Synced);
  EXPECT_EQ(stored_value("netrc"), "machine us-south.monitoring.cloud.ibm.com password " + kToken1);
  EXPECT_EQ(stored_value("datasource.yaml"),
            std::string("url: ") + kEndpoint + "\nteam: 26055\ninstance: " + kGuid +
                "\nregion: us-south\nliteral: ${token} and $5");

  // A rotation renders it again.
  monitoring->set_token(kTeam, kApiKey, kToken2);
  annotate_reset("r1");
  EXPECT_EQ(reconcile().outcome, Outcome::Rotated);
  EXPECT_EQ(stored_value("netrc"), "machine us-south.monitoring.cloud.ibm.com password " + kToken2);
}

TEST_F(Reconciler, AnEditedRenderedValueIsRestoredWithoutAFetch) {
  Json t = token_json();
  t["spec"]["target"]["template"]["data"] = {{"netrc", "password ${token}"}};
  add_token(t);
  reconcile();
  EXPECT_EQ(reconcile().outcome, Outcome::UpToDate);
  cluster->edit_secret(kNs, kName, [](Json& s) { s["data"]["netrc"] = base64_encode("edited"); });
  sync();
  EXPECT_EQ(reconcile().outcome, Outcome::Restored);
  EXPECT_EQ(stored_value("netrc"), "password " + kToken1);
  EXPECT_EQ(monitoring->fetches(), 1);
  EXPECT_EQ(reconcile().outcome, Outcome::UpToDate);

  // A changed template is rendered again.
  edit_spec([](Json& spec) { spec["target"]["template"]["data"]["netrc"] = "pw=${token}"; });
  reconcile();
  EXPECT_EQ(stored_value("netrc"), "pw=" + kToken1);
  EXPECT_EQ(reconcile().outcome, Outcome::UpToDate);
}

TEST_F(Reconciler, AnUnknownPlaceholderIsInvalidSpecNamingTheKey) {
  Json t = token_json();
  t["spec"]["target"]["template"]["data"] = {{"grafana.yaml", "key: ${apikey}"}};
  add_token(t);
  auto r = reconcile();
  EXPECT_EQ(r.reason, Reason::InvalidSpec);
  auto st = status();
  EXPECT_NE(st.ready->message.find("grafana.yaml"), std::string::npos) << st.ready->message;
  EXPECT_NE(st.ready->message.find("${apikey}"), std::string::npos) << st.ready->message;
  EXPECT_EQ(monitoring->fetches(), 0);
}

TEST_F(Reconciler, WorkloadProtectionUsesItsHostsAndKeys) {
  Json t = token_json();
  t["spec"]["service"] = "WorkloadProtection";
  t["spec"]["region"] = "eu-de";
  add_token(t);
  EXPECT_EQ(reconcile().outcome, Outcome::Synced);
  ASSERT_EQ(monitoring->fetched().size(), 1u);
  EXPECT_EQ(monitoring->fetched()[0].instance.endpoint,
            "https://eu-de.security-compliance-secure.cloud.ibm.com");
  EXPECT_EQ(stored_value(kSecureToken), kToken1);
  EXPECT_EQ(stored_value("SYSDIG_SECURE_URL"),
            "https://eu-de.security-compliance-secure.cloud.ibm.com");
  EXPECT_EQ(stored_value("SYSDIG_SECURE_TEAM_ID"), "26055");
  EXPECT_FALSE(stored_value("SYSDIG_MONITOR_API_TOKEN"));
}

TEST_F(Reconciler, WorkloadProtectionRefusesARegionItIsNotIn) {
  Json t = token_json();
  t["spec"]["service"] = "WorkloadProtection";
  t["spec"]["region"] = "ca-mon";
  add_token(t);
  EXPECT_EQ(reconcile().reason, Reason::InvalidSpec);
  EXPECT_NE(status().ready->message.find("WorkloadProtection"), std::string::npos);
}

}  // namespace
}  // namespace sto::controller_test
