// Watcher: keeps a consumer in step with one collection — list, then watch
// from the list's resourceVersion with bookmarks; resume after a dropped
// connection from the last resourceVersion seen; re-list on 410 Gone. Shaped
// after kube-rs's watcher: a re-list is announced by InitStart, delivers each
// object as InitApply and ends with InitDone, so that the consumer can forget
// what vanished meanwhile. Events arrive in order, none twice out of order.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "common/backoff.h"
#include "kube/client.h"
#include "kube/error_report.h"
#include "kube/resource.h"

namespace sto::kube {

enum class WatcherEventType { InitStart, InitApply, InitDone, Apply, Delete };

struct WatcherEvent {
  WatcherEventType type;
  std::string object;  // object JSON for InitApply, Apply and Delete
};

struct WatcherConfig {
  Resource resource;
  std::string ns;  // empty: all namespaces
  std::string label_selector;
  std::string field_selector;
  // List pages ask for at most page_size objects (0: no pagination), the
  // first for first_page_size. Later pages grow (doubling) while they stay
  // well under page_bytes and shrink when they exceed it; an answer too
  // large for the client is asked again for a quarter as many. So a few
  // large objects (Secrets of 1 MiB) never make one huge page.
  std::int64_t page_size = 500;
  std::int64_t first_page_size = 8;
  std::size_t page_bytes = 4u << 20;
  std::chrono::seconds watch_timeout{290};
  Backoff backoff{std::chrono::milliseconds(200), std::chrono::seconds(30), 0.5};
  // Told about each failed list or watch (410 Gone, answered by a re-list,
  // is not a failure); log_errors() when empty.
  ErrorHandler on_error;
};

struct WatcherStats {
  std::uint64_t lists = 0;    // complete (re-)lists
  std::uint64_t watches = 0;  // watch requests opened
  std::uint64_t gone = 0;     // 410 Gone answers
  std::uint64_t events = 0;   // events delivered
  std::string last_error;     // the last failure, for diagnostics
};

class Watcher {
 public:
  using Sink = std::function<void(WatcherEvent&&)>;

  Watcher(std::shared_ptr<Client> client, WatcherConfig config);

  // Runs until stop() is called; failures are retried with backoff.
  boost::asio::awaitable<void> run(Sink sink);
  void stop();

  const WatcherStats& stats() const { return stats_; }
  const std::string& resource_version() const { return resource_version_; }

 private:
  boost::asio::awaitable<Result<Ok, ApiError>> list(const Sink& sink);
  boost::asio::awaitable<Result<Ok, ApiError>> watch(const Sink& sink);
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds d);
  // The limit of the next list page after one of `items` objects in `bytes`.
  std::int64_t next_page_size(std::int64_t limit, std::size_t items, std::size_t bytes) const;

  std::shared_ptr<Client> client_;
  WatcherConfig config_;
  std::string resource_version_;  // empty: a list is needed
  WatcherStats stats_;
  bool stopped_ = false;
  // The open watch, to cancel on stop. Shared with the watch coroutine, whose
  // frame may be destroyed (with its io_context) after this Watcher.
  struct ActiveSlot {
    std::unique_ptr<WatchStream>* stream = nullptr;
  };
  std::shared_ptr<ActiveSlot> active_ = std::make_shared<ActiveSlot>();
  struct Sleeper;
  std::shared_ptr<Sleeper> sleeper_;
};

}  // namespace sto::kube
