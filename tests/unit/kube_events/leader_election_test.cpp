#include "kube/leader_election.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include "fake_kube_api.h"
#include "run_coroutine.h"

namespace sto::kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using nlohmann::json;
using testing::FakeApi;
using Clock = std::chrono::steady_clock;

using sto::testing::run;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Polls pred every 5 ms; false when it did not turn true within timeout.
template <typename Pred>
asio::awaitable<bool> eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= until) co_return false;
    co_await sleep_for(5ms);
  }
  co_return true;
}

LeaderElectionConfig config(std::string identity) {
  LeaderElectionConfig c;
  c.ns = "ops";
  c.name = "sto-leader";
  c.identity = std::move(identity);
  c.lease_duration = 2s;
  c.renew_deadline = 1s;
  c.retry_period = 200ms;
  return c;
}

// A candidate with its callbacks observed.
struct Candidate {
  std::unique_ptr<LeaderElector> elector;
  int started = 0;
  int stopped = 0;
  bool returned = false;
  Clock::time_point started_at{};
  Clock::time_point stopped_at{};
  std::vector<std::string> leaders;
  std::vector<std::string> errors;

  Candidate(std::shared_ptr<Client> api, LeaderElectionConfig c) {
    LeaderElectionCallbacks cb;
    cb.on_started_leading = [this] {
      ++started;
      started_at = Clock::now();
    };
    cb.on_stopped_leading = [this] {
      ++stopped;
      stopped_at = Clock::now();
    };
    cb.on_new_leader = [this](const std::string& id) { leaders.push_back(id); };
    cb.on_error = [this](const kube::ErrorReport& e) { errors.emplace_back(e.message); };
    elector = std::make_unique<LeaderElector>(std::move(api), std::move(c), std::move(cb));
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

json lease_of(FakeApi& api) {
  auto* l = api.find("leases", "ops", "sto-leader");
  return l ? *l : json();
}

void put_lease(FakeApi& api, const std::string& holder, int duration, std::string renew_time) {
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "sto-leader"}}},
                {"spec",
                 {{"holderIdentity", holder},
                  {"leaseDurationSeconds", duration},
                  {"acquireTime", renew_time},
                  {"renewTime", renew_time},
                  {"leaseTransitions", 0}}}};
  api.put("leases", "ops", lease);
}

// ------------------------------------------------------------- config --

TEST(LeaderElectionConfig, DefaultsAreClientGos) {
  LeaderElectionConfig c;
  EXPECT_EQ(c.lease_duration, 15s);
  EXPECT_EQ(c.renew_deadline, 10s);
  EXPECT_EQ(c.retry_period, 2s);
  c.ns = "ops";
  c.name = "sto";
  EXPECT_TRUE(validate(c).ok());
}

TEST(LeaderElectionConfig, RejectsTimingsThatCannotWorkWithAClearMessage) {
  auto c = config("a");
  c.renew_deadline = 2s;
  auto r = validate(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error(),
      "leader election: the renew deadline (2s) must be shorter than the lease duration (2s)");

  c = config("a");
  c.retry_period = 1s;
  r = validate(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(),
            "leader election: the retry period (1s) must be shorter than the renew deadline (1s)");

  c = config("a");
  c.lease_duration = 2500ms;
  r = validate(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("whole number of seconds"), std::string::npos) << r.error();

  c = config("a");
  c.retry_period = 0ms;
  EXPECT_FALSE(validate(c).ok());

  c = config("a");
  c.name.clear();
  EXPECT_FALSE(validate(c).ok());

  c = config("a");
  c.renew_deadline = 3s;
  EXPECT_THROW(LeaderElector(std::make_shared<FakeApi>(), c, {}), std::invalid_argument);
}

TEST(LeaderElectionConfig, DefaultIdentityIsHostnameAndARandomSuffix) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string a = default_identity();
  std::string b = default_identity();
  EXPECT_EQ(a.rfind(std::string(host) + "_", 0), 0u) << a;
  EXPECT_NE(a, b);
  LeaderElector e(std::make_shared<FakeApi>(), config(""), {});
  EXPECT_EQ(e.identity().rfind(std::string(host) + "_", 0), 0u);
}

// ------------------------------------------------------------ election --

TEST(LeaderElector, CreatesAMissingLeaseLeadsAndRenews) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    json first = lease_of(*api);
    EXPECT_EQ(first["spec"]["holderIdentity"], "a");
    EXPECT_EQ(first["spec"]["leaseDurationSeconds"], 2);
    EXPECT_EQ(first["spec"]["leaseTransitions"], 0);
    EXPECT_EQ(first["spec"]["acquireTime"], first["spec"]["renewTime"]);
    co_await sleep_for(500ms);
    json later = lease_of(*api);
    EXPECT_GT(later["spec"]["renewTime"].get<std::string>(),
              first["spec"]["renewTime"].get<std::string>());
    EXPECT_EQ(later["spec"]["acquireTime"], first["spec"]["acquireTime"]);
    EXPECT_EQ(later["spec"]["holderIdentity"], "a");
    // Renewals write the Lease they hold without reading it first.
    EXPECT_EQ(api->count("get", "leases"), 1u);
    EXPECT_GE(api->count("update", "leases"), 2u);
    co_await a.elector->release();
  });
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.stopped, 1);
  EXPECT_TRUE(a.returned);
  EXPECT_FALSE(a.elector->is_leader());
  EXPECT_EQ(a.leaders, std::vector<std::string>{"a"});
  json released = lease_of(*api);
  EXPECT_EQ(released["spec"]["holderIdentity"], "");
  EXPECT_EQ(released["spec"]["leaseDurationSeconds"], 1);
}

TEST(LeaderElector, WaitsOutAnotherHolderByTheLocalClockOnly) {
  auto api = std::make_shared<FakeApi>();
  // A renewTime long past must not make the Lease look expired: only the
  // local time since the record last changed counts.
  put_lease(*api, "other", 1, "2000-01-01T00:00:00.000000Z");
  Candidate a(api, config("a"));
  Clock::time_point start;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    start = Clock::now();
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 3s));
    a.elector->stop();
    co_await sleep_for(10ms);
  });
  auto waited = a.started_at - start;
  EXPECT_GE(waited, 1s);
  EXPECT_LT(waited, 1s + 300ms);
  EXPECT_EQ(a.leaders, (std::vector<std::string>{"other", "a"}));
  json lease = lease_of(*api);
  EXPECT_EQ(lease["spec"]["holderIdentity"], "a");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_NE(lease["spec"]["acquireTime"], "2000-01-01T00:00:00.000000Z");
}

TEST(LeaderElector, KeepsWaitingWhileTheHolderRenews) {
  auto api = std::make_shared<FakeApi>();
  put_lease(*api, "other", 1, "2026-01-01T00:00:00.000000Z");
  Candidate a(api, config("a"));
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    for (int i = 0; i < 6; ++i) {  // "other" renews every 400 ms for 2.4 s
      co_await sleep_for(400ms);
      put_lease(*api, "other", 1, "2026-01-01T00:00:0" + std::to_string(i) + ".000000Z");
    }
    EXPECT_FALSE(a.elector->is_leader());
    a.elector->stop();
    co_await sleep_for(10ms);
  });
  EXPECT_EQ(a.started, 0);
  EXPECT_TRUE(a.returned);
}

TEST(LeaderElector, TakesAReleasedLeaseAtOnce) {
  auto api = std::make_shared<FakeApi>();
  put_lease(*api, "", 1, "2026-01-01T00:00:00.000000Z");
  Candidate a(api, config("a"));
  Clock::time_point start;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    start = Clock::now();
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    a.elector->stop();
    co_await sleep_for(10ms);
  });
  EXPECT_LT(a.started_at - start, 100ms);
  EXPECT_EQ(lease_of(*api)["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElector, StopsLeadingWhenRenewalsHangPastTheRenewDeadline) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  Clock::time_point hung;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    co_await sleep_for(300ms);
    api->latency = 2500ms;  // the API server stops answering in time
    hung = Clock::now();
    EXPECT_TRUE(co_await eventually([&] { return a.stopped > 0; }, 2s));
    a.elector->stop();
  });
  // Within the renew deadline of the last renew sent before the hang.
  auto took = a.stopped_at - hung;
  EXPECT_LE(took, 1s + 50ms);
  EXPECT_GE(took, 1s - 200ms - 50ms);
  EXPECT_FALSE(a.elector->is_leader());
  EXPECT_TRUE(a.returned);
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.stopped, 1);
}

TEST(LeaderElector, StopsLeadingAtOnceWhenSomeoneElseHoldsTheLease) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  Clock::time_point stolen;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    put_lease(*api, "thief", 2, "2026-01-01T00:00:00.000000Z");
    stolen = Clock::now();
    EXPECT_TRUE(co_await eventually([&] { return a.stopped > 0; }, 2s));
    a.elector->stop();
  });
  EXPECT_LE(a.stopped_at - stolen, 200ms + 50ms);  // the next renew notices
  EXPECT_TRUE(a.returned);
  EXPECT_EQ(lease_of(*api)["spec"]["holderIdentity"], "thief");
  EXPECT_EQ(a.leaders, (std::vector<std::string>{"a", "thief"}));
}

TEST(LeaderElector, RenewFailuresWithinTheDeadlineAreRiddenOut) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  bool failing = false;
  api->inject = [&](const FakeApi::Call&) -> std::optional<ApiError> {
    if (!failing) return std::nullopt;
    return testing::api_error(ApiErrorKind::ServerError, 500, "InternalError",
                              "etcd leader changed");
  };
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    failing = true;
    co_await sleep_for(500ms);  // two or three failed renewals
    failing = false;
    co_await sleep_for(1500ms);
    EXPECT_TRUE(a.elector->is_leader());
    a.elector->stop();
    co_await sleep_for(10ms);
  });
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.stopped, 1);
  EXPECT_FALSE(a.errors.empty());
  EXPECT_NE(a.errors[0].find("etcd leader changed"), std::string::npos) << a.errors[0];
}

TEST(LeaderElector, OfTwoCandidatesOneLeadsAndReleaseHandsOverAtOnce) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  Candidate b(api, config("b"));
  Clock::time_point released;
  Candidate* first = nullptr;
  Candidate* second = nullptr;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    b.start(ioc);
    EXPECT_TRUE(
        co_await eventually([&] { return a.elector->is_leader() || b.elector->is_leader(); }, 1s));
    co_await sleep_for(500ms);
    EXPECT_NE(a.elector->is_leader(), b.elector->is_leader());
    first = a.elector->is_leader() ? &a : &b;
    second = first == &a ? &b : &a;
    EXPECT_EQ(lease_of(*api)["spec"]["holderIdentity"], first->elector->identity());
    co_await first->elector->release();
    released = Clock::now();
    EXPECT_TRUE(co_await eventually([&] { return second->elector->is_leader(); }, 1s));
    second->elector->stop();
    co_await sleep_for(10ms);
  });
  ASSERT_NE(second, nullptr);
  EXPECT_LE(second->started_at - released, 240ms + 50ms);  // one jittered retry period
  EXPECT_EQ(first->stopped, 1);
  EXPECT_TRUE(first->returned);
  EXPECT_EQ(lease_of(*api)["spec"]["holderIdentity"], second->elector->identity());
  EXPECT_EQ(lease_of(*api)["spec"]["leaseTransitions"], 1);
}

TEST(LeaderElector, ReleaseLeavesALeaseSomeoneElseTookAlone) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    put_lease(*api, "thief", 2, "2026-01-01T00:00:00.000000Z");
    co_await a.elector->release();  // before the next renew notices
  });
  EXPECT_EQ(lease_of(*api)["spec"]["holderIdentity"], "thief");
  EXPECT_EQ(a.stopped, 1);
  EXPECT_TRUE(a.returned);
}

TEST(LeaderElector, StopEndsACampaignWithoutLeading) {
  auto api = std::make_shared<FakeApi>();
  put_lease(*api, "other", 1, "2026-01-01T00:00:00.000000Z");
  Candidate a(api, config("a"));
  Clock::time_point stop;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    co_await sleep_for(300ms);
    stop = Clock::now();
    co_await a.elector->release();  // nothing to release: not the holder
    EXPECT_TRUE(a.returned);
  });
  EXPECT_EQ(a.started, 0);
  EXPECT_EQ(a.stopped, 0);
  EXPECT_EQ(lease_of(*api)["spec"]["holderIdentity"], "other");
  // run() after stop returns at once.
  run([&](asio::io_context&) -> asio::awaitable<void> { co_await a.elector->run(); });
}

TEST(LeaderElector, ALateAnswerAfterTheDeadlineDoesNotRestartLeading) {
  auto api = std::make_shared<FakeApi>();
  Candidate a(api, config("a"));
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    a.start(ioc);
    EXPECT_TRUE(co_await eventually([&] { return a.elector->is_leader(); }, 1s));
    api->latency = 1500ms;
    EXPECT_TRUE(co_await eventually([&] { return a.stopped > 0; }, 2s));
    co_await sleep_for(1600ms);  // the hung renewal answers now
    EXPECT_FALSE(a.elector->is_leader());
    a.elector->stop();
  });
  EXPECT_EQ(a.started, 1);
  EXPECT_EQ(a.stopped, 1);
}

}  // namespace
}  // namespace sto::kube
