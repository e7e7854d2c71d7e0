// SingleFlight: concurrent calls for the same key share one piece of work.
//
// The first caller for a key starts the work; callers that arrive while it is
// in flight wait for it and all receive a copy of its result. Once it has
// finished, the next call starts anew (nothing is cached here). The work runs
// in its own coroutine, so it completes even if the caller that started it
// goes away. Use from the executor's thread only; no locks.
#pragma once

#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sto::ibm {

template <typename Key, typename Value>
class SingleFlight {
 public:
  explicit SingleFlight(boost::asio::any_io_executor executor)
      : executor_(std::move(executor)), flights_(std::make_shared<Flights>()) {}

  // The result of `make()` (a callable returning awaitable<Value>) for `key`,
  // or of the call for `key` already in flight. `make` must own what it uses:
  // it may outlive the caller.
  template <typename Make>
  boost::asio::awaitable<Value> run(Key key, Make make) {
    std::shared_ptr<Flight> flight;
    if (auto it = flights_->find(key); it != flights_->end()) {
      flight = it->second;
    } else {
      flight = std::make_shared<Flight>(executor_);
      flights_->emplace(key, flight);
      start(std::move(key), flight, std::move(make));
    }
    while (!flight->finished) {
      // Woken by the flight's cancel() when it finishes.
      (void)co_await flight->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    if (flight->exception) std::rethrow_exception(flight->exception);
    co_return *flight->value;
  }

  // How many keys have work in flight.
  std::size_t in_flight() const { return flights_->size(); }

 private:
  struct Flight {
    explicit Flight(const boost::asio::any_io_executor& executor)
        : done(executor, boost::asio::steady_timer::time_point::max()) {}
    boost::asio::steady_timer done;
    bool finished = false;
    std::optional<Value> value;
    std::exception_ptr exception;
  };
  using Flights = std::map<Key, std::shared_ptr<Flight>>;

  template <typename Make>
  void start(Key key, std::shared_ptr<Flight> flight, Make make) {
    boost::asio::co_spawn(
        executor_,
        [flights = flights_, key = std::move(key), flight = std::move(flight),
         make = std::move(make)]() mutable -> boost::asio::awaitable<void> {
          try {
            auto work = make();
            flight->value.emplace(co_await std::move(work));
          } catch (...) {
            flight->exception = std::current_exception();
          }
          if (auto it = flights->find(key); it != flights->end() && it->second == flight) {
            flights->erase(it);
          }
          flight->finished = true;
          flight->done.cancel();
        },
        boost::asio::detached);
  }

  boost::asio::any_io_executor executor_;
  std::shared_ptr<Flights> flights_;
};

}  // namespace sto::ibm
