// Informer against the real kube-apiserver: the cache mirrors the server,
// survives a kube-apiserver restart, and after a 410 Gone (etcd compacted
// while it was disconnected) re-lists and reports what vanished meanwhile.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "kube/informer.h"
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
using sto::testing::run_on;
using sto::testing::shell;
using namespace std::chrono_literals;

// What the server holds: name -> resourceVersion.
asio::awaitable<std::map<std::string, std::string>> server_state(Client& client,
                                                                 const std::string& ns,
                                                                 const std::string& selector) {
  ListOptions o;
  o.label_selector = selector;
  auto body = co_await client.list(kConfigMaps, ns, o);
  std::map<std::string, std::string> out;
  if (!body) co_return out;
  auto page = decode_list(body.value());
  for (auto& item : page->items) {
    auto j = json::parse(item);
    out[j["metadata"]["name"]] = j["metadata"]["resourceVersion"];
  }
  co_return out;
}

std::map<std::string, std::string> cache_state(const Store& store) {
  std::map<std::string, std::string> out;
  for (auto& o : store.list()) out[o->meta.name] = o->meta.resource_version;
  return out;
}

struct Recorder {
  std::set<std::string> added, deleted;
  int updates = 0;
  InformerHandlers handlers() {
    return {[this](const ObjectPtr& o) { added.insert(o->meta.name); },
            [this](const ObjectPtr&, const ObjectPtr&) { ++updates; },
            [this](const ObjectPtr& o) { deleted.insert(o->meta.name); }};
  }
};

// Polls until the cache equals the server or the deadline passes.
asio::awaitable<bool> converges(Client& client, Informer& informer, const std::string& ns,
                                const std::string& selector, std::chrono::seconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  std::map<std::string, std::string> server;
  while (std::chrono::steady_clock::now() < end) {
    server = co_await server_state(client, ns, selector);
    if (informer.has_synced() && cache_state(informer.store()) == server) co_return true;
    co_await sto::testing::sleep_for(100ms);
  }
  ADD_FAILURE() << "cache has " << cache_state(informer.store()).size() << " objects, server "
                << server.size();
  co_return false;
}

asio::awaitable<void> create_cm(Client& c, const std::string& ns, const std::string& name,
                                const std::string& v) {
  json j = {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", {{"app", "informer-test"}}}}},
            {"data", {{"v", v}}}};
  std::string body = j.dump();
  auto r = co_await c.create(kConfigMaps, ns, body);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
}

asio::awaitable<void> set_cm(Client& c, const std::string& ns, const std::string& name,
                             const std::string& v) {
  std::string patch = json{{"data", {{"v", v}}}}.dump();
  auto r = co_await c.patch(kConfigMaps, ns, name, PatchType::Merge, patch, kNoPatchOptions);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
}

asio::awaitable<void> delete_cm(Client& c, const std::string& ns, const std::string& name) {
  auto r = co_await c.remove(kConfigMaps, ns, name, kNoDeleteOptions);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
}

TEST(Informer, MirrorsTheServerThroughManyChanges) {
  sto::testing::TempNamespace ns("informer");
  asio::io_context ioc;
  auto client = sto::testing::make_client(ioc);
  Recorder rec;
  WatcherConfig wc{resources::configmaps(), ns.name(), "app=informer-test"};
  wc.page_size = 7;  // exercise pagination in the initial list
  Informer informer(client, wc, project_metadata, rec.handlers());
  run_on(ioc, [&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    for (int i = 0; i < 20; ++i)
      co_await create_cm(*client, ns.name(), "pre-" + std::to_string(i), "0");
    asio::co_spawn(ex, informer.run(), asio::detached);
    for (int i = 0; i < 20; ++i)
      co_await set_cm(*client, ns.name(), "pre-" + std::to_string(i), "1");
    for (int i = 0; i < 10; ++i) co_await delete_cm(*client, ns.name(), "pre-" + std::to_string(i));
    for (int i = 0; i < 10; ++i)
      co_await create_cm(*client, ns.name(), "post-" + std::to_string(i), "0");
    bool ok = co_await converges(*client, informer, ns.name(), "app=informer-test", 20s);
    EXPECT_TRUE(ok);
    informer.stop();
    co_return ok;
  });
  EXPECT_EQ(rec.added.size(), 30u);
  EXPECT_EQ(rec.deleted.size(), 10u);
  EXPECT_EQ(informer.store().size(), 20u);
  EXPECT_EQ(informer.stats().decode_errors, 0u);
}

// A private control plane (watch cache off, so that a compacted
// resourceVersion answers 410 Gone) for the restart and Gone cases.
class PrivatePlane {
 public:
  PrivatePlane() {
    dir_ = std::filesystem::temp_directory_path() / ("sto-informer-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    auto [code, out] = shell("STO_APISERVER_ARGS=--watch-cache=false STO_CONTROLPLANE_NO_KCM=1 '" +
                             script() + "' up '" + dir_.string() + "'");
    if (code != 0) {
      ADD_FAILURE() << out;
      std::abort();
    }
  }
  ~PrivatePlane() {
    shell("kill -9 $(cat '" + dir_.string() + "/second-apiserver.pid' 2>/dev/null) 2>/dev/null");
    shell("'" + script() + "' down '" + dir_.string() + "'");
    std::filesystem::remove_all(dir_);
  }
  std::string kubeconfig() const { return (dir_ / "kubeconfig").string(); }
  std::string dir() const { return dir_.string(); }
  static std::string script() { return sto::testing::source_dir() + "/scripts/controlplane"; }

  void stop_apiserver() { shell("kill -9 $(cat '" + dir() + "/kube-apiserver.pid')"); }
  void restart_apiserver() {
    auto [code, out] = shell("'" + script() + "' restart-apiserver '" + dir() + "'");
    ASSERT_EQ(code, 0) << out;
  }

  // A second kube-apiserver on the same etcd, for changes while the first is
  // down; returns its kubeconfig.
  std::string start_second_apiserver() {
    // Below the ephemeral port range (32768 and up), and another port when
    // this one is taken meanwhile.
    for (int attempt = 0;; ++attempt) {
      const std::string port = std::to_string(20000 + (::getpid() + attempt * 1009) % 12000);
      auto [code, out] = try_second_apiserver(port);
      if (code == 0) return dir() + "/second.kubeconfig";
      if (attempt < 4 && out.find("address already in use") != std::string::npos) continue;
      ADD_FAILURE() << out;
      return dir() + "/second.kubeconfig";
    }
  }

  std::pair<int, std::string> try_second_apiserver(const std::string& port) {
    std::string cmd =
        "set -e; cd '" + dir() +
        "'; mapfile -d '' a < kube-apiserver.args; "
        "for i in \"${!a[@]}\"; do if [[ ${a[$i]} == --secure-port ]]; then a[$((i+1))]=" +
        port +
        "; fi; done; "
        "bin=$('" +
        script() +
        "' bin); "
        "setsid \"$bin/kube-apiserver\" \"${a[@]}\" </dev/null >second-apiserver.log 2>&1 & echo "
        "$! > second-apiserver.pid; "
        "sed 's#server: https://127.0.0.1:[0-9]*#server: https://127.0.0.1:" +
        port +
        "#' kubeconfig > second.kubeconfig; "
        "for i in $(seq 1 300); do if \"$bin/kubectl\" --kubeconfig second.kubeconfig get --raw "
        "/readyz >/dev/null 2>&1; then exit 0; fi; sleep 0.2; done; "
        "tail -5 second-apiserver.log; exit 1";
    return shell("bash -c " + quote(cmd));
  }
  void stop_second_apiserver() { shell("kill -9 $(cat '" + dir() + "/second-apiserver.pid')"); }

  // Compacts etcd's history up to its current revision.
  void compact_etcd() {
    std::string etcd = "http://127.0.0.1:" + read(dir_ / "etcd.port");
    auto [c1, rev] = shell("curl -sf -X POST " + etcd + "/v3/kv/range -d '{\"key\":\"AA==\"}'");
    ASSERT_EQ(c1, 0) << rev;
    std::string revision = json::parse(rev)["header"]["revision"];
    auto [c2, out] = shell("curl -sf -X POST " + etcd + "/v3/kv/compaction -d '{\"revision\":\"" +
                           revision + "\",\"physical\":true}'");
    ASSERT_EQ(c2, 0) << out;
  }

 private:
  static std::string read(const std::filesystem::path& p) {
    std::string s;
    std::ifstream(p) >> s;
    return s;
  }
  static std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  }
  std::filesystem::path dir_;
};

TEST(Informer, KeepsATrueCacheAcrossApiServerRestartAndGone) {
  PrivatePlane plane;
  asio::io_context ioc;
  auto client = sto::testing::make_client(ioc, plane.kubeconfig());
  const std::string ns = "default";
  Recorder rec;
  WatcherConfig wc{resources::configmaps(), ns, "app=informer-test"};
  wc.backoff = Backoff{50ms, 500ms, 0.2};
  Informer informer(client, wc, project_metadata, rec.handlers());
  run_on(ioc, [&](asio::any_io_executor ex) -> asio::awaitable<bool> {
    for (int i = 0; i < 10; ++i) co_await create_cm(*client, ns, "a-" + std::to_string(i), "0");
    asio::co_spawn(ex, informer.run(), asio::detached);
    EXPECT_TRUE(co_await converges(*client, informer, ns, "app=informer-test", 20s));

    // 1. kube-apiserver restarts; the watch resumes from its resourceVersion.
    plane.restart_apiserver();
    for (int i = 0; i < 3; ++i)
      co_await set_cm(*client, ns, "a-" + std::to_string(i), "after-restart");
    co_await delete_cm(*client, ns, "a-9");
    EXPECT_TRUE(co_await converges(*client, informer, ns, "app=informer-test", 30s));
    EXPECT_EQ(informer.watcher().stats().gone, 0u);
    EXPECT_TRUE(rec.deleted.count("a-9"));

    // 2. While the informer's server is down, another one changes things and
    // etcd is compacted: resuming answers 410 Gone, the informer re-lists and
    // reports the deletions it missed.
    plane.stop_apiserver();
    std::string second = plane.start_second_apiserver();
    {
      asio::io_context other_ioc;
      auto other = sto::testing::make_client(other_ioc, second);
      run_on(other_ioc, [&](asio::any_io_executor) -> asio::awaitable<bool> {
        for (int i = 0; i < 4; ++i) co_await delete_cm(*other, ns, "a-" + std::to_string(i));
        co_await set_cm(*other, ns, "a-5", "while-away");
        for (int i = 0; i < 3; ++i) co_await create_cm(*other, ns, "b-" + std::to_string(i), "0");
        co_return true;
      });
    }
    plane.compact_etcd();
    plane.stop_second_apiserver();
    plane.restart_apiserver();
    EXPECT_TRUE(co_await converges(*client, informer, ns, "app=informer-test", 30s));
    EXPECT_GE(informer.watcher().stats().gone, 1u) << informer.watcher().stats().last_error;
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(rec.deleted.count("a-" + std::to_string(i))) << i;
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(rec.added.count("b-" + std::to_string(i))) << i;
    informer.stop();
    co_return true;
  });
}

}  // namespace
}  // namespace sto::kube
