#include "kube/informer.h"

#include "kube/json_meta.h"

namespace sto::kube {

Result<ObjectPtr, std::string> project_metadata(std::string_view json) try {
  JsonDocument parsed(json);
  if (!parsed.error().empty()) return fail(parsed.error());
  simdjson::ondemand::object metadata;
  if (parsed.doc()["metadata"].get_object().get(metadata))
    return fail(std::string("object without metadata"));
  auto object = std::make_shared<CachedObject>();
  auto ignore = [](std::string_view, std::string_view) {};
  if (auto err = decode_object_meta(metadata, object->meta, ignore, ignore); !err.empty()) {
    return fail(std::move(err));
  }
  return ObjectPtr(std::move(object));
} catch (const simdjson::simdjson_error& e) {
  return fail(std::string("malformed JSON: ") + e.what());
}

Informer::Informer(std::shared_ptr<Client> client, WatcherConfig config, Projector projector,
                   InformerHandlers handlers)
    : watcher_(std::move(client), config),
      ns_(config.ns),
      path_(config.resource.collection_path(config.ns)),
      on_error_(config.on_error ? config.on_error : log_errors()),
      projector_(std::move(projector)),
      handlers_(std::move(handlers)) {}

boost::asio::awaitable<void> Informer::run() {
  co_await watcher_.run([this](WatcherEvent&& e) { on_event(std::move(e)); });
}

void Informer::stop() { watcher_.stop(); }

void Informer::resync() {
  if (!handlers_.on_update) return;
  for (const auto& obj : store_.list()) handlers_.on_update(obj, obj);
}

namespace {

// resourceVersions are opaque, but the API server's are etcd revisions:
// compare them as numbers when both are, to never step back in time.
bool older(const std::string& candidate, const std::string& cached) {
  if (candidate.empty() || cached.empty() || candidate.size() > 19 || cached.size() > 19)
    return false;
  for (char c : candidate + cached) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoull(candidate) < std::stoull(cached);
}

}  // namespace

Result<ObjectPtr, std::string> Informer::project(std::string_view json) const {
  try {
    auto projected = projector_(json);
    // The projector made this object and nobody shares it yet.
    if (projected) {
      std::const_pointer_cast<CachedObject>(projected.value())->observed_at =
          std::chrono::steady_clock::now();
    }
    return projected;
  } catch (const std::exception& e) {
    return fail(std::string("cannot decode object: ") + e.what());
  }
}

void Informer::observe(std::string_view json) {
  auto projected = project(json);
  if (!projected) return;
  if (!ns_.empty() && projected.value()->meta.ns != ns_) return;
  auto current = store_.get(projected.value()->key());
  if (current && older(projected.value()->meta.resource_version, current->meta.resource_version))
    return;
  store_.apply(std::move(projected.value()));
}

void Informer::apply(ObjectPtr object) {
  if (auto current = store_.get(object->key());
      current && current->meta.uid == object->meta.uid &&
      older(object->meta.resource_version, current->meta.resource_version)) {
    return;  // an event older than what a write already put in the cache
  }
  auto previous = store_.apply(object);
  if (!previous) {
    if (handlers_.on_add) handlers_.on_add(object);
  } else if (previous->meta.resource_version != object->meta.resource_version ||
             previous->meta.uid != object->meta.uid) {
    if (handlers_.on_update) handlers_.on_update(previous, object);
  }
}

void Informer::on_event(WatcherEvent&& event) {
  switch (event.type) {
    case WatcherEventType::InitStart:
      relisting_ = true;
      seen_.clear();
      return;
    case WatcherEventType::InitDone: {
      for (const auto& key : store_.keys()) {
        if (seen_.count(key)) continue;
        auto gone = store_.remove(key);
        if (gone && handlers_.on_delete) handlers_.on_delete(gone);
      }
      seen_.clear();
      relisting_ = false;
      if (!synced_) {
        synced_ = true;
        if (handlers_.on_synced) handlers_.on_synced();
      }
      return;
    }
    case WatcherEventType::InitApply:
    case WatcherEventType::Apply:
    case WatcherEventType::Delete:
      break;
  }
  auto projected = project(event.object);
  if (!projected) {
    ++stats_.decode_errors;
    stats_.last_decode_error = projected.error();
    on_error_(
        ErrorReport{"informer", path_, "Decode", "cannot decode object: " + projected.error()});
    return;
  }
  ObjectPtr object = std::move(projected.value());
  if (event.type == WatcherEventType::Delete) {
    auto gone = store_.remove(object->key());
    if (handlers_.on_delete) handlers_.on_delete(gone ? gone : object);
    return;
  }
  if (event.type == WatcherEventType::InitApply) seen_.insert(object->key());
  apply(std::move(object));
}

}  // namespace sto::kube
