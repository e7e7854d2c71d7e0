#include "kube/event_recorder.h"

#include <algorithm>
#include <ctime>
#include <deque>
#include <list>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "net/rate_limiter.h"

// GCC 12 at -O2 inlines asio's recycling frame allocator into coroutines and
// then reports a false mismatched-new-delete on the frame (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sto::kube {

namespace asio = boost::asio;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxNameLength = 253;  // DNS subdomain

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void append_field(std::string& key, std::string_view field) {
  key += std::to_string(field.size());
  key += ':';
  key += field;
}

}  // namespace

std::string_view to_string(EventType type) {
  return type == EventType::Warning ? "Warning" : "Normal";
}

std::string truncate_utf8(std::string_view s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  // s[end] is the first byte left out; when it continues a sequence, that
  // sequence does not fit whole and goes too.
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end));
}

std::string regarding_key(const ObjectRef& r) {
  if (!r.uid.empty()) return r.uid;
  std::string key;
  append_field(key, r.api_version);
  append_field(key, r.kind);
  append_field(key, r.ns);
  append_field(key, r.name);
  return key;
}

std::string aggregation_key(const EventData& e) {
  std::string key;
  append_field(key, regarding_key(e.regarding));
  append_field(key, to_string(e.type));
  append_field(key, e.reason);
  append_field(key, e.action);
  append_field(key, e.note);
  return key;
}

std::string event_namespace(const ObjectRef& regarding) {
  return regarding.ns.empty() ? std::string("default") : regarding.ns;
}

std::string event_name(std::string_view regarding_name, std::uint64_t unique) {
  char hex[24];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(unique));
  std::string suffix = std::string(".") + hex;
  std::string base(regarding_name.substr(0, kMaxNameLength - suffix.size()));
  while (!base.empty() && (base.back() == '.' || base.back() == '-')) base.pop_back();
  if (base.empty()) base = "event";
  return base + suffix;
}

std::string build_event_body(const EventData& event, const EventObject& object) {
  Json regarding = Json::object();
  const ObjectRef& r = event.regarding;
  if (!r.api_version.empty()) regarding["apiVersion"] = r.api_version;
  if (!r.kind.empty()) regarding["kind"] = r.kind;
  if (!r.ns.empty()) regarding["namespace"] = r.ns;
  if (!r.name.empty()) regarding["name"] = r.name;
  if (!r.uid.empty()) regarding["uid"] = r.uid;
  if (!r.resource_version.empty()) regarding["resourceVersion"] = r.resource_version;

  Json body = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", object.name}, {"namespace", object.ns}}},
      {"eventTime", format_micro_time(object.event_time)},
      {"reportingController", object.reporting_controller},
      {"reportingInstance", truncate_utf8(object.reporting_instance, kEventFieldMaxBytes)},
      {"action", truncate_utf8(event.action, kEventFieldMaxBytes)},
      {"reason", truncate_utf8(event.reason, kEventFieldMaxBytes)},
      {"note", truncate_utf8(event.note, kEventNoteMaxBytes)},
      {"type", std::string(to_string(event.type))},
      {"regarding", std::move(regarding)},
  };
  if (object.count >= 2) {
    body["series"] = {{"count", object.count},
                      {"lastObservedTime", format_micro_time(object.last_observed)}};
  }
  return dump(body);
}

std::string build_series_patch(int count, SystemClock::time_point last_observed) {
  Json patch = {
      {"series", {{"count", count}, {"lastObservedTime", format_micro_time(last_observed)}}}};
  return dump(patch);
}

// ------------------------------------------------------------ TokenBucket --

TokenBucket::TokenBucket(double per_second, double burst, Clock::time_point now)
    : rate_(per_second), burst_(burst), tokens_(burst), last_(now) {}

double TokenBucket::level(Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - last_).count();
  if (elapsed < 0) elapsed = 0;
  return std::min(burst_, tokens_ + elapsed * rate_);
}

bool TokenBucket::try_take(Clock::time_point now) {
  tokens_ = level(now);
  last_ = std::max(last_, now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

bool TokenBucket::full(Clock::time_point now) const { return level(now) >= burst_; }

// ---------------------------------------------------------- EventRecorder --

namespace {

// How often expired series and budgets are looked for. Pruning walks only
// the expired series, but the budgets all: once a minute keeps that cheap.
constexpr auto kPruneInterval = std::chrono::minutes(1);

std::string plural_events(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " queued event" : " queued events");
}

}  // namespace

class EventRecorder::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(std::shared_ptr<Client> client, std::string controller, std::string instance,
       EventRecorderOptions options)
      : client_(std::move(client)),
        controller_(std::move(controller)),
        instance_(std::move(instance)),
        options_(std::move(options)),
        limiter_(options_.qps, options_.burst) {
    if (!options_.now) options_.now = [] { return SteadyClock::now(); };
    if (!options_.wall_now) options_.wall_now = [] { return SystemClock::now(); };
    if (!options_.on_error) options_.on_error = log_errors();
    last_prune_ = options_.now();
  }

  void record(EventData event, EventPriority priority);
  asio::awaitable<void> run();
  void stop();
  asio::awaitable<void> flush(std::chrono::milliseconds timeout);
  std::chrono::milliseconds flush_timeout() const { return options_.flush_timeout; }
  EventRecorderStats stats() const;

 private:
  struct Series;
  using Entry = std::pair<const std::string, Series>;

  // One aggregation key: what the API server knows of it and what is pending.
  struct Series {
    EventData data;
    std::string ns;
    std::string event_name;  // empty until the Event exists
    int count = 0;           // occurrences observed
    int sent = 0;            // of which the API server has been told
    SystemClock::time_point first;
    SystemClock::time_point last;
    SteadyClock::time_point last_seen;
    SteadyClock::time_point queued_at;  // when it last entered the queue
    std::list<Entry*>::iterator lru;  // its place in lru_
    bool important = false;
    bool queued = false;
    bool sending = false;
    bool final = false;  // ended: its last patch, then it is forgotten
  };
  using SeriesMap = std::unordered_map<std::string, Series>;

  asio::awaitable<void> send(Series& s);
  bool take_object_budget(const ObjectRef& regarding, SteadyClock::time_point now);
  static bool known(const Series& s) { return !s.event_name.empty() || s.sending; }
  void enqueue(const std::string& key, Series& s);
  void make_room();
  void report_stale();
  // Normal events dropped for waiting too long since the last report, and
  // their namespace (empty when several).
  std::size_t stale_ = 0;
  std::string stale_ns_;
  void maybe_prune(SteadyClock::time_point now);
  void prune(SteadyClock::time_point now);
  void evict_oldest(SteadyClock::time_point now);
  void retire(SeriesMap::iterator it, SteadyClock::time_point now);
  void forget(SeriesMap::iterator it);
  void drop(const std::string& key, std::string_view why);
  void drop_queue(std::string_view why);
  void report(std::string_view ns, std::string code, std::string message);
  void wake_sender();
  void notify_idle();
  std::uint64_t next_unique(SystemClock::time_point wall);

  std::shared_ptr<Client> client_;
  std::string controller_;
  std::string instance_;
  EventRecorderOptions options_;
  net::RateLimiter limiter_;
  SeriesMap series_;
  // The series, least recently seen first: expiry and the max_series cap
  // look at the front only instead of at every series.
  std::list<Entry*> lru_;
  std::unordered_map<std::string, TokenBucket> budgets_;
  std::deque<std::string> queue_;
  std::shared_ptr<asio::steady_timer> signal_;
  std::vector<std::shared_ptr<asio::steady_timer>> idle_waiters_;
  SteadyClock::time_point last_prune_;
  std::uint64_t last_unique_ = 0;
  std::uint64_t retired_ = 0;
  EventRecorderStats stats_;
  bool running_ = false;
  bool stopped_ = false;
  bool in_flight_ = false;
};

EventRecorderStats EventRecorder::Impl::stats() const {
  EventRecorderStats st = stats_;
  st.queued = queue_.size();
  st.tracked_series = series_.size();
  st.tracked_objects = budgets_.size();
  return st;
}

void EventRecorder::Impl::report(std::string_view ns, std::string code, std::string message) {
  options_.on_error(ErrorReport{"event-recorder", resources::events().collection_path(ns),
                                std::move(code), std::move(message)});
}

void EventRecorder::Impl::wake_sender() {
  if (signal_) signal_->cancel();
}

void EventRecorder::Impl::notify_idle() {
  auto waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : waiters) w->cancel();
}

std::uint64_t EventRecorder::Impl::next_unique(SystemClock::time_point wall) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall.time_since_epoch()).count();
  std::uint64_t u = ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
  last_unique_ = std::max(u, last_unique_ + 1);
  return last_unique_;
}

bool EventRecorder::Impl::take_object_budget(const ObjectRef& regarding,
                                             SteadyClock::time_point now) {
  std::string key = regarding_key(regarding);
  auto it = budgets_.find(key);
  if (it == budgets_.end()) {
    double refill_seconds =
        std::max(0.001, std::chrono::duration<double>(options_.per_object_refill).count());
    it = budgets_.emplace(key, TokenBucket(1.0 / refill_seconds, options_.per_object_burst, now))
             .first;
  }
  return it->second.try_take(now);
}

void EventRecorder::Impl::forget(SeriesMap::iterator it) {
  lru_.erase(it->second.lru);
  series_.erase(it);
}

// A series leaves the recorder's memory. An Important one whose count has
// not all reached the API server first gets its last patch: it is renamed
// out of the way (a new occurrence starts a new series under the key) and
// queued; once sent, it is forgotten like any other.
void EventRecorder::Impl::retire(SeriesMap::iterator it, SteadyClock::time_point now) {
  Series& s = it->second;
  if (!s.important || s.final || s.count <= s.sent || s.event_name.empty()) {
    forget(it);
    return;
  }
  auto node = series_.extract(it);
  node.key() = "retired:" + std::to_string(++retired_);
  auto inserted = series_.insert(std::move(node)).position;
  *inserted->second.lru = &*inserted;
  Series& retired = inserted->second;
  retired.final = true;
  take_object_budget(retired.data.regarding, now);  // sent whether or not a token is left
  enqueue(inserted->first, retired);
}

void EventRecorder::Impl::maybe_prune(SteadyClock::time_point now) {
  if (now - last_prune_ >= kPruneInterval) prune(now);
}

void EventRecorder::Impl::prune(SteadyClock::time_point now) {
  last_prune_ = now;
  // lru_ is in the order of last_seen: the expired series are a prefix.
  // Collected first, as retiring one may queue it and so drop another.
  std::vector<std::string> expired;
  for (Entry* e : lru_) {
    const Series& s = e->second;
    if (now - s.last_seen <= options_.series_window) break;
    if (!s.queued && !s.sending) expired.push_back(e->first);
  }
  for (const auto& key : expired) {
    auto it = series_.find(key);
    if (it != series_.end() && !it->second.queued && !it->second.sending) retire(it, now);
  }
  for (auto it = budgets_.begin(); it != budgets_.end();) {
    it = it->second.full(now) ? budgets_.erase(it) : std::next(it);
  }
}

void EventRecorder::Impl::evict_oldest(SteadyClock::time_point now) {
  for (Entry* e : lru_) {
    const Series& s = e->second;
    if (s.queued || s.sending) continue;
    retire(series_.find(e->first), now);
    return;
  }
}

void EventRecorder::Impl::drop(const std::string& key, std::string_view why) {
  auto it = series_.find(key);
  if (it == series_.end()) return;
  Series& s = it->second;
  ++stats_.dropped;
  report(s.ns, "Dropped",
         "event " + std::string(to_string(s.data.type)) + " " + s.data.reason + " about " +
             s.data.regarding.kind + " " + object_key(s.data.regarding.ns, s.data.regarding.name) +
             " dropped: " + std::string(why));
  if (!s.sending) forget(it);
}

void EventRecorder::Impl::report_stale() {
  if (stale_ == 0) return;
  report(stale_ns_, "Dropped",
         plural_events(stale_) + " dropped: not sent within " +
             std::to_string(options_.max_wait.count() / 1000) + "s of being recorded");
  stale_ = 0;
  stale_ns_.clear();
}

// Everything queued is given up at once, with one report: at shutdown the
// queue can hold a thousand events, and a line for each would bury the
// reason.
void EventRecorder::Impl::drop_queue(std::string_view why) {
  auto queue = std::move(queue_);
  queue_.clear();
  std::size_t n = 0;
  std::string ns;
  bool one_namespace = true;
  for (const auto& key : queue) {
    auto it = series_.find(key);
    if (it == series_.end()) continue;
    Series& s = it->second;
    s.queued = false;
    if (n++ == 0) {
      ns = s.ns;
    } else if (s.ns != ns) {
      one_namespace = false;
    }
    if (!s.sending) forget(it);
  }
  if (n == 0) return;
  stats_.dropped += n;
  report(one_namespace ? ns : std::string(), "Dropped",
         plural_events(n) + " dropped: " + std::string(why));
}

// Makes room in the full queue for an Important event: the oldest queued
// Normal-priority event leaves it. Dropped if the API server has not seen
// it; else its count stays in the series for the next patch, as over a
// budget. When all are Important, nothing leaves and the queue grows.
void EventRecorder::Impl::make_room() {
  for (auto q = queue_.begin(); q != queue_.end(); ++q) {
    auto it = series_.find(*q);
    if (it == series_.end() || it->second.important) continue;
    std::string key = std::move(*q);
    queue_.erase(q);
    Series& s = it->second;
    s.queued = false;
    if (!known(s)) drop(key, "event queue full, room made for an important event");
    return;
  }
}

void EventRecorder::Impl::enqueue(const std::string& key, Series& s) {
  if (queue_.size() >= options_.max_queue) make_room();
  s.queued = true;
  s.queued_at = options_.now();
  queue_.push_back(key);
  wake_sender();
}

void EventRecorder::Impl::record(EventData event, EventPriority priority) {
  ++stats_.recorded;
  if (stopped_) {
    ++stats_.dropped;
    return;
  }
  auto now = options_.now();
  auto wall = options_.wall_now();
  maybe_prune(now);
  bool important = priority == EventPriority::Important || event.type == EventType::Warning;
  event.reason = truncate_utf8(event.reason, kEventFieldMaxBytes);
  event.action = truncate_utf8(event.action, kEventFieldMaxBytes);
  event.note = truncate_utf8(event.note, kEventNoteMaxBytes);
  std::string key = aggregation_key(event);

  auto it = series_.find(key);
  if (it != series_.end() && !it->second.queued && !it->second.sending &&
      now - it->second.last_seen > options_.series_window) {
    retire(it, now);  // the old series is over; start a new Event
    it = series_.end();
  }
  if (it == series_.end()) {
    if (series_.size() >= options_.max_series) evict_oldest(now);
    Series s;
    s.ns = event_namespace(event.regarding);
    s.data = std::move(event);
    s.count = 1;
    s.first = s.last = wall;
    s.last_seen = now;
    s.important = important;
    it = series_.emplace(key, std::move(s)).first;
    it->second.lru = lru_.insert(lru_.end(), &*it);
  } else {
    Series& s = it->second;
    ++s.count;
    s.last = wall;
    s.last_seen = now;
    s.important = s.important || important;
    lru_.splice(lru_.end(), lru_, s.lru);
  }
  Series& s = it->second;
  if (s.queued) return;  // folds into the request already waiting

  // Over a budget, a series the API server knows (or is being told about)
  // keeps the count for its next patch. A new Normal-priority event is
  // dropped; a new Important one is queued all the same.
  if (!take_object_budget(s.data.regarding, now)) {
    if (known(s)) return;
    if (!s.important) {
      drop(key, "over the per-object event budget");
      return;
    }
  }
  if (queue_.size() >= options_.max_queue && !s.important) {
    if (!known(s)) drop(key, "event queue full");
    return;
  }
  enqueue(key, s);
}

asio::awaitable<void> EventRecorder::Impl::send(Series& s) {
  auto client = client_;
  Resource events = resources::events();
  for (int attempt = 0; attempt < 3; ++attempt) {
    int count = s.count;
    if (s.event_name.empty()) {
      EventObject object;
      object.name = event_name(s.data.regarding.name, next_unique(options_.wall_now()));
      object.ns = s.ns;
      object.reporting_controller = controller_;
      object.reporting_instance = instance_;
      object.event_time = s.first;
      object.count = count;
      object.last_observed = s.last;
      std::string body = build_event_body(s.data, object);
      std::string ns = s.ns;
      auto created = co_await client->create(events, ns, body);
      if (created) {
        s.event_name = object.name;
        s.sent = count;
        ++stats_.created;
        co_return;
      }
      if (created.error().kind == ApiErrorKind::AlreadyExists) continue;  // name taken: new name
      ++stats_.failed;
      report(s.ns, error_code(created.error()),
             "creating event " + s.data.reason + " in " + s.ns + ": " + created.error().describe());
      co_return;
    }
    std::string patch = build_series_patch(count, s.last);
    std::string ns = s.ns;
    std::string name = s.event_name;
    PatchOptions options;
    auto patched = co_await client->patch(events, ns, name, PatchType::Merge, patch, options);
    if (patched) {
      s.sent = count;
      ++stats_.patched;
      co_return;
    }
    if (patched.error().kind == ApiErrorKind::NotFound) {
      s.event_name.clear();  // expired or deleted: record the series in a new Event
      continue;
    }
    ++stats_.failed;
    report(ns, error_code(patched.error()),
           "updating event " + ns + "/" + name + ": " + patched.error().describe());
    co_return;
  }
}

asio::awaitable<void> EventRecorder::Impl::run() {
  auto self = shared_from_this();
  auto executor = co_await asio::this_coro::executor;
  if (running_) co_return;
  running_ = true;
  signal_ = std::make_shared<asio::steady_timer>(executor);
  while (!stopped_) {
    maybe_prune(options_.now());
    if (queue_.empty()) {
      report_stale();
      notify_idle();
      auto signal = signal_;
      // Idle, the sender still wakes for expiry while anything is remembered
      // (once per prune interval), and sleeps for good once nothing is.
      if (series_.empty() && budgets_.empty()) {
        signal->expires_at(SteadyClock::time_point::max());
      } else {
        signal->expires_after(kPruneInterval);
      }
      co_await signal->async_wait(use_tuple);
      continue;
    }
    std::string key = std::move(queue_.front());
    queue_.pop_front();
    auto it = series_.find(key);
    if (it == series_.end()) continue;
    Series& s = it->second;  // stays valid: a series being sent is never erased
    s.queued = false;
    if (!s.important && !known(s) && options_.now() - s.queued_at > options_.max_wait) {
      // Late news of a burst: counted, reported once the queue is empty.
      ++stats_.dropped;
      ++stale_;
      stale_ns_ = stale_ == 1 ? s.ns : (stale_ns_ == s.ns ? stale_ns_ : std::string());
      forget(it);
      continue;
    }
    s.sending = true;
    in_flight_ = true;
    co_await limiter_.acquire();
    try {
      co_await send(s);
    } catch (const std::exception& e) {
      ++stats_.failed;
      report(s.ns, "Other", std::string("sending event: ") + e.what());
    }
    s.sending = false;
    in_flight_ = false;
    // Nothing on the server, or the last patch of an ended series: done.
    if ((s.event_name.empty() || s.final) && !s.queued) forget(series_.find(key));
  }
  drop_queue("shutdown, the recorder stopped");
  running_ = false;
  signal_.reset();
  notify_idle();
}

void EventRecorder::Impl::stop() {
  stopped_ = true;
  wake_sender();
  notify_idle();
}

asio::awaitable<void> EventRecorder::Impl::flush(std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  auto executor = co_await asio::this_coro::executor;
  // Real time, not options_.now: this is how long the caller waits.
  auto start = SteadyClock::now();
  auto deadline = SteadyClock::time_point::max();
  if (timeout < std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start)) {
    deadline = start + std::max(timeout, std::chrono::milliseconds(0));
  }
  while (!stopped_ && (!queue_.empty() || in_flight_)) {
    if (SteadyClock::now() >= deadline) {
      drop_queue("shutdown, flush did not finish within " + std::to_string(timeout.count()) +
                 "ms");
      co_return;
    }
    auto waiter = std::make_shared<asio::steady_timer>(executor, deadline);
    idle_waiters_.push_back(waiter);
    co_await waiter->async_wait(use_tuple);
    std::erase(idle_waiters_, waiter);  // when the deadline, not notify_idle, ended the wait
  }
}

EventRecorder::EventRecorder(std::shared_ptr<Client> client, std::string reporting_controller,
                             std::string reporting_instance, EventRecorderOptions options)
    : impl_(std::make_shared<Impl>(std::move(client), std::move(reporting_controller),
                                   std::move(reporting_instance), std::move(options))) {}

EventRecorder::~EventRecorder() { impl_->stop(); }

void EventRecorder::record(const ObjectRef& regarding, EventType type, std::string reason,
                           std::string action, std::string note, EventPriority priority) {
  EventData event;
  event.regarding = regarding;
  event.type = type;
  event.reason = std::move(reason);
  event.action = std::move(action);
  event.note = std::move(note);
  impl_->record(std::move(event), priority);
}

asio::awaitable<void> EventRecorder::run() {
  auto impl = impl_;
  co_await impl->run();
}

void EventRecorder::stop() { impl_->stop(); }

asio::awaitable<void> EventRecorder::flush(std::chrono::milliseconds timeout) {
  auto impl = impl_;
  co_await impl->flush(timeout);
}

asio::awaitable<void> EventRecorder::flush() {
  auto impl = impl_;
  auto timeout = impl->flush_timeout();
  co_await impl->flush(timeout);
}

EventRecorderStats EventRecorder::stats() const { return impl_->stats(); }

}  // namespace sto::kube
