// kube::Client against the real kube-apiserver: CRUD and optimistic
// concurrency, server-side apply ownership, pagination, the status
// subresource, delete preconditions, watch, RBAC denials, and token-file and
// exec-plugin authentication. (410 Gone needs etcd compaction behind the
// watch cache: see informer_test.cpp.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "kube/client.h"
#include "kube/watch_decoder.h"
#include "kube_env.h"

namespace sto::kube {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

// Arguments of co_awaited calls are named objects, never temporaries (GCC 12
// destroys class-type temporaries of co_await expressions twice).
const Resource kConfigMaps = resources::configmaps();
const ListOptions kAll;
const PatchOptions kNoPatchOptions;
const DeleteOptions kNoDeleteOptions;
using sto::testing::kubectl;
using sto::testing::run_on;
using sto::testing::TempNamespace;

std::string configmap(const std::string& name, const json& data, const std::string& rv = {}) {
  json j = {
      {"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}, {"data", data}};
  if (!rv.empty()) j["metadata"]["resourceVersion"] = rv;
  return j.dump();
}

class ClientTest : public ::testing::Test {
 protected:
  asio::io_context ioc;
  std::shared_ptr<Client> client = sto::testing::make_client(ioc);
  Resource cms = resources::configmaps();
};

TEST_F(ClientTest, CrudWithConflictOnStaleResourceVersion) {
  TempNamespace ns("crud");
  run_on(ioc, [&](asio::any_io_executor) -> asio::awaitable<bool> {
    std::string body = configmap("cm", {{"a", "1"}});
    auto created = co_await client->create(cms, ns.name(), body);
    EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().describe());
    if (!created) co_return false;
    auto first = json::parse(*created);
    std::string rv1 = first["metadata"]["resourceVersion"];

    auto again = co_await client->create(cms, ns.name(), body);
    EXPECT_FALSE(again.ok());
    if (!again) {
      EXPECT_EQ(again.error().kind, ApiErrorKind::AlreadyExists);
    }

    std::string update1 = configmap("cm", {{"a", "2"}}, rv1);
    auto updated = co_await client->update(cms, ns.name(), "cm", update1);
    EXPECT_TRUE(updated.ok());

    std::string stale = configmap("cm", {{"a", "3"}}, rv1);
    auto conflict = co_await client->update(cms, ns.name(), "cm", stale);
    EXPECT_FALSE(conflict.ok());
    if (!conflict) {
      EXPECT_EQ(conflict.error().kind, ApiErrorKind::Conflict);
      EXPECT_TRUE(conflict.error().retryable());
    }

    auto got = co_await client->get(cms, ns.name(), "cm");
    EXPECT_TRUE(got.ok());
    if (got) {
      EXPECT_EQ(json::parse(*got)["data"]["a"], "2");
    }

    DeleteOptions wrong_uid;
    wrong_uid.precondition_uid = "00000000-0000-0000-0000-000000000000";
    auto refused = co_await client->remove(cms, ns.name(), "cm", wrong_uid);
    EXPECT_FALSE(refused.ok());
    if (!refused) {
      EXPECT_EQ(refused.error().kind, ApiErrorKind::Conflict);
    }

    DeleteOptions right_uid;
    right_uid.precondition_uid = first["metadata"]["uid"];
    right_uid.propagation_policy = "Background";
    auto removed = co_await client->remove(cms, ns.name(), "cm", right_uid);
    EXPECT_TRUE(removed.ok()) << (removed.ok() ? "" : removed.error().describe());

    auto gone = co_await client->get(cms, ns.name(), "cm");
    EXPECT_FALSE(gone.ok());
    if (!gone) {
      EXPECT_EQ(gone.error().kind, ApiErrorKind::NotFound);
    }
    co_return true;
  });
}

TEST_F(ClientTest, InvalidObjectsNameTheField) {
  TempNamespace ns("invalid");
  run_on(ioc, [&](asio::any_io_executor) -> asio::awaitable<bool> {
    std::string body = configmap("Not_A_Valid_Name", {{"a", "1"}});
    auto r = co_await client->create(cms, ns.name(), body);
    EXPECT_FALSE(r.ok());
    if (!r) {
      EXPECT_EQ(r.error().kind, ApiErrorKind::Invalid);
      EXPECT_FALSE(r.error().causes.empty());
      if (!r.error().causes.empty()) {
        EXPECT_EQ(r.error().causes[0].field, "metadata.name");
      }
    }
    co_return true;
  });
}

TEST_F(ClientTest, ServerSideApplyTracksFieldOwnership) {
  TempNamespace ns("ssa");
  run_on(ioc, [&](asio::any_io_executor) -> asio::awaitable<bool> {
    std::string mine = configmap("owned", {{"k", "from-a"}});
    PatchOptions a;
    a.field_manager = "manager-a";
    auto applied = co_await client->patch(cms, ns.name(), "owned", PatchType::Apply, mine, a);
    EXPECT_TRUE(applied.ok()) << (applied.ok() ? "" : applied.error().describe());

    std::string theirs = configmap("owned", {{"k", "from-b"}});
    PatchOptions b;
    b.field_manager = "manager-b";
    auto conflict = co_await client->patch(cms, ns.name(), "owned", PatchType::Apply, theirs, b);
    EXPECT_FALSE(conflict.ok());
    if (!conflict) {
      EXPECT_EQ(conflict.error().kind, ApiErrorKind::Conflict);
      EXPECT_NE(conflict.error().describe().find("manager-a"), std::string::npos);
    }

    b.force = true;
    auto forced = co_await client->patch(cms, ns.name(), "owned", PatchType::Apply, theirs, b);
    EXPECT_TRUE(forced.ok());
    if (forced) {
      auto j = json::parse(*forced);
      EXPECT_EQ(j["data"]["k"], "from-b");
      bool b_owns = false;
      for (auto& mf : j["metadata"]["managedFields"]) {
        if (mf["manager"] == "manager-b" && mf["fieldsV1"].dump().find("f:k") != std::string::npos)
          b_owns = true;
      }
      EXPECT_TRUE(b_owns) << j["metadata"]["managedFields"].dump();
    }

    std::string merge = R"({"data":{"extra":"x"}})";
    auto merged =
        co_await client->patch(cms, ns.name(), "owned", PatchType::Merge, merge, kNoPatchOptions);
    EXPECT_TRUE(merged.ok());
    std::string jsonpatch = R"([{"op":"remove","path":"/data/extra"}])";
    auto patched = co_await client->patch(cms, ns.name(), "owned", PatchType::Json, jsonpatch,
                                          kNoPatchOptions);
    EXPECT_TRUE(patched.ok());
    if (patched) {
      EXPECT_FALSE(json::parse(*patched)["data"].contains("extra"));
    }
    co_return true;
  });
}

TEST_F(ClientTest, ListPaginatesWithContinueTokens) {
  TempNamespace ns("pages");
  run_on(ioc, [&](asio::any_io_executor) -> asio::awaitable<bool> {
    for (int i = 0; i < 25; ++i) {
      json j = json::parse(configmap("cm-" + std::to_string(i), {{"i", std::to_string(i)}}));
      j["metadata"]["labels"] = {{"batch", i % 2 ? "odd" : "even"}};
      std::string body = j.dump();
      auto r = co_await client->create(cms, ns.name(), body);
      EXPECT_TRUE(r.ok());
    }
    ListOptions o;
    o.limit = 10;
    int pages = 0;
    std::size_t items = 0;
    for (;;) {
      auto body = co_await client->list(cms, ns.name(), o);
      EXPECT_TRUE(body.ok());
      if (!body) co_return false;
      auto page = decode_list(body.value());
      EXPECT_TRUE(page.ok());
      ++pages;
      items += page->items.size();
      if (page->continue_token.empty()) break;
      o.continue_token = page->continue_token;
    }
    EXPECT_EQ(pages, 3);
    EXPECT_GE(items, 25u);  // plus kube-root-ca.crt

    ListOptions selected;
    selected.label_selector = "batch=odd";
    auto odd = co_await client->list(cms, ns.name(), selected);
    EXPECT_TRUE(odd.ok());
    if (odd) {
      EXPECT_EQ(decode_list(odd.value())->items.size(), 12u);
    }
    co_return true;
  });
}

TEST_F(ClientTest, StatusSubresourceIsSeparateFromSpec) {
  TempNamespace ns("status");
  kubectl(R"(apply -f - <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.kubetest.example.com}
spec:
  group: kubetest.example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
YAML
kubectl wait --for condition=established --timeout=60s crd/gadgets.kubetest.example.com)");
  Resource gadgets{"kubetest.example.com", "v1", "gadgets", "Gadget", true};
  run_on(ioc, [&](asio::any_io_executor) -> asio::awaitable<bool> {
    std::string body =
        R"({"apiVersion":"kubetest.example.com/v1","kind":"Gadget","metadata":{"name":"g"},"spec":{"x":1},"status":{"ready":true}})";
    auto created = co_await client->create(gadgets, ns.name(), body);
    EXPECT_TRUE(created.ok()) << (created.ok() ? "" : created.error().describe());
    if (!created) co_return false;
    EXPECT_FALSE(json::parse(*created).contains("status"));  // status ignored on create
    std::string status = R"({"status":{"ready":true}})";
    auto patched = co_await client->patch(gadgets, ns.name(), "g", PatchType::Merge, status,
                                          kNoPatchOptions, "status");
    EXPECT_TRUE(patched.ok());
    auto got = co_await client->get(gadgets, ns.name(), "g");
    EXPECT_TRUE(got.ok());
    if (got) {
      auto j = json::parse(*got);
      EXPECT_EQ(j["status"]["ready"], true);
      EXPECT_EQ(j["metadata"]["generation"], 1);  // status writes do not bump generation
    }
    co_return true;
  });
}

TEST_F(ClientTest, WatchDeliversEventsInOrderWithBookmarks) {
  TempNamespace ns("watch");
  run_on(ioc, [&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    auto listed = co_await client->list(cms, ns.name(), kAll);
    EXPECT_TRUE(listed.ok());
    std::string rv = decode_list(listed.value())->resource_version;
    WatchOptions wo;
    wo.resource_version = rv;
    wo.timeout = std::chrono::seconds(10);
    auto stream = co_await client->watch(cms, ns.name(), wo);
    EXPECT_TRUE(stream.ok());
    if (!stream) co_return false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < 3; ++i) {
            std::string body = configmap("w" + std::to_string(i), {{"i", "x"}});
            (void)co_await client->create(cms, ns.name(), body);
          }
          (void)co_await client->remove(cms, ns.name(), "w1", kNoDeleteOptions);
        },
        asio::detached);
    std::vector<std::string> seen;
    while (seen.size() < 4) {
      auto ev = co_await (*stream)->next();
      EXPECT_TRUE(ev.ok());
      if (!ev || !ev->has_value()) break;
      if ((*ev)->type == WatchEventType::Bookmark) continue;
      auto j = json::parse((*ev)->object);
      std::string type = (*ev)->type == WatchEventType::Added     ? "ADDED"
                         : (*ev)->type == WatchEventType::Deleted ? "DELETED"
                                                                  : "OTHER";
      seen.push_back(type + " " + j["metadata"]["name"].get<std::string>());
    }
    (*stream)->cancel();
    EXPECT_EQ(seen, (std::vector<std::string>{"ADDED w0", "ADDED w1", "ADDED w2", "DELETED w1"}));
    co_return true;
  });
}

// A kubeconfig that authenticates as ns/sa with a token file or an exec plugin.
std::string write_sa_kubeconfig(const std::string& dir, const std::string& ns,
                                const std::string& sa, const std::string& user_yaml) {
  auto [code, kc] = sto::testing::shell("'" + sto::testing::source_dir() +
                                        "/scripts/controlplane' kubeconfig-for '" +
                                        sto::testing::controlplane_dir() + "' " + ns + " " + sa);
  EXPECT_EQ(code, 0) << kc;
  auto pos = kc.find("users:");
  auto end = kc.find("contexts:");
  std::string out = kc.substr(0, pos) + "users:\n- name: " + ns + "-" + sa + "\n  user:\n" +
                    user_yaml + kc.substr(end);
  std::string path = dir + "/kubeconfig";
  std::ofstream(path) << out;
  return path;
}

std::string sa_token(const std::string& ns, const std::string& sa) {
  std::string t = kubectl("create token " + sa + " -n " + ns + " --duration 1h");
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

TEST_F(ClientTest, RbacDenialIsForbiddenAndTokenFileRotates) {
  TempNamespace ns("rbac");
  kubectl("create serviceaccount reader -n " + ns.name());
  auto dir = std::filesystem::temp_directory_path() / ("sto-rbac-" + ns.name());
  std::filesystem::create_directories(dir);
  std::string token_path = (dir / "token").string();
  std::ofstream(token_path) << "not-a-valid-token";
  std::string kc = write_sa_kubeconfig(dir.string(), ns.name(), "reader", "    tokenFile: token\n");
  asio::io_context sa_ioc;
  auto sa_client = sto::testing::make_client(sa_ioc, kc);
  auto secrets = resources::secrets();

  auto denied =
      run_on(sa_ioc, [&](asio::any_io_executor) -> asio::awaitable<Result<std::string, ApiError>> {
        co_return co_await sa_client->list(secrets, ns.name(), kAll);
      });
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, ApiErrorKind::Unauthorized);

  std::ofstream(token_path) << sa_token(ns.name(), "reader");  // the kubelet rotated it
  auto forbidden =
      run_on(sa_ioc, [&](asio::any_io_executor) -> asio::awaitable<Result<std::string, ApiError>> {
        co_return co_await sa_client->list(secrets, ns.name(), kAll);
      });
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(forbidden.error().kind, ApiErrorKind::Forbidden) << forbidden.error().describe();

  kubectl("create role r -n " + ns.name() + " --verb=list --resource=secrets");
  kubectl("create rolebinding r -n " + ns.name() + " --role=r --serviceaccount=" + ns.name() +
          ":reader");
  bool allowed = false;
  for (int i = 0; i < 50 && !allowed; ++i) {
    auto r = run_on(sa_ioc,
                    [&](asio::any_io_executor) -> asio::awaitable<Result<std::string, ApiError>> {
                      co_return co_await sa_client->list(secrets, ns.name(), kAll);
                    });
    allowed = r.ok();
    if (!allowed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(allowed);
  std::filesystem::remove_all(dir);
}

TEST_F(ClientTest, ExecPluginAuthenticates) {
  TempNamespace ns("exec");
  kubectl("create serviceaccount plugin -n " + ns.name());
  kubectl("create role r -n " + ns.name() + " --verb=get,list --resource=configmaps");
  kubectl("create rolebinding r -n " + ns.name() + " --role=r --serviceaccount=" + ns.name() +
          ":plugin");
  auto dir = std::filesystem::temp_directory_path() / ("sto-exec-" + ns.name());
  std::filesystem::create_directories(dir);
  std::string token = sa_token(ns.name(), "plugin");
  std::string script = (dir / "plugin.sh").string();
  std::ofstream(script)
      << "#!/bin/sh\necho \"$@\" >> \"" << (dir / "calls").string()
      << "\"\ncat "
         "<<EOF\n{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
         "\"status\":{\"token\":\""
      << token << "\"}}\nEOF\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  std::string kc = write_sa_kubeconfig(
      dir.string(), ns.name(), "plugin",
      "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin.sh\n"
      "      args: [--cluster, local]\n      interactiveMode: Never\n");
  asio::io_context exec_ioc;
  auto exec_client = sto::testing::make_client(exec_ioc, kc);
  auto r = run_on(exec_ioc,
                  [&](asio::any_io_executor) -> asio::awaitable<Result<std::string, ApiError>> {
                    auto first = co_await exec_client->list(cms, ns.name(), kAll);
                    if (!first) co_return first;
                    co_return co_await exec_client->list(cms, ns.name(), kAll);
                  });
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  std::ifstream calls(dir / "calls");
  std::string line;
  int n = 0;
  while (std::getline(calls, line)) {
    EXPECT_EQ(line, "--cluster local");
    ++n;
  }
  EXPECT_EQ(n, 1);  // cached between requests
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sto::kube
