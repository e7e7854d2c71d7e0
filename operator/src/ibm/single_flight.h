// SingleFlight: concurrent calls for the same key share one piece of work.
//
// The first caller for a key starts the work; callers that arrive while it is
// in flight wait for it and all receive a copy of its result. The work runs
// in its own coroutine, so it completes even if the caller that started it
// goes away. Use from the executor's thread only; no locks.
//
// Freshness: a caller may instead say how old an answer it accepts
// (`max_age`, measured from the moment the work *started*). It then joins the
// work in flight only if that started late enough; otherwise it waits for it
// to end and shares the next run (so a burst of such callers costs at most
// two runs). Successful answers are kept for `keep_for` after they started
// and handed to callers that accept their age; failures are never kept.
#pragma once

#include <chrono>
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

namespace detail {
template <typename V>
bool succeeded(const V& v) {
  if constexpr (requires { v.ok(); }) {
    return v.ok();
  } else {
    return true;
  }
}
}  // namespace detail

template <typename Key, typename Value>
class SingleFlight {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SingleFlight(boost::asio::any_io_executor executor,
                        Clock::duration keep_for = Clock::duration::zero())
      : executor_(std::move(executor)),
        keep_for_(keep_for),
        state_(std::make_shared<State>()) {}

  // The result of `make()` (a callable returning awaitable<Value>) for `key`,
  // or of the call for `key` already in flight. `make` must own what it uses:
  // it may outlive the caller.
  template <typename Make>
  boost::asio::awaitable<Value> run(Key key, Make make) {
    std::optional<Clock::duration> any_age;
    auto flight = run(std::move(key), std::move(make), any_age);
    co_return co_await std::move(flight);
  }

  // As run() above, but only an answer whose work started at most `max_age`
  // before this call is shared (none: any answer in flight).
  template <typename Make>
  boost::asio::awaitable<Value> run(Key key, Make make,
                                    const std::optional<Clock::duration>& max_age) {
    const Clock::time_point oldest =
        max_age ? Clock::now() - *max_age : Clock::time_point::min();
    if (max_age) {
      if (auto it = state_->kept.find(key);
          it != state_->kept.end() && it->second->started >= oldest &&
          it->second->started + keep_for_ >= Clock::now()) {
        co_return *it->second->value;
      }
    }
    for (;;) {
      std::shared_ptr<Flight> flight;
      bool fresh = true;
      if (auto it = state_->flying.find(key); it != state_->flying.end()) {
        flight = it->second;
        fresh = flight->started >= oldest;
      } else {
        flight = std::make_shared<Flight>(executor_);
        state_->flying.emplace(key, flight);
        start(key, flight, make);
      }
      while (!flight->finished) {
        // Woken by the flight's cancel() when it finishes.
        (void)co_await flight->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      }
      if (!fresh) continue;  // too old for this caller: share the next run
      if (flight->exception) std::rethrow_exception(flight->exception);
      co_return *flight->value;
    }
  }

  // How many keys have work in flight.
  std::size_t in_flight() const { return state_->flying.size(); }
  // How many successful answers are kept.
  std::size_t kept() const { return state_->kept.size(); }

 private:
  struct Flight {
    explicit Flight(const boost::asio::any_io_executor& executor)
        : done(executor, boost::asio::steady_timer::time_point::max()), started(Clock::now()) {}
    boost::asio::steady_timer done;
    Clock::time_point started;
    bool finished = false;
    std::optional<Value> value;
    std::exception_ptr exception;
  };
  struct State {
    std::map<Key, std::shared_ptr<Flight>> flying;
    std::map<Key, std::shared_ptr<Flight>> kept;
  };

  template <typename Make>
  void start(Key key, std::shared_ptr<Flight> flight, Make make) {
    boost::asio::co_spawn(
        executor_,
        [state = state_, keep_for = keep_for_, key = std::move(key), flight = std::move(flight),
         make = std::move(make)]() mutable -> boost::asio::awaitable<void> {
          try {
            auto work = make();
            flight->value.emplace(co_await std::move(work));
          } catch (...) {
            flight->exception = std::current_exception();
          }
          if (auto it = state->flying.find(key); it != state->flying.end() && it->second == flight) {
            state->flying.erase(it);
          }
          if (keep_for > Clock::duration::zero()) {
            // Drop what has aged out, then keep this answer if it succeeded.
            auto now = Clock::now();
            std::erase_if(state->kept,
                          [&](const auto& kv) { return kv.second->started + keep_for < now; });
            if (!flight->exception && detail::succeeded(*flight->value)) {
              state->kept.insert_or_assign(key, flight);
            } else {
              state->kept.erase(key);
            }
          }
          flight->finished = true;
          flight->done.cancel();
        },
        boost::asio::detached);
  }

  boost::asio::any_io_executor executor_;
  Clock::duration keep_for_;
  std::shared_ptr<State> state_;
};

}  // namespace sto::ibm
