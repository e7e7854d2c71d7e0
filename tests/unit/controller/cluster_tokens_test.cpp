// ClusterSysdigToken: its projection and selection, the queue keys of its
// members and summary, a member reconciled as a SysdigToken of its namespace
// (API key from the named namespace, Secret labelled and owned as the
// ClusterSysdigToken's, status kept in memory, never written), ownership
// conflicts with namespaced SysdigTokens on both sides, and the summary.
#include <algorithm>
#include <map>

#include "controller/cluster_tokens.h"
#include "controller/kube_gateway.h"
#include "reconciler_fixture.h"

namespace sto::controller_test {
namespace {

using controller::ClusterSysdigToken;
using controller::ClusterSysdigTokenStatus;
using controller::LabelSelector;
using controller::MemberView;

std::string s(std::string_view v) { return std::string(v); }

Json cluster_json(Json selection = Json{{"namespaceSelector",
                                         {{"matchLabels", {{"sysdig-team", "ops"}}}}}}) {
  Json spec = {{"instanceID", kGuid},
               {"teamID", kTeam},
               {"region", "us-south"},
               {"apiKeySecretRef", {{"name", "ibm-api-key"}, {"namespace", "ibm-keys"}}}};
  for (auto& [k, v] : selection.items()) spec[k] = v;
  return Json{{"apiVersion", "monitoring.ibm.com/v1alpha1"},
              {"kind", "ClusterSysdigToken"},
              {"metadata",
               {{"name", "ops-monitoring"},
                {"uid", "csdt-uid-1"},
                {"resourceVersion", "7"},
                {"generation", 3},
                {"annotations", {{s(controller::kResetAnnotation), "r1"}}}}},
              {"spec", spec}};
}

std::shared_ptr<const ClusterSysdigToken> project(const Json& j) {
  auto p = controller::project_cluster_sysdig_token(j.dump());
  if (!p) {
    ADD_FAILURE() << p.error();
    return nullptr;
  }
  return std::static_pointer_cast<const ClusterSysdigToken>(p.value());
}

TEST(ClusterKeys, MemberAndSummaryKeysRoundTrip) {
  auto m = controller::parse_cluster_key(controller::member_key("team-a", "ops"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->member());
  EXPECT_EQ(m->ns, "team-a");
  EXPECT_EQ(m->name, "ops");
  auto sum = controller::parse_cluster_key(controller::summary_key("ops"));
  ASSERT_TRUE(sum);
  EXPECT_FALSE(sum->member());
  EXPECT_EQ(sum->name, "ops");
  for (const char* bad : {"team-a/ops", "ops", "csdt:", "csdt:/ops", "csdt:team-a/"}) {
    EXPECT_FALSE(controller::parse_cluster_key(bad)) << bad;
  }
}

TEST(LabelSelectorMatch, FollowsKubernetesSemantics) {
  std::map<std::string, std::string> labels{{"team", "ops"}, {"env", "prod"}};
  LabelSelector all;
  EXPECT_TRUE(all.matches(labels));
  EXPECT_TRUE(all.matches({}));
  LabelSelector by_label{{{"team", "ops"}}, {}};
  EXPECT_TRUE(by_label.matches(labels));
  EXPECT_FALSE(by_label.matches({{"team", "dev"}}));
  LabelSelector in{{}, {{"env", "In", {"prod", "stage"}}}};
  EXPECT_TRUE(in.matches(labels));
  EXPECT_FALSE(in.matches({{"env", "dev"}}));
  EXPECT_FALSE(in.matches({}));
  LabelSelector not_in{{}, {{"env", "NotIn", {"prod"}}}};
  EXPECT_FALSE(not_in.matches(labels));
  EXPECT_TRUE(not_in.matches({}));
  LabelSelector exists{{}, {{"team", "Exists", {}}}};
  EXPECT_TRUE(exists.matches(labels));
  EXPECT_FALSE(exists.matches({{"env", "prod"}}));
  LabelSelector absent{{}, {{"team", "DoesNotExist", {}}}};
  EXPECT_FALSE(absent.matches(labels));
  EXPECT_TRUE(absent.matches({}));
  LabelSelector both{{{"team", "ops"}}, {{"env", "In", {"dev"}}}};
  EXPECT_FALSE(both.matches(labels));
  LabelSelector unknown{{}, {{"team", "Like", {"ops"}}}};
  EXPECT_FALSE(unknown.matches(labels));
}

TEST(ClusterProjection, ReadsSpecSelectionAndReset) {
  auto t = project(cluster_json(Json{{"namespaceSelector",
                                      {{"matchLabels", {{"sysdig-team", "ops"}}},
                                       {"matchExpressions",
                                        Json::array({{{"key", "env"},
                                                      {"operator", "In"},
                                                      {"values", {"prod", "stage"}}}})}}}}));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->spec_error, "");
  EXPECT_EQ(t->meta.name, "ops-monitoring");
  EXPECT_EQ(t->meta.ns, "");
  EXPECT_EQ(t->key(), "ops-monitoring");
  EXPECT_EQ(t->reset_value, "r1");
  EXPECT_EQ(t->spec.api_key_secret_namespace, "ibm-keys");
  EXPECT_EQ(t->spec.team_id, kTeam);
  ASSERT_TRUE(t->namespace_selector);
  EXPECT_TRUE(t->selects("a", {{"sysdig-team", "ops"}, {"env", "prod"}}));
  EXPECT_FALSE(t->selects("a", {{"sysdig-team", "ops"}, {"env", "dev"}}));
  EXPECT_FALSE(t->selects("a", {{"env", "prod"}}));

  auto listed = project(cluster_json(Json{{"namespaces", {"team-a", "team-b"}}}));
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->spec_error, "");
  EXPECT_TRUE(listed->selects("team-a", {}));
  EXPECT_FALSE(listed->selects("team-c", {{"sysdig-team", "ops"}}));
}

TEST(ClusterProjection, RefusesSelectionsItCannotActOn) {
  struct Case {
    Json selection;
    std::string error;
  } cases[] = {
      {Json::object(), "set exactly one of spec.namespaceSelector or spec.namespaces"},
      {Json{{"namespaces", {"a"}}, {"namespaceSelector", Json::object()}},
       "set exactly one of spec.namespaceSelector or spec.namespaces"},
      {Json{{"namespaces", {"Not_A_Namespace"}}}, "is not a namespace name"},
      {Json{{"namespaceSelector",
             {{"matchExpressions", Json::array({{{"key", "env"}, {"operator", "In"}}})}}}},
       "operator In needs values"},
      {Json{{"namespaceSelector",
             {{"matchExpressions",
               Json::array({{{"key", "env"}, {"operator", "Exists"}, {"values", {"x"}}}})}}}},
       "operator Exists takes no values"},
      {Json{{"namespaceSelector",
             {{"matchExpressions", Json::array({{{"key", "env"}, {"operator", "Like"}}})}}}},
       "operator must be In, NotIn, Exists or DoesNotExist"},
      {Json{{"namespaces", {"a"}}, {"trustedProfile", {{"id", "Profile-1"}}}},
       "spec.trustedProfile is not supported by a ClusterSysdigToken"},
  };
  for (const auto& c : cases) {
    auto t = project(cluster_json(c.selection));
    ASSERT_TRUE(t);
    EXPECT_NE(t->spec_error.find(c.error), std::string::npos)
        << c.selection.dump() << " gave \"" << t->spec_error << "\"";
    EXPECT_FALSE(t->selects("a", {}));
  }
  // Malformed JSON is an error, never a crash.
  EXPECT_FALSE(controller::project_cluster_sysdig_token("{\"metadata\":"));
}

TEST(ClusterProjection, MemberNeedsTheApiKeyNamespace) {
  Json j = cluster_json();
  j["spec"]["apiKeySecretRef"].erase("namespace");
  auto t = project(j);
  ASSERT_TRUE(t);
  auto m = controller::make_member(*t, "team-a", nullptr);
  auto resolved = controller::resolve_spec(*m);
  ASSERT_FALSE(resolved);
  EXPECT_NE(resolved.error().find("spec.apiKeySecretRef.namespace is required"), std::string::npos);
}

TEST(ClusterProjection, NamespacedTokenCannotClaimTheClusterLabel) {
  auto p = controller::project_sysdig_token(
      [] {
        Json j = token_json();
        j["spec"]["target"]["labels"][s(controller::kClusterOwnerLabel)] = "ops-monitoring";
        return j;
      }()
          .dump());
  ASSERT_TRUE(p);
  auto resolved =
      controller::resolve_spec(*std::static_pointer_cast<const controller::SysdigToken>(p.value()));
  ASSERT_FALSE(resolved);
  EXPECT_NE(resolved.error().find("must not set monitoring.ibm.com/clustersysdigtoken"),
            std::string::npos);
}

TEST(NamespaceProjection, KeepsNameAndLabels) {
  auto p = controller::project_namespace(
      R"({"metadata":{"name":"team-a","labels":{"sysdig-team":"ops"},"uid":"n1"}})");
  ASSERT_TRUE(p);
  const auto& n = static_cast<const controller::NamespaceObject&>(*p.value());
  EXPECT_EQ(n.key(), "team-a");
  EXPECT_EQ(n.labels.at("sysdig-team"), "ops");
}

// Members reconciled by the real reconciler against the fakes.
class ClusterMember : public Reconciler {
 protected:
  ClusterMember() {
    cluster->put_api_key("ibm-keys", "ibm-api-key", "apikey", kApiKey);
    options.member_status = [this](const std::string& key, const SysdigTokenStatus& st) {
      statuses[key] = st;
    };
    csdt = project(cluster_json());
    make_reconciler();
  }

  void make_reconciler() {
    auto namespaced = world->token_lookup();
    auto lookup = [this, namespaced](const std::string& key)
        -> std::shared_ptr<const controller::SysdigToken> {
      auto k = controller::parse_cluster_key(key);
      if (!k) return namespaced(key);
      auto it = statuses.find(key);
      return controller::make_member(*csdt, k->ns, it == statuses.end() ? nullptr : &it->second);
    };
    reconciler = std::make_unique<controller::Reconciler>(lookup, world->secret_lookup(), cluster,
                                                          monitoring, allowlist, events, options);
  }

  std::shared_ptr<const ClusterSysdigToken> csdt;
  std::map<std::string, SysdigTokenStatus> statuses;
};

TEST_F(ClusterMember, WritesTheSecretAsTheClusterSysdigTokensAndKeepsItsStatusInMemory) {
  const std::string key = controller::member_key("team-a", "ops-monitoring");
  auto r = reconcile(key);
  EXPECT_EQ(r.outcome, Outcome::Synced);
  const Json* secret = cluster->secret("team-a", "ops-monitoring");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(meta_entry(secret, "labels", s(controller::kClusterOwnerLabel)), "ops-monitoring");
  EXPECT_FALSE(has_meta_entry(secret, "labels", s(controller::kOwnerLabel)));
  const Json& owner = secret->at("metadata").at("ownerReferences").at(0);
  EXPECT_EQ(owner.value("kind", ""), "ClusterSysdigToken");
  EXPECT_EQ(owner.value("uid", ""), "csdt-uid-1");
  // The API key came from the named namespace; no status was written.
  ASSERT_EQ(cluster->count("read_secret_value"), 1);
  EXPECT_EQ(cluster->calls()[0].target, "ibm-keys/ibm-api-key");
  EXPECT_EQ(cluster->count("write_status"), 0);
  ASSERT_TRUE(statuses.count(key));
  ASSERT_TRUE(statuses[key].ready);
  EXPECT_EQ(statuses[key].ready->status, "True");
  EXPECT_EQ(statuses[key].revision, 1);

  // Nothing due: nothing fetched or written; the status in memory is used.
  sync();
  make_reconciler();
  cluster->clear_calls();
  r = reconcile(key);
  EXPECT_EQ(r.outcome, Outcome::UpToDate);
  EXPECT_EQ(cluster->writes(), 0);
  EXPECT_EQ(monitoring->fetches(), 1);
}

TEST_F(ClusterMember, ApiKeyMissingInItsNamespaceIsReportedWithTheNamespace) {
  Json j = cluster_json();
  j["spec"]["apiKeySecretRef"]["namespace"] = "elsewhere";
  csdt = project(j);
  make_reconciler();
  const std::string key = controller::member_key("team-a", "ops-monitoring");
  auto r = reconcile(key);
  ASSERT_TRUE(r.reason);
  EXPECT_EQ(*r.reason, Reason::APIKeySecretNotFound);
  EXPECT_NE(statuses[key].ready->message.find("not found in namespace elsewhere"),
            std::string::npos);
  EXPECT_EQ(cluster->secret("team-a", "ops-monitoring"), nullptr);
}

TEST_F(ClusterMember, ConflictsWithANamespacedSysdigTokenOnBothSides) {
  // A SysdigToken of team-a owns Secret "shared" first.
  Json t = token_json("owner", "team-a");
  t["spec"]["target"]["name"] = "shared";
  cluster->put_api_key("team-a", "ibm-api-key", "apikey", kApiKey);
  add_token(t);
  ASSERT_EQ(reconcile("team-a/owner").outcome, Outcome::Synced);
  sync();
  Json j = cluster_json();
  j["spec"]["target"]["name"] = "shared";
  csdt = project(j);
  make_reconciler();
  const std::string key = controller::member_key("team-a", "ops-monitoring");
  auto r = reconcile(key);
  ASSERT_TRUE(r.reason);
  EXPECT_EQ(*r.reason, Reason::SecretConflict);
  EXPECT_NE(statuses[key].ready->message.find("managed by SysdigToken owner"), std::string::npos);

  // The other way round: the ClusterSysdigToken's Secret in team-b first.
  const std::string key_b = controller::member_key("team-b", "ops-monitoring");
  ASSERT_EQ(reconcile(key_b).outcome, Outcome::Synced);
  sync();
  Json late = token_json("late", "team-b");
  late["spec"]["target"]["name"] = "shared";
  cluster->put_api_key("team-b", "ibm-api-key", "apikey", kApiKey);
  add_token(late);
  make_reconciler();
  auto rl = reconcile("team-b/late");
  ASSERT_TRUE(rl.reason);
  EXPECT_EQ(*rl.reason, Reason::SecretConflict);
  const Json* status = cluster->token("team-b", "late");
  ASSERT_NE(status, nullptr);
  EXPECT_NE(status->dump().find("managed by ClusterSysdigToken ops-monitoring"), std::string::npos);
  // Neither side took the other's Secret.
  EXPECT_EQ(meta_entry(cluster->secret("team-a", "shared"), "labels", s(controller::kOwnerLabel)),
            "owner");
  EXPECT_EQ(meta_entry(cluster->secret("team-b", "shared"), "labels",
                       s(controller::kClusterOwnerLabel)),
            "ops-monitoring");
}

TEST_F(ClusterMember, MembersRefreshTogetherAndRestartTheirOwnNamespacesWorkloads) {
  until_idle = false;
  options.refresh_jitter = 0.1;
  options.restart_debounce = 200ms;
  std::vector<std::string> requeued;
  options.requeue = [&](const std::string& key) { requeued.push_back(key); };
  Json j = cluster_json();
  j["spec"]["rolloutRestartTargets"] = Json::array({{{"kind", "Deployment"}, {"name", "api"}}});
  csdt = project(j);
  make_reconciler();
  cluster->put_workload("Deployment", "team-a", "api");
  cluster->put_workload("Deployment", "team-b", "api");
  const std::string a = controller::member_key("team-a", "ops-monitoring");
  const std::string b = controller::member_key("team-b", "ops-monitoring");
  ASSERT_EQ(reconcile(a).outcome, Outcome::Synced);
  ASSERT_EQ(reconcile(b).outcome, Outcome::Synced);
  // One jitter per ClusterSysdigToken: the members' refreshes coincide, so
  // one fetch serves them all.
  EXPECT_FALSE(statuses[a].next_refresh_time.empty());
  EXPECT_EQ(statuses[a].next_refresh_time, statuses[b].next_refresh_time);

  // A reset: each member rotates and restarts the workload of its namespace.
  sync();
  clock.advance(5min);
  monitoring->set_token(kTeam, kApiKey, kToken2);
  j["metadata"]["annotations"][s(controller::kResetAnnotation)] = "r2";
  csdt = project(j);
  make_reconciler();
  EXPECT_EQ(reconcile(a).outcome, Outcome::Rotated);
  EXPECT_EQ(reconcile(b).outcome, Outcome::Rotated);
  io.restart();
  io.run_for(600ms);
  EXPECT_EQ(cluster->restarts().count("Deployment/team-a/api"), 1u);
  EXPECT_EQ(cluster->restarts().count("Deployment/team-b/api"), 1u);
  EXPECT_NE(std::find(requeued.begin(), requeued.end(), a), requeued.end());
  EXPECT_NE(std::find(requeued.begin(), requeued.end(), b), requeued.end());
}

SysdigTokenStatus member_status(bool ready, std::string reason, std::int64_t revision,
                                const std::string& synced) {
  SysdigTokenStatus st;
  controller::Condition c;
  c.type = "Ready";
  c.status = ready ? "True" : "False";
  c.reason = std::move(reason);
  c.message = "member message";
  st.ready = c;
  st.revision = revision;
  st.team_id = kTeam;
  st.token_fingerprint = "sha256:" + std::to_string(revision);
  st.last_sync_time = synced;
  return st;
}

TEST(ClusterSummary, SumsUpTheMembers) {
  auto t = project(cluster_json());
  ASSERT_TRUE(t);
  const auto now = start_time();
  auto ok1 = member_status(true, "TokenSynced", 2, "2026-11-28T10:00:01Z");
  auto ok2 = member_status(true, "TokenSynced", 2, "2026-11-28T10:00:03Z");
  auto bad = member_status(false, "SecretConflict", 0, "");

  auto all = controller::summarize(*t, {{"b", true, &ok2}, {"a", true, &ok1}}, "", now);
  ASSERT_TRUE(all.ready);
  EXPECT_EQ(all.ready->status, "True");
  EXPECT_EQ(all.ready->reason, "TokenSynced");
  EXPECT_EQ(all.provisioned_namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(all.revision, 2);
  EXPECT_EQ(all.team_id, kTeam);
  EXPECT_EQ(all.last_sync_time, "2026-11-28T10:00:03Z");
  EXPECT_EQ(all.secret_name, "ops-monitoring");
  EXPECT_EQ(all.observed_generation, 3);
  // The reset ("r1") is handled only once every namespace handled it.
  EXPECT_EQ(all.last_handled_reset, "");
  ok1.last_handled_reset = "r1";
  ok2.last_handled_reset = "r1";
  auto reset = controller::summarize(*t, {{"a", true, &ok1}, {"b", true, &ok2}}, "", now);
  EXPECT_EQ(reset.last_handled_reset, "r1");

  auto failed = controller::summarize(*t, {{"a", true, &ok1}, {"c", true, &bad}}, "", now);
  EXPECT_EQ(failed.ready->status, "False");
  EXPECT_EQ(failed.ready->reason, "SecretConflict");
  ASSERT_EQ(failed.failed_namespaces.size(), 1u);
  EXPECT_EQ(failed.failed_namespaces[0].ns, "c");
  EXPECT_EQ(failed.failed_namespaces[0].reason, "SecretConflict");
  EXPECT_EQ(failed.provisioned_namespaces, (std::vector<std::string>{"a"}));

  auto pending = controller::summarize(*t, {{"a", true, &ok1}, {"d", true, nullptr}}, "", now);
  EXPECT_EQ(pending.ready->status, "Unknown");
  EXPECT_EQ(pending.ready->reason, "Provisioning");

  auto none = controller::summarize(*t, {}, "", now);
  EXPECT_EQ(none.ready->status, "False");
  EXPECT_EQ(none.ready->reason, "NoNamespacesSelected");

  auto missing = controller::summarize(*t, {{"a", true, &ok1}, {"gone", false, nullptr}}, "", now);
  EXPECT_EQ(missing.ready->reason, "NamespacesFailed");
  ASSERT_EQ(missing.failed_namespaces.size(), 1u);
  EXPECT_EQ(missing.failed_namespaces[0].reason, "NamespaceNotFound");

  // After an operator restart, a namespace the status listed as provisioned
  // stays so until its member reports: Ready does not flap.
  auto restarted = std::make_shared<ClusterSysdigToken>(*t);
  restarted->status = all;
  auto early = controller::summarize(*restarted, {{"a", true, &ok1}, {"b", true, nullptr}}, "", now);
  EXPECT_EQ(early.ready->status, "True");
  EXPECT_EQ(early.provisioned_namespaces, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(early.ready->last_transition_time, all.ready->last_transition_time);

  // A reset with no namespace selected has nothing to rotate: handled.
  EXPECT_EQ(controller::summarize(*t, {}, "", now).last_handled_reset, "r1");

  auto invalid = controller::summarize(*t, {{"a", true, &ok1}}, "spec.region: unknown", now);
  EXPECT_EQ(invalid.ready->status, "False");
  EXPECT_EQ(invalid.ready->reason, "InvalidSpec");
  EXPECT_EQ(invalid.ready->message, "spec.region: unknown");
}

TEST(ClusterSummary, PatchCarriesEveryField) {
  auto t = project(cluster_json());
  ASSERT_TRUE(t);
  auto ok = member_status(true, "TokenSynced", 1, "2026-11-28T10:00:01Z");
  auto bad = member_status(false, "APIKeyInvalid", 0, "");
  auto st = controller::summarize(*t, {{"a", true, &ok}, {"b", true, &bad}}, "", start_time());
  auto patch = Json::parse(controller::cluster_status_patch(st));
  const Json& j = patch.at("status");
  EXPECT_EQ(j.at("provisionedNamespaces"), Json::array({"a"}));
  EXPECT_EQ(j.at("failedNamespaces").at(0).at("namespace"), "b");
  EXPECT_EQ(j.at("failedNamespaces").at(0).at("reason"), "APIKeyInvalid");
  EXPECT_EQ(j.at("teamID"), kTeam);
  EXPECT_EQ(j.at("conditions").at(0).at("type"), "Ready");
  EXPECT_EQ(j.at("secretName"), "ops-monitoring");
  // What the API server stores reads back as the same status.
  Json stored = cluster_json();
  stored["status"] = j;
  auto again = project(stored);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, st);
}

}  // namespace
}  // namespace sto::controller_test
