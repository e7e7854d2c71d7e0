// WorkQueue: the rate-limited queue between informers and reconcile workers,
// with client-go's guarantees — a key is queued at most once however often it
// is added; a key being processed is never handed to a second worker (an add
// meanwhile queues it again once done() is called); per-key exponential
// backoff for failures; delayed adds; an overall rate limit; and a shutdown
// that lets in-flight work finish. Single-threaded: use from the executor's
// thread.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/backoff.h"
#include "net/rate_limiter.h"

namespace sto::kube {

struct WorkQueueOptions {
  Backoff backoff{std::chrono::milliseconds(5), std::chrono::seconds(1000), 0.0};
  double qps = 50;  // overall limit for rate-limited adds
  double burst = 300;
};

struct WorkQueueStats {
  std::size_t depth = 0;
  std::uint64_t adds = 0;
  std::uint64_t retries = 0;
  // Seconds keys waited in the queue before a worker took them (sum, count).
  double queue_seconds_sum = 0;
  std::uint64_t queue_seconds_count = 0;
};

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  WorkQueue(boost::asio::any_io_executor executor, WorkQueueOptions options = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  // Adds after a delay; of several delayed adds of one key, the earliest wins.
  void add_after(const std::string& key, Clock::duration delay);
  // Adds after the key's backoff (which grows with each call) and the
  // overall rate limit.
  void add_rate_limited(const std::string& key);
  // Resets the key's backoff (after a success).
  void forget(const std::string& key);
  int failures(const std::string& key) const;

  // The next key to process; nullopt once shut down and drained of queued keys.
  boost::asio::awaitable<std::optional<std::string>> get();
  // Marks processing of key finished.
  void done(const std::string& key);

  // No new keys are accepted; get() returns nullopt to idle workers.
  void shut_down();
  bool shutting_down() const { return shutting_down_; }
  // Waits until no key is being processed.
  boost::asio::awaitable<void> drain();

  WorkQueueStats stats() const;
  std::size_t processing() const { return processing_.size(); }

 private:
  void wake_one();
  void arm_delay_timer();
  void on_delay_timer();

  boost::asio::any_io_executor executor_;
  WorkQueueOptions options_;
  net::RateLimiter limiter_;
  std::deque<std::string> queue_;
  std::unordered_map<std::string, Clock::time_point> dirty_;  // queued or re-queued, since when
  std::unordered_set<std::string> processing_;
  std::unordered_map<std::string, int> failures_;
  std::multimap<Clock::time_point, std::string> delayed_;
  std::unordered_map<std::string, Clock::time_point> delayed_at_;
  std::deque<std::shared_ptr<boost::asio::steady_timer>> waiters_;
  std::shared_ptr<boost::asio::steady_timer> delay_timer_;
  std::shared_ptr<boost::asio::steady_timer> drained_;
  bool shutting_down_ = false;
  std::uint64_t adds_ = 0;
  std::uint64_t retries_ = 0;
  double queue_seconds_sum_ = 0;
  std::uint64_t queue_seconds_count_ = 0;
};

}  // namespace sto::kube
