#include "kube/work_queue.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sto::kube {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

WorkQueue::WorkQueue(asio::any_io_executor executor, WorkQueueOptions options)
    : executor_(std::move(executor)),
      options_(options),
      limiter_(options.qps, options.burst),
      delay_timer_(std::make_shared<asio::steady_timer>(executor_)) {}

WorkQueue::~WorkQueue() {
  delay_timer_->cancel();
  for (auto& w : waiters_) w->cancel();
  if (drained_) drained_->cancel();
}

void WorkQueue::wake_one() {
  while (!waiters_.empty()) {
    auto w = std::move(waiters_.front());
    waiters_.pop_front();
    if (w->cancel() > 0) return;  // that waiter was still waiting
  }
}

void WorkQueue::add(const std::string& key) {
  if (shutting_down_) return;
  ++adds_;
  if (dirty_.count(key)) return;  // already queued (or re-queued while processing)
  dirty_.emplace(key, Clock::now());
  if (processing_.count(key)) return;  // queued again by done()
  queue_.push_back(key);
  wake_one();
}

void WorkQueue::add_after(const std::string& key, Clock::duration delay) {
  if (shutting_down_) return;
  if (delay <= Clock::duration::zero()) {
    add(key);
    return;
  }
  auto at = Clock::now() + delay;
  auto it = delayed_at_.find(key);
  if (it != delayed_at_.end()) {
    if (it->second <= at) return;  // an earlier add is pending
    auto range = delayed_.equal_range(it->second);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == key) {
        delayed_.erase(d);
        break;
      }
    }
  }
  delayed_at_[key] = at;
  delayed_.emplace(at, key);
  arm_delay_timer();
}

void WorkQueue::arm_delay_timer() {
  if (delayed_.empty()) return;
  auto first = delayed_.begin()->first;
  if (delay_timer_->expiry() == first) return;
  delay_timer_->expires_at(first);
  auto timer = delay_timer_;
  timer->async_wait([this, timer](boost::system::error_code ec) {
    if (!ec) on_delay_timer();
  });
}

void WorkQueue::on_delay_timer() {
  auto now = Clock::now();
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = std::move(delayed_.begin()->second);
    delayed_.erase(delayed_.begin());
    delayed_at_.erase(key);
    add(key);
  }
  arm_delay_timer();
}

void WorkQueue::add_rate_limited(const std::string& key) {
  int& n = failures_[key];
  auto per_key = options_.backoff.delay(n);
  ++n;
  ++retries_;
  auto overall = limiter_.reserve();
  add_after(key, std::max<Clock::duration>(per_key, overall));
}

void WorkQueue::forget(const std::string& key) { failures_.erase(key); }

int WorkQueue::failures(const std::string& key) const {
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

asio::awaitable<std::optional<std::string>> WorkQueue::get() {
  while (queue_.empty()) {
    if (shutting_down_) co_return std::nullopt;
    auto waiter = std::make_shared<asio::steady_timer>(executor_, Clock::time_point::max());
    waiters_.push_back(waiter);
    (void)co_await waiter->async_wait(use_tuple);
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  auto it = dirty_.find(key);
  if (it != dirty_.end()) {
    std::chrono::duration<double> waited = Clock::now() - it->second;
    queue_seconds_sum_ += waited.count();
    ++queue_seconds_count_;
    dirty_.erase(it);
  }
  processing_.insert(key);
  co_return key;
}

void WorkQueue::done(const std::string& key) {
  processing_.erase(key);
  if (dirty_.count(key)) {
    queue_.push_back(key);
    wake_one();
  }
  if (processing_.empty() && drained_) drained_->cancel();
}

void WorkQueue::shut_down() {
  shutting_down_ = true;
  delay_timer_->cancel();
  delayed_.clear();
  delayed_at_.clear();
  queue_.clear();
  dirty_.clear();
  for (auto& w : waiters_) w->cancel();
  waiters_.clear();
}

asio::awaitable<void> WorkQueue::drain() {
  while (!processing_.empty()) {
    if (!drained_)
      drained_ = std::make_shared<asio::steady_timer>(executor_, Clock::time_point::max());
    auto t = drained_;
    (void)co_await t->async_wait(use_tuple);
    drained_.reset();
  }
}

WorkQueueStats WorkQueue::stats() const {
  WorkQueueStats s;
  s.depth = queue_.size();
  s.adds = adds_;
  s.retries = retries_;
  s.queue_seconds_sum = queue_seconds_sum_;
  s.queue_seconds_count = queue_seconds_count_;
  return s;
}

}  // namespace sto::kube
