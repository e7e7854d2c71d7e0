// Leader election and the Event recorder against a real kube-apiserver (the
// "controlplane" CTest fixture). Each run works in a namespace of its own.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "cluster.h"
#include "kube/client.h"
#include "kube/event_recorder.h"
#include "kube/leader_election.h"

extern char** environ;

namespace sto::kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

ClusterConfig g_cluster;
std::string g_namespace;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Runs body(client) on a fresh io_context with a client of its own; fails
// the test when it does not finish within timeout.
template <typename F>
void run(F&& body, std::chrono::seconds timeout = 60s) {
  asio::io_context ioc;
  auto client = Client::create(ioc.get_executor(), g_cluster);
  ASSERT_TRUE(client.ok()) << client.error();
  auto c = client.value();
  bool done = false;
  asio::co_spawn(ioc, body(ioc, c), [&](std::exception_ptr e) {
    done = true;
    if (e) std::rethrow_exception(e);
  });
  ioc.run_for(timeout);
  EXPECT_TRUE(done) << "the test did not finish within " << timeout.count() << "s";
  c->shutdown();
  ioc.run_for(1s);  // let detached work observe the shutdown
}

asio::awaitable<void> sleep_for(Clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

template <typename Pred>
asio::awaitable<bool> eventually(Pred pred, Clock::duration timeout) {
  auto until = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= until) co_return false;
    co_await sleep_for(10ms);
  }
  co_return true;
}

// Short timings so that the tests take seconds, in client-go's proportions.
LeaderElectionConfig config(std::string lease, std::string identity) {
  LeaderElectionConfig c;
  c.ns = g_namespace;
  c.name = std::move(lease);
  c.identity = std::move(identity);
  c.lease_duration = 4s;
  c.renew_deadline = 3s;
  c.retry_period = 1s;
  return c;
}

struct Candidate {
  std::unique_ptr<LeaderElector> elector;
  int started = 0;
  int stopped = 0;
  bool returned = false;
  Clock::time_point started_at{};
  Clock::time_point stopped_at{};
  std::vector<std::string> errors;

  Candidate(std::shared_ptr<Client> client, LeaderElectionConfig c) {
    LeaderElectionCallbacks cb;
    cb.on_started_leading = [this] {
      ++started;
      started_at = Clock::now();
    };
    cb.on_stopped_leading = [this] {
      ++stopped;
      stopped_at = Clock::now();
    };
    cb.on_error = [this](const kube::ErrorReport& e) { errors.emplace_back(e.message); };
    elector = std::make_unique<LeaderElector>(std::move(client), std::move(c), std::move(cb));
  }

  void start(asio::io_context& ioc) {
    asio::co_spawn(
        ioc,
        [this]() -> asio::awaitable<void> {
          co_await elector->run();
          returned = true;
        },
        asio::detached);
  }
};

// Pass named locals only: GCC 12 mishandles temporaries in co_await
// expressions.
asio::awaitable<json> get_lease(Client& client, const std::string& name) {
  Resource leases = resources::leases();
  std::string ns = g_namespace;
  auto got = co_await client.get(leases, ns, name);
  if (!got) {
    ADD_FAILURE() << "GET lease " << name << ": " << got.error().describe();
    co_return json();
  }
  co_return json::parse(*got);
}

std::string random_hex(int digits) {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < digits; ++i) out += "0123456789abcdef"[rd() % 16];
  return out;
}

// ------------------------------------------------------------- leases --

TEST(KubeLeader, ACandidateAcquiresAFreshLeaseAndRenewsIt) {
  run([](asio::io_context& ioc, const std::shared_ptr<Client>& client) -> asio::awaitable<void> {
    std::string lease = "fresh";
    Candidate a(client, config(lease, "candidate-a"));
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 5s));
    json first = co_await get_lease(*client, lease);
    EXPECT_EQ(first["spec"]["holderIdentity"], "candidate-a");
    EXPECT_EQ(first["spec"]["leaseDurationSeconds"], 4);
    EXPECT_EQ(first["spec"]["leaseTransitions"], 0);
    std::string renewed = first["spec"]["renewTime"];
    EXPECT_EQ(renewed.size(), std::string("2026-11-28T10:00:00.000000Z").size()) << renewed;
    co_await sleep_for(2500ms);
    json later = co_await get_lease(*client, lease);
    EXPECT_EQ(later["spec"]["holderIdentity"], "candidate-a");
    EXPECT_GT(later["spec"]["renewTime"].get<std::string>(), renewed);
    EXPECT_EQ(later["spec"]["acquireTime"], first["spec"]["acquireTime"]);
    EXPECT_TRUE(a.elector->is_leader());

    co_await a.elector->release();
    EXPECT_TRUE(a.returned);
    EXPECT_EQ(a.stopped, 1);
    json released = co_await get_lease(*client, lease);
    EXPECT_EQ(released["spec"].value("holderIdentity", ""), "");
    EXPECT_EQ(released["spec"]["leaseDurationSeconds"], 1);
    EXPECT_TRUE(a.errors.empty()) << a.errors.front();
  });
}

TEST(KubeLeader, OfTwoCandidatesOneLeadsAndReleaseHandsOverWithinARetryPeriod) {
  run([](asio::io_context& ioc, const std::shared_ptr<Client>& client) -> asio::awaitable<void> {
    std::string lease_name = "pair";
    Candidate a(client, config(lease_name, "candidate-a"));
    Candidate b(client, config(lease_name, "candidate-b"));
    a.start(ioc);
    b.start(ioc);
    EXPECT_TRUE(
        co_await eventually([&] { return a.elector->is_leader() || b.elector->is_leader(); }, 5s));
    co_await sleep_for(2500ms);  // a few renewals and retries
    EXPECT_NE(a.elector->is_leader(), b.elector->is_leader());
    Candidate& first = a.elector->is_leader() ? a : b;
    Candidate& second = &first == &a ? b : a;
    json lease = co_await get_lease(*client, lease_name);
    EXPECT_EQ(lease["spec"]["holderIdentity"], first.elector->identity());
    EXPECT_EQ(second.started, 0);

    co_await first.elector->release();
    auto released = Clock::now();
    EXPECT_TRUE(co_await eventually([&] { return second.elector->is_leader(); }, 5s));
    double handover = seconds(second.started_at - released);
    std::cout << "[ measure  ] handover after release: " << handover << " s (retry period 1 s)\n";
    ::testing::Test::RecordProperty("handover_after_release_ms", static_cast<int>(handover * 1000));
    EXPECT_LE(handover, 1.2 + 0.5);  // one jittered retry period, plus request time
    lease = co_await get_lease(*client, lease_name);
    EXPECT_EQ(lease["spec"]["holderIdentity"], second.elector->identity());
    EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
    co_await second.elector->release();
  });
}

// Starts leader_candidate; returns its pid and the read end of its stdout.
std::pair<pid_t, int> spawn_candidate(const std::string& lease, const std::string& identity) {
  int out[2];
  if (pipe(out) != 0) return {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  std::string path = STO_LEADER_CANDIDATE;
  std::vector<std::string> args = {path, g_namespace, lease, identity, "4000", "3000", "1000"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return {-1, -1};
  }
  return {pid, out[0]};
}

// Reads fd until a line equal to `want` arrives or the timeout passes.
bool wait_for_line(int fd, const std::string& want, std::chrono::milliseconds timeout) {
  std::string buffer;
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) continue;
    char chunk[256];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = buffer.find('\n')) != std::string::npos; buffer.erase(0, nl + 1)) {
      if (buffer.substr(0, nl) == want) return true;
    }
  }
  return false;
}

TEST(KubeLeader, TheSecondCandidateTakesOverAfterTheLeaderIsKilled) {
  auto [pid, out] = spawn_candidate("killed", "candidate-child");
  ASSERT_GT(pid, 0) << "cannot start " << STO_LEADER_CANDIDATE;
  bool leading = wait_for_line(out, "leading", 20s);
  if (!leading) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    close(out);
    FAIL() << "leader_candidate did not lead within 20 s";
  }
  run([pid = pid](asio::io_context& ioc,
                  const std::shared_ptr<Client>& client) -> asio::awaitable<void> {
    std::string lease = "killed";
    Candidate b(client, config(lease, "candidate-parent"));
    b.start(ioc);
    co_await sleep_for(2500ms);  // b watches the child renew
    EXPECT_FALSE(b.elector->is_leader());
    json before = co_await get_lease(*client, lease);
    EXPECT_EQ(before["spec"]["holderIdentity"], "candidate-child");

    EXPECT_EQ(kill(pid, SIGKILL), 0);
    waitpid(pid, nullptr, 0);
    auto killed = Clock::now();
    EXPECT_TRUE(co_await eventually([&] { return b.elector->is_leader(); }, 15s));
    double takeover = seconds(b.started_at - killed);
    std::cout << "[ measure  ] takeover after SIGKILL: " << takeover
              << " s (lease 4 s, renew deadline 3 s, retry 1 s)\n";
    ::testing::Test::RecordProperty("takeover_after_kill_ms", static_cast<int>(takeover * 1000));
    // Not before the Lease expired: the child renewed at most a retry period
    // before it died...
    EXPECT_GE(takeover, 4.0 - 1.0 - 0.2);
    // ...and at most a lease duration after b last saw that renewal, which
    // b saw within one (jittered) retry period; then b's next retry wins.
    EXPECT_LE(takeover, 4.0 + 2 * 1.2 + 0.5);
    json after = co_await get_lease(*client, lease);
    EXPECT_EQ(after["spec"]["holderIdentity"], "candidate-parent");
    EXPECT_EQ(after["spec"]["leaseTransitions"], 1);
    co_await b.elector->release();
  });
  close(out);
}

TEST(KubeLeader, ALeaderWhoseLeaseIsTakenStopsLeadingWithinTheRenewDeadline) {
  run([](asio::io_context& ioc, const std::shared_ptr<Client>& client) -> asio::awaitable<void> {
    Candidate a(client, config("stolen", "candidate-a"));
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 5s));
    co_await sleep_for(1500ms);

    // Another writer takes the Lease (retrying when a renewal races it).
    Resource leases = resources::leases();
    std::string ns = g_namespace;
    std::string name = "stolen";
    Clock::time_point stolen{};
    for (int attempt = 0; attempt < 5 && stolen == Clock::time_point{}; ++attempt) {
      json lease = co_await get_lease(*client, name);
      lease["spec"]["holderIdentity"] = "thief";
      lease["spec"]["renewTime"] = format_micro_time(std::chrono::system_clock::now());
      std::string body = lease.dump();
      auto put = co_await client->update(leases, ns, name, body);
      if (put)
        stolen = Clock::now();
      else
        EXPECT_EQ(put.error().kind, ApiErrorKind::Conflict) << put.error().describe();
    }
    EXPECT_NE(stolen, Clock::time_point{});
    if (stolen == Clock::time_point{}) {
      co_await a.elector->release();
      co_return;
    }
    EXPECT_TRUE(co_await eventually([&] { return a.stopped > 0; }, 5s));
    double took = seconds(a.stopped_at - stolen);
    std::cout << "[ measure  ] stopped leading after the Lease was taken: " << took << " s\n";
    EXPECT_LE(took, 3.0);  // renew deadline
    EXPECT_FALSE(a.elector->is_leader());
    EXPECT_TRUE(co_await eventually([&] { return a.returned; }, 1s));
    json lease = co_await get_lease(*client, name);
    EXPECT_EQ(lease["spec"]["holderIdentity"], "thief");
  });
}

// ------------------------------------------------------------- events --

asio::awaitable<std::vector<json>> events_about(Client& client, const std::string& name) {
  Resource events = resources::events();
  std::string ns = g_namespace;
  ListOptions options;
  auto listed = co_await client.list(events, ns, options);
  std::vector<json> out;
  if (!listed) {
    ADD_FAILURE() << "list events: " << listed.error().describe();
    co_return out;
  }
  json list = json::parse(*listed);
  for (auto& e : list["items"]) {
    if (e["regarding"].value("name", "") == name) out.push_back(e);
  }
  co_return out;
}

const json* with_reason(const std::vector<json>& events, const std::string& reason) {
  const json* found = nullptr;
  for (const auto& e : events) {
    if (e.value("reason", "") != reason) continue;
    EXPECT_EQ(found, nullptr) << "more than one event with reason " << reason;
    found = &e;
  }
  return found;
}

TEST(KubeLeader, RepeatedEventsAggregateIntoOneEventWithASeries) {
  run([](asio::io_context& ioc, const std::shared_ptr<Client>& client) -> asio::awaitable<void> {
    Resource configmaps = resources::configmaps();
    std::string ns = g_namespace;
    std::string body = json{
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", "flappy"}}},
        {"data",
         {{"a", "b"}}}}.dump();
    auto created = co_await client->create(configmaps, ns, body);
    EXPECT_TRUE(created.ok()) << created.error().describe();
    if (!created) co_return;
    json cm = json::parse(*created);
    ObjectRef ref;
    ref.api_version = "v1";
    ref.kind = "ConfigMap";
    ref.ns = g_namespace;
    ref.name = "flappy";
    ref.uid = cm["metadata"]["uid"];
    ref.resource_version = cm["metadata"]["resourceVersion"];

    std::vector<std::string> errors;
    EventRecorderOptions options;
    options.on_error = [&](const kube::ErrorReport& e) { errors.emplace_back(e.message); };
    EventRecorder recorder(client, "monitoring.ibm.com/sysdig-token-operator", "kube-leader-test",
                           options);
    asio::co_spawn(ioc, recorder.run(), asio::detached);

    // Five occurrences, each sent on its own: a create, then four patches.
    for (int i = 0; i < 5; ++i) {
      recorder.record(ref, EventType::Warning, "Flapping", "Reconcile",
                      "the target keeps changing");
      co_await recorder.flush();
    }
    // Five at once fold into one create that starts with its series.
    for (int i = 0; i < 5; ++i) {
      recorder.record(ref, EventType::Warning, "Burst", "Reconcile", "many at once");
    }
    // Another reason is another Event; an overlong note is cut to the limit.
    recorder.record(ref, EventType::Normal, "Synced", "Reconcile", std::string(3000, 'x'));
    co_await recorder.flush();
    recorder.stop();

    std::string cm_name = "flappy";
    auto events = co_await events_about(*client, cm_name);
    EXPECT_EQ(events.size(), 3u);
    const json* flapping = with_reason(events, "Flapping");
    EXPECT_NE(flapping, nullptr);
    if (flapping) {
      EXPECT_EQ((*flapping)["series"]["count"], 5);
      EXPECT_EQ((*flapping)["type"], "Warning");
      EXPECT_EQ((*flapping)["action"], "Reconcile");
      EXPECT_EQ((*flapping)["note"], "the target keeps changing");
      EXPECT_EQ((*flapping)["reportingController"], "monitoring.ibm.com/sysdig-token-operator");
      EXPECT_EQ((*flapping)["reportingInstance"], "kube-leader-test");
      EXPECT_EQ((*flapping)["regarding"]["uid"], ref.uid);
      EXPECT_EQ((*flapping)["regarding"]["kind"], "ConfigMap");
      EXPECT_GT((*flapping)["series"]["lastObservedTime"].get<std::string>(),
                (*flapping)["eventTime"].get<std::string>());
    }
    const json* burst = with_reason(events, "Burst");
    EXPECT_NE(burst, nullptr);
    if (burst) {
      EXPECT_EQ((*burst)["series"]["count"], 5);
    }
    const json* synced = with_reason(events, "Synced");
    EXPECT_NE(synced, nullptr);
    if (synced) {
      EXPECT_FALSE(synced->contains("series"));
      EXPECT_EQ((*synced)["note"].get<std::string>().size(), 1024u);
    }
    auto stats = recorder.stats();
    EXPECT_EQ(stats.created, 3u);
    EXPECT_EQ(stats.patched, 4u);
    EXPECT_EQ(stats.failed, 0u);
    EXPECT_TRUE(errors.empty()) << errors.front();
  });
}

// ------------------------------------------------------------ namespace --

asio::awaitable<void> namespace_request(Client& client, bool create, std::string* error) {
  Resource namespaces = resources::namespaces();
  std::string name = g_namespace;
  if (create) {
    std::string body =
        json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}}.dump();
    auto r = co_await client.create(namespaces, "", body);
    if (!r) *error = r.error().describe();
  } else {
    DeleteOptions options;
    auto r = co_await client.remove(namespaces, "", name, options);
    if (!r) *error = r.error().describe();
  }
}

bool namespace_op(bool create) {
  asio::io_context ioc;
  auto client = Client::create(ioc.get_executor(), g_cluster);
  if (!client) {
    std::cerr << "kube_leader_test: " << client.error() << "\n";
    return false;
  }
  std::string error;
  asio::co_spawn(ioc, namespace_request(*client.value(), create, &error), asio::detached);
  ioc.run_for(30s);
  if (!error.empty()) {
    std::cerr << "kube_leader_test: " << (create ? "creating" : "deleting") << " namespace "
              << g_namespace << ": " << error << "\n";
    return false;
  }
  return true;
}

}  // namespace
}  // namespace sto::kube

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto cluster = sto::kube::testing::cluster_from_env();
  if (!cluster) {
    std::cerr << "kube_leader_test: " << cluster.error() << "\n";
    return 1;
  }
  sto::kube::g_cluster = std::move(cluster.value());
  sto::kube::g_namespace = "kube-leader-" + sto::kube::random_hex(6);
  if (!sto::kube::namespace_op(true)) return 1;
  int rc = RUN_ALL_TESTS();
  sto::kube::namespace_op(false);
  return rc;
}
