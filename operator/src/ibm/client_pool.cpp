#include "ibm/client_pool.h"

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sto::ibm {
namespace {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

ClientPool::Lease::Lease(std::shared_ptr<ClientPool> pool, Entries::iterator entry)
    : pool_(std::move(pool)), entry_(entry) {}

ClientPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::move(other.pool_)), entry_(other.entry_) {}

ClientPool::Lease::~Lease() {
  if (pool_) pool_->release(entry_);
}

std::shared_ptr<ClientPool> ClientPool::create(asio::any_io_executor executor, Factory factory,
                                               Options options) {
  return std::make_shared<ClientPool>(std::move(executor), std::move(factory), options);
}

ClientPool::ClientPool(asio::any_io_executor executor, Factory factory, Options options)
    : executor_(std::move(executor)), factory_(std::move(factory)), options_(options) {
  options_.max_clients = std::max<std::size_t>(options_.max_clients, 1);
}

ClientPool::~ClientPool() {
  // Leases keep the pool alive, so every client is idle here.
  for (auto& entry : entries_) entry.client->shutdown();
}

std::size_t ClientPool::in_use() const {
  return static_cast<std::size_t>(std::count_if(
      entries_.begin(), entries_.end(), [](const Entry& entry) { return entry.in_use > 0; }));
}

asio::awaitable<Result<ClientPool::Lease, ClientPool::Error>> ClientPool::acquire(
    const net::Url& url, Clock::time_point deadline) {
  auto self = shared_from_this();
  const std::string origin = url.origin();
  for (;;) {
    if (shut_down_) co_return fail(Error{Failure::ShutDown, "the client pool is shut down"});
    const auto now = Clock::now();
    if (auto found = index_.find(origin); found != index_.end()) {
      auto entry = found->second;
      entries_.splice(entries_.begin(), entries_, entry);
      ++entry->in_use;
      entry->last_used = now;
      co_return Lease(self, entry);
    }
    if (make_room(now)) {
      auto created = factory_(url);
      if (!created) co_return fail(Error{Failure::Create, std::move(created.error().message)});
      entries_.push_front(Entry{origin, std::move(created).value(), 1, now});
      index_.emplace(origin, entries_.begin());
      co_return Lease(self, entries_.begin());
    }
    if (now >= deadline) {
      co_return fail(Error{Failure::Busy, "all " + std::to_string(options_.max_clients) +
                                              " HTTP clients are busy"});
    }
    // Every client is busy: wait for a release (which cancels the timer) or
    // the deadline.
    auto timer = std::make_shared<asio::steady_timer>(executor_, deadline);
    auto waiter = waiters_.insert(waiters_.end(), timer);
    auto [ec] = co_await timer->async_wait(use_tuple);
    waiters_.erase(waiter);
    if (!ec && Clock::now() >= deadline) {
      co_return fail(Error{Failure::Busy, "all " + std::to_string(options_.max_clients) +
                                              " HTTP clients were busy until the deadline"});
    }
  }
}

void ClientPool::release(Entries::iterator entry) {
  if (entry->in_use > 0) --entry->in_use;
  entry->last_used = Clock::now();
  if (entry->in_use > 0) return;
  if (shut_down_) {
    drop(entry);
    return;
  }
  wake_one();
}

void ClientPool::drop(Entries::iterator entry) {
  entry->client->shutdown();
  index_.erase(entry->origin);
  entries_.erase(entry);
}

bool ClientPool::make_room(Clock::time_point now) {
  sweep(now);
  if (entries_.size() < options_.max_clients) return true;
  // The least recently used idle client makes room.
  for (auto it = entries_.end(); it != entries_.begin();) {
    --it;
    if (it->in_use == 0) {
      drop(it);
      return true;
    }
  }
  return false;
}

void ClientPool::wake_one() {
  // A woken waiter erases itself; one whose timer is already cancelled or
  // expired (not yet resumed) is skipped.
  for (auto& timer : waiters_) {
    if (timer->cancel() > 0) return;
  }
}

std::size_t ClientPool::sweep(Clock::time_point now) {
  std::size_t dropped = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->in_use == 0 && now - it->last_used >= options_.idle_timeout) {
      drop(it);
      ++dropped;
    }
    it = next;
  }
  return dropped;
}

asio::awaitable<void> ClientPool::run(std::weak_ptr<ClientPool> weak) {
  std::shared_ptr<asio::steady_timer> timer;
  Clock::duration period{};
  {
    auto self = weak.lock();
    if (!self || self->shut_down_) co_return;
    timer = std::make_shared<asio::steady_timer>(self->executor_);
    self->sweep_timer_ = timer;
    period = std::clamp<Clock::duration>(self->options_.idle_timeout / 4, std::chrono::seconds(1),
                                         std::chrono::seconds(30));
  }
  for (;;) {
    timer->expires_after(period);
    auto [ec] = co_await timer->async_wait(use_tuple);
    (void)ec;
    auto self = weak.lock();
    if (!self || self->shut_down_) co_return;
    self->sweep();
  }
}

void ClientPool::shutdown() {
  shut_down_ = true;
  if (auto timer = sweep_timer_.lock()) timer->cancel();
  for (auto& timer : waiters_) timer->cancel();
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->in_use == 0) {
      drop(it);
    } else {
      it->client->shutdown();  // its request finishes; the lease's release drops it
    }
    it = next;
  }
}

}  // namespace sto::ibm
