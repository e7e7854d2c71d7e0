#include "kube/event_recorder.h"

#include <gtest/gtest.h>

#include <set>

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

using sto::testing::run;

std::chrono::system_clock::time_point at(int y, int mo, int d, int h, int mi, int s) {
  using namespace std::chrono;
  return sys_days{year{y} / month{static_cast<unsigned>(mo)} / day{static_cast<unsigned>(d)}} +
         hours{h} + minutes{mi} + seconds{s};
}

ObjectRef config_map(std::string name = "flappy", std::string uid = "uid-cm-1") {
  ObjectRef r;
  r.api_version = "v1";
  r.kind = "ConfigMap";
  r.ns = "team-a";
  r.name = std::move(name);
  r.uid = std::move(uid);
  r.resource_version = "42";
  return r;
}

EventData occurrence(std::string reason = "SyncFailed", std::string note = "it broke") {
  EventData e;
  e.regarding = config_map();
  e.type = EventType::Warning;
  e.reason = std::move(reason);
  e.action = "Reconcile";
  e.note = std::move(note);
  return e;
}

// A Normal-type occurrence: Normal priority unless recorded as Important.
EventData notice(std::string reason = "Synced", std::string note = "all good") {
  EventData e = occurrence(std::move(reason), std::move(note));
  e.type = EventType::Normal;
  return e;
}

// ------------------------------------------------------------ formatting --

TEST(TruncateUtf8, KeepsShortTextAndCutsOnlyBetweenCharacters) {
  EXPECT_EQ(truncate_utf8("hello", 10), "hello");
  EXPECT_EQ(truncate_utf8("hello", 5), "hello");
  EXPECT_EQ(truncate_utf8("hello", 3), "hel");
  // "é" is two bytes: a cut in its middle drops it whole.
  EXPECT_EQ(truncate_utf8("ab\xC3\xA9", 3), "ab");
  EXPECT_EQ(truncate_utf8("ab\xC3\xA9z", 4), "ab\xC3\xA9");
  // "€" is three bytes.
  EXPECT_EQ(truncate_utf8("\xE2\x82\xAC\xE2\x82\xAC", 5), "\xE2\x82\xAC");
  EXPECT_EQ(truncate_utf8(std::string(2000, 'x'), kEventNoteMaxBytes).size(), 1024u);
}

TEST(AggregationKey, SameOccurrenceSameKeyAnyDifferenceAnotherKey) {
  EventData a = occurrence();
  EXPECT_EQ(aggregation_key(a), aggregation_key(occurrence()));
  EventData b = occurrence("OtherReason");
  EXPECT_NE(aggregation_key(a), aggregation_key(b));
  EventData c = occurrence("SyncFailed", "another note");
  EXPECT_NE(aggregation_key(a), aggregation_key(c));
  EventData d = occurrence();
  d.type = EventType::Normal;
  EXPECT_NE(aggregation_key(a), aggregation_key(d));
  EventData e = occurrence();
  e.regarding.uid = "uid-other";
  EXPECT_NE(aggregation_key(a), aggregation_key(e));
  EventData f = occurrence();
  f.action = "Delete";
  EXPECT_NE(aggregation_key(a), aggregation_key(f));
  // A new resourceVersion of the same object continues the series.
  EventData g = occurrence();
  g.regarding.resource_version = "43";
  EXPECT_EQ(aggregation_key(a), aggregation_key(g));
  // Fields cannot bleed into each other.
  EventData h = occurrence("ab", "c");
  EventData i = occurrence("a", "bc");
  EXPECT_NE(aggregation_key(h), aggregation_key(i));
}

TEST(EventName, IsRegardingNameDotHexAndFitsADnsSubdomain) {
  EXPECT_EQ(event_name("flappy", 0x1a2b3c), "flappy.1a2b3c");
  std::string long_name(253, 'n');
  std::string name = event_name(long_name, 0xffffffffffffffffULL);
  EXPECT_EQ(name.size(), 253u);
  EXPECT_EQ(name.substr(name.size() - 17), ".ffffffffffffffff");
  // A cut never leaves a dot or dash before the suffix.
  std::string dotted = std::string(235, 'a') + ".-b";
  std::string cut = event_name(dotted, 0xffffffffffffffffULL);
  EXPECT_EQ(cut, std::string(235, 'a') + ".ffffffffffffffff");
}

TEST(EventBody, HasTheEventsV1Fields) {
  EventObject o;
  o.name = "flappy.abc";
  o.ns = "team-a";
  o.reporting_controller = "monitoring.ibm.com/sysdig-token-operator";
  o.reporting_instance = "pod-1";
  o.event_time = at(2026, 11, 28, 10, 0, 0);
  json body = json::parse(build_event_body(occurrence(), o));
  EXPECT_EQ(body["apiVersion"], "events.k8s.io/v1");
  EXPECT_EQ(body["kind"], "Event");
  EXPECT_EQ(body["metadata"]["name"], "flappy.abc");
  EXPECT_EQ(body["metadata"]["namespace"], "team-a");
  EXPECT_EQ(body["eventTime"], "2026-11-28T10:00:00.000000Z");
  EXPECT_EQ(body["reportingController"], "monitoring.ibm.com/sysdig-token-operator");
  EXPECT_EQ(body["reportingInstance"], "pod-1");
  EXPECT_EQ(body["type"], "Warning");
  EXPECT_EQ(body["reason"], "SyncFailed");
  EXPECT_EQ(body["action"], "Reconcile");
  EXPECT_EQ(body["note"], "it broke");
  EXPECT_EQ(body["regarding"], json({{"apiVersion", "v1"},
                                     {"kind", "ConfigMap"},
                                     {"namespace", "team-a"},
                                     {"name", "flappy"},
                                     {"uid", "uid-cm-1"},
                                     {"resourceVersion", "42"}}));
  EXPECT_FALSE(body.contains("series"));
}

TEST(EventBody, StartsWithASeriesWhenRepeatsCameFirst) {
  EventObject o;
  o.name = "x.1";
  o.ns = "team-a";
  o.event_time = at(2026, 11, 28, 10, 0, 0);
  o.count = 3;
  o.last_observed = at(2026, 11, 28, 10, 0, 7);
  json body = json::parse(build_event_body(occurrence(), o));
  EXPECT_EQ(body["series"]["count"], 3);
  EXPECT_EQ(body["series"]["lastObservedTime"], "2026-11-28T10:00:07.000000Z");
}

TEST(EventBody, CutsTextToTheApiLimitsAndSurvivesInvalidUtf8) {
  EventData e = occurrence(std::string(300, 'r'), std::string(5000, 'n'));
  e.action = std::string(200, 'a');
  e.note[10] = '\xFF';  // not UTF-8
  EventObject o;
  o.name = "x.1";
  o.reporting_instance = std::string(200, 'i');
  json body = json::parse(build_event_body(e, o));
  EXPECT_EQ(body["note"].get<std::string>().size(), kEventNoteMaxBytes + 2);  // U+FFFD is 3 bytes
  EXPECT_EQ(body["reason"].get<std::string>().size(), 128u);
  EXPECT_EQ(body["action"].get<std::string>().size(), 128u);
  EXPECT_EQ(body["reportingInstance"].get<std::string>().size(), 128u);
}

TEST(SeriesPatch, SetsCountAndLastObservedTime) {
  json patch = json::parse(build_series_patch(5, at(2026, 11, 28, 10, 1, 2) + 3us));
  EXPECT_EQ(
      patch,
      json::parse(R"({"series":{"count":5,"lastObservedTime":"2026-11-28T10:01:02.000003Z"}})"));
}

TEST(EventNamespace, IsTheObjectsOrDefaultForClusterScopedObjects) {
  EXPECT_EQ(event_namespace(config_map()), "team-a");
  ObjectRef ns;
  ns.kind = "Namespace";
  ns.name = "team-a";
  EXPECT_EQ(event_namespace(ns), "default");
}

TEST(TokenBucket, AllowsABurstThenRefillsAtItsRate) {
  auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  TokenBucket b(1.0 / 300, 3, t0);  // 3, then one per 5 minutes
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_TRUE(b.try_take(t0));
  EXPECT_FALSE(b.try_take(t0 + 1min));
  EXPECT_FALSE(b.full(t0 + 1min));
  EXPECT_TRUE(b.try_take(t0 + 5min));
  EXPECT_FALSE(b.try_take(t0 + 5min));
  EXPECT_TRUE(b.full(t0 + 30min));
}

// ------------------------------------------------------------- recorder --

struct Fixture {
  std::shared_ptr<FakeApi> api = std::make_shared<FakeApi>();
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point wall = at(2026, 11, 28, 10, 0, 0);
  std::vector<std::string> errors;

  EventRecorderOptions options() {
    EventRecorderOptions o;
    o.now = [this] { return now; };
    o.wall_now = [this] { return wall; };
    o.on_error = [this](const kube::ErrorReport& e) { errors.emplace_back(e.message); };
    return o;
  }
  std::vector<json> events() { return api->all("events"); }
};

void record(EventRecorder& r, const EventData& e) {
  r.record(e.regarding, e.type, e.reason, e.action, e.note);
}

void record(EventRecorder& r, const EventData& e, EventPriority priority) {
  r.record(e.regarding, e.type, e.reason, e.action, e.note, priority);
}

std::multiset<std::string> reasons(const std::vector<json>& events) {
  std::multiset<std::string> out;
  for (const auto& e : events) out.insert(e["reason"].get<std::string>());
  return out;
}

int series_count(const json& event) {
  return event.contains("series") ? event["series"]["count"].get<int>() : 1;
}

// Starts the recorder's sender, runs body, stops it.
template <typename F>
void with_recorder(EventRecorder& recorder, F&& body) {
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    asio::co_spawn(ioc, recorder.run(), asio::detached);
    co_await body();
    recorder.stop();
  });
}

TEST(EventRecorder, RepeatsPatchTheSeriesOfOneEvent) {
  Fixture f;
  EventRecorder recorder(f.api, "monitoring.ibm.com/sysdig-token-operator", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      f.wall += 10s;
      f.now += 10s;
      record(recorder, occurrence());
      co_await recorder.flush();
    }
  });
  auto events = f.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["series"]["count"], 5);
  EXPECT_EQ(events[0]["series"]["lastObservedTime"], "2026-11-28T10:00:50.000000Z");
  EXPECT_EQ(events[0]["eventTime"], "2026-11-28T10:00:10.000000Z");
  EXPECT_EQ(f.api->count("create", "events"), 1u);
  EXPECT_EQ(f.api->count("patch", "events"), 4u);
  // The first repeat starts the series with count 2.
  EXPECT_EQ(json::parse(f.api->calls[1].body)["series"]["count"], 2);
  EXPECT_EQ(recorder.stats().created, 1u);
  EXPECT_EQ(recorder.stats().patched, 4u);
  EXPECT_TRUE(f.errors.empty());
}

TEST(EventRecorder, RepeatsWaitingInTheQueueFoldIntoOneRequest) {
  Fixture f;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) record(recorder, occurrence());
    co_await recorder.flush();
  });
  ASSERT_EQ(f.api->calls.size(), 1u);
  auto events = f.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["series"]["count"], 5);
}

TEST(EventRecorder, DifferentReasonsAreSeparateEvents) {
  Fixture f;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, occurrence("A"));
    record(recorder, occurrence("B"));
    record(recorder, occurrence("A"));
    co_await recorder.flush();
  });
  auto events = f.events();
  ASSERT_EQ(events.size(), 2u);
  std::map<std::string, int> counts;
  for (const auto& e : events)
    counts[e["reason"]] = e.contains("series") ? e["series"]["count"].get<int>() : 1;
  EXPECT_EQ(counts["A"], 2);
  EXPECT_EQ(counts["B"], 1);
}

TEST(EventRecorder, ASeriesEndsAfterTheWindowAndANewEventStarts) {
  Fixture f;
  auto o = f.options();
  o.series_window = 10min;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, occurrence());
    co_await recorder.flush();
    f.now += 9min;
    record(recorder, occurrence());  // within the window: patch
    co_await recorder.flush();
    f.now += 11min;
    f.wall += 20min;
    record(recorder, occurrence());  // after it: a new Event
    co_await recorder.flush();
  });
  EXPECT_EQ(f.api->count("create", "events"), 2u);
  EXPECT_EQ(f.api->count("patch", "events"), 1u);
  EXPECT_EQ(f.events().size(), 2u);
}

TEST(EventRecorder, PerObjectBudgetDropsNewNormalEventsButKeepsTheSeriesCount) {
  Fixture f;
  auto o = f.options();
  o.per_object_burst = 2;
  o.per_object_refill = 5min;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, notice("A"));  // create: 1st token
    co_await recorder.flush();
    record(recorder, notice("A"));  // patch count 2: 2nd token
    co_await recorder.flush();
    record(recorder, notice("A"));  // over budget: counted only (3)
    record(recorder, notice("B"));  // over budget: a new event is dropped
    co_await recorder.flush();
    EXPECT_EQ(f.api->calls.size(), 2u);
    f.now += 5min;
    record(recorder, notice("A"));  // one token again: patch count 4
    co_await recorder.flush();
  });
  auto events = f.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reason"], "A");
  EXPECT_EQ(events[0]["series"]["count"], 4);
  EXPECT_EQ(recorder.stats().dropped, 1u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("per-object"), std::string::npos) << f.errors[0];
}

TEST(EventRecorder, AFloodOfDistinctNormalEventsIsBoundedByTheQueue) {
  Fixture f;
  auto o = f.options();
  o.max_queue = 3;
  o.per_object_burst = 1000;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10; ++i) record(recorder, notice("R" + std::to_string(i)));
    co_await recorder.flush();
  });
  EXPECT_EQ(f.events().size(), 3u);
  EXPECT_EQ(recorder.stats().dropped, 7u);
}

TEST(EventRecorder, AnExpiredEventIsCreatedAgainWithTheSeries) {
  Fixture f;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, occurrence());
    co_await recorder.flush();
    f.api->objects.clear();  // the API server's event TTL passed
    record(recorder, occurrence());
    co_await recorder.flush();
  });
  auto events = f.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["series"]["count"], 2);
  EXPECT_EQ(f.api->count("create", "events"), 2u);
  EXPECT_EQ(f.api->count("patch", "events"), 1u);
}

TEST(EventRecorder, FailuresAreReportedAndNeverBlockTheCaller) {
  Fixture f;
  f.api->latency = 50ms;
  f.api->inject = [](const FakeApi::Call&) -> std::optional<ApiError> {
    return testing::api_error(ApiErrorKind::ServerError, 500, "InternalError", "etcd is sad");
  };
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) record(recorder, occurrence("R" + std::to_string(i)));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 20ms);  // record() returned at once
    co_await recorder.flush();
  });
  EXPECT_EQ(recorder.stats().failed, 3u);
  EXPECT_EQ(f.api->calls.size(), 3u);  // no retry loop
  ASSERT_EQ(f.errors.size(), 3u);
  EXPECT_NE(f.errors[0].find("etcd is sad"), std::string::npos) << f.errors[0];
}

TEST(EventRecorder, ANameCollisionIsRetriedUnderANewName) {
  Fixture f;
  int collisions = 0;
  f.api->inject = [&](const FakeApi::Call& c) -> std::optional<ApiError> {
    if (c.verb == "create" && collisions++ == 0) {
      return testing::api_error(ApiErrorKind::AlreadyExists, 409, "AlreadyExists", "exists");
    }
    return std::nullopt;
  };
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, occurrence());
    co_await recorder.flush();
  });
  ASSERT_EQ(f.api->calls.size(), 2u);
  EXPECT_NE(json::parse(f.api->calls[0].body)["metadata"]["name"],
            json::parse(f.api->calls[1].body)["metadata"]["name"]);
  EXPECT_EQ(f.events().size(), 1u);
}

TEST(EventRecorder, EventsAboutClusterScopedObjectsGoToDefault) {
  Fixture f;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  ObjectRef ns;
  ns.api_version = "v1";
  ns.kind = "Namespace";
  ns.name = "team-a";
  ns.uid = "uid-ns";
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    recorder.record(ns, EventType::Normal, "Seen", "Observe", "hello");
    co_await recorder.flush();
  });
  ASSERT_EQ(f.api->calls.size(), 1u);
  EXPECT_EQ(f.api->calls[0].ns, "default");
}

TEST(EventRecorder, StopEndsRunAndLaterRecordsAreDropped) {
  Fixture f;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  bool returned = false;
  run([&](asio::io_context& ioc) -> asio::awaitable<void> {
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await recorder.run();
          returned = true;
        },
        asio::detached);
    record(recorder, occurrence());
    co_await recorder.flush();
    recorder.stop();
    record(recorder, occurrence("Late"));
    co_await recorder.flush();
  });
  EXPECT_TRUE(returned);
  EXPECT_EQ(f.api->calls.size(), 1u);
  EXPECT_EQ(recorder.stats().dropped, 1u);
}

// --------------------------------------------------- important events --

TEST(EventRecorder, AnImportantEventDisplacesTheOldestNormalOneFromAFullQueue) {
  Fixture f;
  auto o = f.options();
  o.max_queue = 3;
  o.per_object_burst = 1000;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) record(recorder, notice("R" + std::to_string(i)));
    record(recorder, notice("Late"));  // Normal: the full queue drops it
    EXPECT_EQ(recorder.stats().dropped, 1u);
    record(recorder, occurrence("Broken"));  // a Warning: takes R0's place
    EXPECT_EQ(recorder.stats().queued, 3u);
    co_await recorder.flush();
  });
  EXPECT_EQ(reasons(f.events()), (std::multiset<std::string>{"R1", "R2", "Broken"}));
  EXPECT_EQ(recorder.stats().dropped, 2u);
  ASSERT_EQ(f.errors.size(), 2u);
  EXPECT_NE(f.errors[1].find("R0"), std::string::npos) << f.errors[1];
  EXPECT_NE(f.errors[1].find("important"), std::string::npos) << f.errors[1];
}

TEST(EventRecorder, NormalEventsThatWaitedTooLongAreDroppedWithOneReport) {
  Fixture f;
  auto o = f.options();
  o.per_object_burst = 1000;
  o.max_wait = std::chrono::seconds(10);
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    // A burst the sender has not reached yet...
    for (int i = 0; i < 3; ++i) record(recorder, notice("Synced" + std::to_string(i)));
    record(recorder, notice("Rotated"), EventPriority::Important);
    // ... is still waiting 11 s later: the Normal ones are not sent late.
    f.now += std::chrono::seconds(11);
    record(recorder, notice("Fresh"));
    co_await recorder.flush();
  });
  EXPECT_EQ(reasons(f.events()), (std::multiset<std::string>{"Rotated", "Fresh"}));
  EXPECT_EQ(recorder.stats().dropped, 3u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("3 queued events dropped: not sent within 10s"), std::string::npos)
      << f.errors[0];
}

TEST(EventRecorder, ANormalEventRecordedAsImportantIsKeptToo) {
  Fixture f;
  auto o = f.options();
  o.max_queue = 2;
  o.per_object_burst = 1000;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, notice("R0"));
    record(recorder, notice("R1"));
    record(recorder, notice("Rotated"), EventPriority::Important);
    co_await recorder.flush();
  });
  EXPECT_EQ(reasons(f.events()), (std::multiset<std::string>{"R1", "Rotated"}));
  EXPECT_EQ(recorder.stats().dropped, 1u);
}

TEST(EventRecorder, AQueueOfImportantEventsGrowsAndRepeatsStillFold) {
  Fixture f;
  auto o = f.options();
  o.max_queue = 2;
  o.per_object_burst = 1000;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 4; ++i) record(recorder, occurrence("W" + std::to_string(i)));
    record(recorder, occurrence("W0"));  // folds into the queued W0
    EXPECT_EQ(recorder.stats().queued, 4u);
    record(recorder, notice("N"));  // Normal, and nothing to displace: dropped
    co_await recorder.flush();
  });
  auto events = f.events();
  EXPECT_EQ(reasons(events), (std::multiset<std::string>{"W0", "W1", "W2", "W3"}));
  for (const auto& e : events) EXPECT_EQ(series_count(e), e["reason"] == "W0" ? 2 : 1);
  EXPECT_EQ(f.api->calls.size(), 4u);
  EXPECT_EQ(recorder.stats().dropped, 1u);
}

TEST(EventRecorder, OverThePerObjectBudgetAnImportantNewEventIsStillSent) {
  Fixture f;
  auto o = f.options();
  o.per_object_burst = 1;
  o.per_object_refill = 5min;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, notice("A"));  // the only token
    co_await recorder.flush();
    record(recorder, occurrence("B"));  // a Warning over budget: sent anyway
    record(recorder, notice("C"));      // Normal over budget: dropped
    co_await recorder.flush();
  });
  EXPECT_EQ(reasons(f.events()), (std::multiset<std::string>{"A", "B"}));
  EXPECT_EQ(recorder.stats().dropped, 1u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("C about"), std::string::npos) << f.errors[0];
}

TEST(EventRecorder, AnImportantRepeatOverTheBudgetIsCountedInTheNextPatch) {
  Fixture f;
  auto o = f.options();
  o.per_object_burst = 2;
  o.per_object_refill = 5min;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    record(recorder, occurrence("A"));  // create
    co_await recorder.flush();
    record(recorder, occurrence("A"));  // patch, count 2
    co_await recorder.flush();
    f.wall += 1s;
    record(recorder, occurrence("A"));  // over budget: counted (3), no request
    record(recorder, occurrence("B"));  // over budget, new and a Warning: created
    co_await recorder.flush();
    EXPECT_EQ(f.api->count("patch", "events"), 1u);
    f.now += 5min;
    f.wall += 1s;
    record(recorder, occurrence("A"));  // a token again: the patch carries 4
    co_await recorder.flush();
  });
  auto events = f.events();
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) {
    if (e["reason"] == "A") {
      EXPECT_EQ(e["series"]["count"], 4);
      EXPECT_EQ(e["series"]["lastObservedTime"], "2026-11-28T10:00:02.000000Z");
    } else {
      EXPECT_EQ(series_count(e), 1);
    }
  }
  EXPECT_EQ(f.api->count("patch", "events"), 2u);
  EXPECT_EQ(recorder.stats().dropped, 0u);
  EXPECT_TRUE(f.errors.empty());
}

TEST(EventRecorder, AnEndedImportantSeriesSendsItsUnsentCountInALastPatch) {
  Fixture f;
  auto o = f.options();
  o.series_window = 10min;
  o.per_object_burst = 2;
  o.per_object_refill = 5min;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  EventData normal = notice("Flapping");
  normal.regarding = config_map("other", "uid-cm-2");
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      record(recorder, occurrence("A"));  // created, patched (2), then counted (3)
      record(recorder, normal);           // the same for a Normal series
      co_await recorder.flush();
    }
    EXPECT_EQ(f.api->calls.size(), 4u);
    f.now += 11min;  // both series are over, nothing more comes
    record(recorder, notice("Tick"));  // expiry runs
    co_await recorder.flush();
    record(recorder, occurrence("A"));  // after the window: a new Event
    co_await recorder.flush();
  });
  std::map<std::string, std::multiset<int>> counts;
  for (const auto& e : f.events()) counts[e["reason"]].insert(series_count(e));
  // The Important series got its last count; the Normal one keeps today's
  // rule and its count over the budget is forgotten with it.
  EXPECT_EQ(counts["A"], (std::multiset<int>{1, 3}));
  EXPECT_EQ(counts["Flapping"], (std::multiset<int>{2}));
  EXPECT_EQ(f.api->count("patch", "events"), 3u);
  EXPECT_TRUE(f.errors.empty());
}

// ------------------------------------------------------------- expiry --

TEST(EventRecorder, SeriesAndBudgetsAreForgottenAfterTheWindow) {
  Fixture f;
  auto o = f.options();
  o.series_window = 10min;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  auto about = [](int i) {
    EventData e = notice();
    e.regarding = config_map("cm-" + std::to_string(i), "uid-" + std::to_string(i));
    return e;
  };
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 50; ++i) record(recorder, about(i));
    co_await recorder.flush();
    EXPECT_EQ(recorder.stats().tracked_series, 50u);
    EXPECT_EQ(recorder.stats().tracked_objects, 50u);
    f.now += 2min;  // a prune runs, but nothing has expired yet
    record(recorder, about(100));
    co_await recorder.flush();
    EXPECT_EQ(recorder.stats().tracked_series, 51u);
    EXPECT_EQ(recorder.stats().tracked_objects, 51u);
    f.now += 9min;  // the first 50 are past the window; every bucket is full
    record(recorder, about(101));
    co_await recorder.flush();
    EXPECT_EQ(recorder.stats().tracked_series, 2u);   // 100 and 101
    EXPECT_EQ(recorder.stats().tracked_objects, 1u);  // 101: 100's is full again
    f.now += 30s;  // within the prune interval: nothing is looked at
    record(recorder, about(102));
    EXPECT_EQ(recorder.stats().tracked_series, 3u);
    co_await recorder.flush();
  });
  EXPECT_EQ(f.api->count("create", "events"), 53u);
}

TEST(EventRecorder, BeyondMaxSeriesTheLeastRecentlySeenIsForgotten) {
  Fixture f;
  auto o = f.options();
  o.max_series = 3;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (const char* r : {"A", "B", "C"}) record(recorder, notice(r));
    co_await recorder.flush();
    record(recorder, notice("A"));  // A is seen again: B is now the oldest
    co_await recorder.flush();
    record(recorder, notice("D"));  // B is forgotten
    co_await recorder.flush();
    EXPECT_EQ(recorder.stats().tracked_series, 3u);
    record(recorder, notice("A"));  // A is still a series: a patch
    record(recorder, notice("B"));  // B starts over: a new Event
    co_await recorder.flush();
  });
  std::map<std::string, std::multiset<int>> counts;
  for (const auto& e : f.events()) counts[e["reason"]].insert(series_count(e));
  EXPECT_EQ(counts["A"], (std::multiset<int>{3}));
  EXPECT_EQ(counts["B"], (std::multiset<int>{1, 1}));
  EXPECT_EQ(f.api->count("create", "events"), 5u);
  EXPECT_EQ(f.api->count("patch", "events"), 2u);
}

// -------------------------------------------------------------- flush --

TEST(EventRecorder, FlushReturnsByItsTimeoutAndReportsTheDropsOnce) {
  Fixture f;
  f.api->latency = 500ms;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  std::chrono::steady_clock::duration waited{};
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) record(recorder, occurrence("R" + std::to_string(i)));
    const auto timeout = 100ms;
    auto start = std::chrono::steady_clock::now();
    co_await recorder.flush(timeout);
    waited = std::chrono::steady_clock::now() - start;
    // R0 is in flight; the four behind it are given up.
    EXPECT_EQ(recorder.stats().queued, 0u);
    EXPECT_EQ(recorder.stats().dropped, 4u);
  });
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 400ms);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("4 queued events dropped: shutdown"), std::string::npos)
      << f.errors[0];
  EXPECT_EQ(reasons(f.events()), (std::multiset<std::string>{"R0"}));  // finished after stop()
  EXPECT_EQ(recorder.stats().created, 1u);
}

TEST(EventRecorder, FlushWithoutATimeoutUsesTheOption) {
  Fixture f;
  f.api->latency = 500ms;
  auto o = f.options();
  o.flush_timeout = 50ms;
  EventRecorder recorder(f.api, "ctl", "pod-1", o);
  std::chrono::steady_clock::duration waited{};
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) record(recorder, notice("R" + std::to_string(i)));
    auto start = std::chrono::steady_clock::now();
    co_await recorder.flush();
    waited = std::chrono::steady_clock::now() - start;
  });
  EXPECT_LT(waited, 400ms);
  EXPECT_EQ(recorder.stats().dropped, 2u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("2 queued events"), std::string::npos) << f.errors[0];
}

TEST(EventRecorder, StopDropsWhatIsQueuedWithOneReport) {
  Fixture f;
  f.api->latency = 200ms;
  EventRecorder recorder(f.api, "ctl", "pod-1", f.options());
  with_recorder(recorder, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) record(recorder, occurrence("R" + std::to_string(i)));
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer pause(executor, 20ms);
    co_await pause.async_wait(asio::use_awaitable);  // R0 is now in flight
  });
  EXPECT_EQ(recorder.stats().created, 1u);
  EXPECT_EQ(recorder.stats().dropped, 4u);
  ASSERT_EQ(f.errors.size(), 1u);
  EXPECT_NE(f.errors[0].find("4 queued events dropped: shutdown"), std::string::npos)
      << f.errors[0];
}

}  // namespace
}  // namespace sto::kube
