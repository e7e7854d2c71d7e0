// ClientPool: a bounded set of net::HttpClients, one per origin, for the IBM
// Cloud gateway.
//
// Tenants choose endpoints (spec.endpoint, spec.iamEndpoint), so the number
// of origins is theirs to grow; the pool keeps it bounded:
// - at most `max_clients` clients; a new origin evicts the least recently
//   used idle client, and waits (until its deadline) when every client is
//   busy;
// - a client unused for `idle_timeout` is dropped by sweep() (run() sweeps
//   periodically);
// - a client with a request under way (a Lease is held) is never evicted or
//   shut down under it.
// Every client is made by the factory, which shares one TLS context.
// Use from the executor's thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/result.h"
#include "net/http_client.h"

namespace sto::ibm {

class ClientPool : public std::enable_shared_from_this<ClientPool> {
 public:
  using Clock = std::chrono::steady_clock;
  using Factory =
      std::function<Result<std::shared_ptr<net::HttpClient>, net::NetError>(const net::Url&)>;

  struct Options {
    std::size_t max_clients = 32;
    std::chrono::milliseconds idle_timeout{std::chrono::minutes(2)};
  };

  struct Entry {
    std::string origin;
    std::shared_ptr<net::HttpClient> client;
    std::size_t in_use = 0;
    Clock::time_point last_used;
  };
  using Entries = std::list<Entry>;  // most recently used first

  // The use of one client for one request; returns it to the pool when it
  // goes.
  class Lease {
   public:
    Lease(std::shared_ptr<ClientPool> pool, Entries::iterator entry);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    net::HttpClient& client() const { return *entry_->client; }
    // Keeps the client alive on its own (for a request that must outlive
    // the lease, never needed with send()).
    std::shared_ptr<net::HttpClient> shared() const { return entry_->client; }

   private:
    std::shared_ptr<ClientPool> pool_;
    Entries::iterator entry_;
  };

  enum class Failure {
    Create,    // the factory failed (message says why)
    Busy,      // every client was in use until the deadline
    ShutDown,  // shutdown() was called
  };
  struct Error {
    Failure failure;
    std::string message;
  };

  static std::shared_ptr<ClientPool> create(boost::asio::any_io_executor executor,
                                            Factory factory, Options options);
  ClientPool(boost::asio::any_io_executor executor, Factory factory, Options options);
  ~ClientPool();
  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // The client for `url`'s origin, made when needed. When the pool is full
  // of busy clients, waits for one to be released until `deadline`.
  // `url` is taken by reference: co_await the call at once.
  boost::asio::awaitable<Result<Lease, Error>> acquire(const net::Url& url,
                                                       Clock::time_point deadline);

  // Drops the clients that have been idle for `idle_timeout` or longer.
  // Returns how many were dropped.
  std::size_t sweep(Clock::time_point now = Clock::now());
  // Sweeps `pool` every idle_timeout / 4 (at least every second, at most
  // every 30 s) until shutdown() or until the pool is gone; holds the pool
  // only while sweeping.
  static boost::asio::awaitable<void> run(std::weak_ptr<ClientPool> pool);

  // Shuts every client down (requests under way finish), drops the idle
  // ones, fails waiting and later acquires, ends run().
  void shutdown();

  std::size_t size() const { return entries_.size(); }
  std::size_t in_use() const;
  bool contains(std::string_view origin) const { return index_.find(origin) != index_.end(); }
  const Options& options() const { return options_; }

 private:
  void release(Entries::iterator entry);
  void drop(Entries::iterator entry);
  // Evicts idle clients so that one more fits; false when all are busy.
  bool make_room(Clock::time_point now);
  void wake_one();

  boost::asio::any_io_executor executor_;
  Factory factory_;
  Options options_;
  Entries entries_;
  std::map<std::string, Entries::iterator, std::less<>> index_;
  // Acquires waiting for a client to be released: cancelling a timer wakes it.
  std::list<std::shared_ptr<boost::asio::steady_timer>> waiters_;
  std::weak_ptr<boost::asio::steady_timer> sweep_timer_;
  bool shut_down_ = false;
};

}  // namespace sto::ibm
