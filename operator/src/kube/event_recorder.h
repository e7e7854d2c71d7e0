// EventRecorder: Kubernetes Events (events.k8s.io/v1) about objects, sent in
// the background so that recording never blocks a reconcile.
//
// Repeats aggregate instead of flooding the API, as client-go's events v1
// recorder does: an event with the same regarding object, type, reason,
// action and note as one recorded within the series window becomes a merge
// patch of that Event's `series` {count, lastObservedTime} (the first repeat
// starts the series with count 2). Repeats that arrive while the previous
// one is still queued fold into it and cost no request at all.
//
// Two budgets keep a flapping object from flooding the API server: a per-object
// token bucket (client-go's spam filter: burst 25, then one request per five
// minutes) and an overall rate limit on requests (25/s, burst 100). Over the
// per-object budget, or when the bounded queue (max_queue distinct events) is
// full, a repeat of an existing series is still counted and its count
// reaches the API server with the next patch that is sent.
//
// What happens to anything else depends on the occurrence's priority.
// Warning events are always Important; a Normal event is when the caller
// says so.
//   - Normal: over a budget or beyond the full queue it is dropped.
//   - Important: it is never dropped for want of room. Over the per-object
//     budget a new event is queued all the same. When the queue is full, the
//     oldest queued Normal-priority event makes room (dropped if the API
//     server has not seen it, else its count waits for the next patch); if
//     every queued event is Important, the queue grows past max_queue. That
//     growth is bounded: an aggregation key is queued at most once (repeats
//     fold into it), so the excess is at most the number of distinct
//     Important events waiting, in practice a few per object.
// A repeat that is Important makes its whole series Important.
//
// Recorder state expires instead of growing with every object ever seen: a
// series is forgotten once the series window has passed since its last
// occurrence (beyond max_series the least recently seen is forgotten
// earlier), a per-object budget once its bucket is full again (a full
// bucket is what a new one would be). An Important series whose count the
// API server has not seen yet gets one last patch instead of being
// forgotten. Expiry is checked at most once a minute, on record() and in the
// sender (which wakes for it only while anything is remembered); queued and
// in-flight events are never forgotten.
//
// Dropped events and failed requests are reported through on_error; failed
// requests are never retried in a loop. flush() is bounded by flush_timeout
// (5 s), so that a shutdown fits Kubernetes' grace period: what is still
// queued when it expires is dropped and reported once with its count.
//
// Single-threaded: use from the executor's thread that runs run().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/rfc3339.h"  // format_micro_time, for Event times
#include "kube/client.h"
#include "kube/error_report.h"

namespace sto::kube {

// The object an event is about (an ObjectReference).
struct ObjectRef {
  std::string api_version;  // "v1", "monitoring.ibm.com/v1alpha1"
  std::string kind;
  std::string ns;  // empty for cluster-scoped objects
  std::string name;
  std::string uid;
  std::string resource_version;
};

enum class EventType { Normal, Warning };
std::string_view to_string(EventType type);

// Whether an occurrence may be dropped when a budget or the queue is
// exhausted (Normal) or must reach the API server (Important). Warning
// events are always Important.
enum class EventPriority { Normal, Important };

// API validation limits of events.k8s.io/v1.
inline constexpr std::size_t kEventNoteMaxBytes = 1024;
inline constexpr std::size_t kEventFieldMaxBytes = 128;  // reason, action, reportingInstance

// One occurrence as the caller describes it.
struct EventData {
  ObjectRef regarding;
  EventType type = EventType::Normal;
  std::string reason;
  std::string action;
  std::string note;
};

// Everything an Event object needs besides the occurrence itself.
struct EventObject {
  std::string name;  // metadata.name
  std::string ns;    // metadata.namespace
  std::string reporting_controller;
  std::string reporting_instance;
  std::chrono::system_clock::time_point event_time;     // first occurrence
  int count = 1;                                        // >= 2 adds a series
  std::chrono::system_clock::time_point last_observed;  // series.lastObservedTime
};

// s cut to at most max_bytes without splitting a UTF-8 sequence.
std::string truncate_utf8(std::string_view s, std::size_t max_bytes);

// The aggregation key: events with equal keys form one series.
std::string aggregation_key(const EventData& event);

// The key of the per-object budget: the uid, else apiVersion/kind/ns/name.
std::string regarding_key(const ObjectRef& regarding);

// The namespace an event about `regarding` lives in: the object's own, or
// "default" for cluster-scoped objects.
std::string event_namespace(const ObjectRef& regarding);

// "<regarding name>.<hex unique>", the name shortened so that the whole fits
// the 253 characters of a DNS subdomain.
std::string event_name(std::string_view regarding_name, std::uint64_t unique);

// The events.k8s.io/v1 Event JSON for a create, with the text fields cut to
// the API's limits.
std::string build_event_body(const EventData& event, const EventObject& object);

// The merge patch that records a series count on an existing Event.
std::string build_series_patch(int count, std::chrono::system_clock::time_point last_observed);

// A token bucket with non-blocking takes: `burst` tokens, refilled at
// `per_second`. Time is passed in, so it is testable without waiting.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double per_second, double burst, Clock::time_point now);
  bool try_take(Clock::time_point now);
  // Whether the bucket is full again (nothing to remember any more).
  bool full(Clock::time_point now) const;

 private:
  double level(Clock::time_point now) const;
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

struct EventRecorderOptions {
  // A repeat within this time of the previous occurrence extends its series.
  std::chrono::milliseconds series_window{std::chrono::minutes(10)};
  // Overall request budget.
  double qps = 25;
  double burst = 100;
  // Per regarding object: burst, then one request per refill period.
  double per_object_burst = 25;
  std::chrono::milliseconds per_object_refill{std::chrono::minutes(5)};
  // Distinct events waiting to be sent; more Normal-priority ones are
  // dropped (Important ones displace them, or are queued beyond this).
  std::size_t max_queue = 1000;
  // A new Normal-priority event still waiting after this long (a burst that
  // the budget cannot send in time) is dropped instead of sent late, so a
  // burst does not keep writing long after it ended. Reported once per
  // burst; Important events are always sent.
  std::chrono::milliseconds max_wait{std::chrono::seconds(3)};
  // Series remembered for aggregation; the least recently seen are forgotten
  // beyond this (queued and in-flight ones only once they are sent).
  std::size_t max_series = 4096;
  // How long flush() waits for the queue to drain; what is still queued
  // then is dropped. Well inside the 30 s termination grace period.
  std::chrono::milliseconds flush_timeout{std::chrono::seconds(5)};
  // Told about failed requests and dropped events (component
  // "event-recorder", the Events path of the namespace, code "Dropped" for a
  // dropped event); log_errors() when empty.
  ErrorHandler on_error;
  // Clocks; steady_clock::now / system_clock::now when empty (tests inject).
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<std::chrono::system_clock::time_point()> wall_now;
};

struct EventRecorderStats {
  std::uint64_t recorded = 0;  // record() calls
  std::uint64_t created = 0;   // Events created
  std::uint64_t patched = 0;   // series patches sent
  std::uint64_t dropped = 0;   // occurrences that will never reach the API server
  std::uint64_t failed = 0;    // requests that failed
  // Current state, not counters.
  std::size_t queued = 0;           // distinct events waiting to be sent
  std::size_t tracked_series = 0;   // series remembered for aggregation
  std::size_t tracked_objects = 0;  // per-object budgets remembered
};

class EventRecorder {
 public:
  // reporting_controller: a qualified name such as
  // "monitoring.ibm.com/sysdig-token-operator"; reporting_instance: this
  // replica (e.g. the pod name).
  EventRecorder(std::shared_ptr<Client> client, std::string reporting_controller,
                std::string reporting_instance, EventRecorderOptions options = {});
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Queues an occurrence; returns at once. Ignored after stop(). The API
  // requires a reason and an action (CamelCase, e.g. "TokenRotated",
  // "Reconcile"); the note is for people and cut to 1024 bytes. Warning
  // events are Important whatever `priority` says.
  void record(const ObjectRef& regarding, EventType type, std::string reason, std::string action,
              std::string note, EventPriority priority = EventPriority::Normal);

  // Sends queued events until stop(); returns once the request in flight (if
  // any) has finished. Events still queued then are dropped (one report).
  boost::asio::awaitable<void> run();
  void stop();
  // Waits until nothing is queued or in flight, until stop(), or until
  // `timeout` has passed (real time). At the timeout, the events still
  // queued are dropped and reported once with their count (reason
  // "shutdown"); a request in flight is left to finish.
  boost::asio::awaitable<void> flush(std::chrono::milliseconds timeout);
  // flush(options.flush_timeout).
  boost::asio::awaitable<void> flush();

  EventRecorderStats stats() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace sto::kube
