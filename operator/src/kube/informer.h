// Informer: a Watcher feeding a Store through a projection, and telling
// handlers what changed. After a re-list (410 Gone), objects that vanished
// meanwhile are removed and reported as deletions. has_synced() turns true
// after the first complete list.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "common/result.h"
#include "kube/store.h"
#include "kube/watcher.h"

namespace sto::kube {

// Decodes one object's JSON into what the cache keeps (its projection).
using Projector = std::function<Result<ObjectPtr, std::string>(std::string_view json)>;

// A projection that keeps metadata only.
Result<ObjectPtr, std::string> project_metadata(std::string_view json);

struct InformerHandlers {
  std::function<void(const ObjectPtr&)> on_add;
  std::function<void(const ObjectPtr& old_object, const ObjectPtr& new_object)> on_update;
  std::function<void(const ObjectPtr&)> on_delete;
  // The first complete list is in the cache (has_synced() turned true).
  std::function<void()> on_synced;
};

// Objects that cannot be decoded are left out of the cache, counted and
// reported to the config's on_error (code "Decode").
struct InformerStats {
  std::uint64_t decode_errors = 0;
  std::string last_decode_error;
};

class Informer {
 public:
  Informer(std::shared_ptr<Client> client, WatcherConfig config, Projector projector,
           InformerHandlers handlers = {});

  // Lists and watches until stop().
  boost::asio::awaitable<void> run();
  void stop();

  bool has_synced() const { return synced_; }
  Store& store() { return store_; }
  const Store& store() const { return store_; }
  const Watcher& watcher() const { return watcher_; }
  const InformerStats& stats() const { return stats_; }

  // Reports every cached object to on_update again (periodic resync).
  void resync();

  // Puts an object as a write just returned it into the cache, without
  // calling handlers, unless the cache already holds a newer version. The
  // watch event of that write then finds nothing changed.
  void observe(std::string_view json);

 private:
  void on_event(WatcherEvent&& event);
  // The projector's answer; exceptions become errors.
  Result<ObjectPtr, std::string> project(std::string_view json) const;
  void apply(ObjectPtr object);

  Watcher watcher_;
  std::string ns_;
  std::string path_;       // the collection's API path, for error reports
  ErrorHandler on_error_;  // the namespace watched; empty for all
  Projector projector_;
  InformerHandlers handlers_;
  Store store_;
  InformerStats stats_;
  bool synced_ = false;
  bool relisting_ = false;
  std::unordered_set<std::string> seen_;  // keys seen during a re-list
};

}  // namespace sto::kube
