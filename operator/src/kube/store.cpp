#include "kube/store.h"

#include "kube/resource.h"

namespace sto::kube {

std::string CachedObject::key() const { return object_key(meta.ns, meta.name); }

void Store::add_index(const std::string& name, IndexFunc func) {
  indexes_[name] = Index{std::move(func), {}};
  for (const auto& [key, obj] : objects_) index(key, *obj);
}

void Store::index(const std::string& key, const CachedObject& obj) {
  for (auto& [name, idx] : indexes_) {
    for (auto& value : idx.func(obj)) idx.entries[value].insert(key);
  }
}

void Store::unindex(const std::string& key, const CachedObject& obj) {
  for (auto& [name, idx] : indexes_) {
    for (auto& value : idx.func(obj)) {
      auto it = idx.entries.find(value);
      if (it == idx.entries.end()) continue;
      it->second.erase(key);
      if (it->second.empty()) idx.entries.erase(it);
    }
  }
}

ObjectPtr Store::apply(ObjectPtr object) {
  std::string key = object->key();
  auto it = objects_.find(key);
  ObjectPtr previous;
  if (it != objects_.end()) {
    previous = it->second;
    unindex(key, *previous);
    it->second = object;
  } else {
    objects_.emplace(key, object);
  }
  index(key, *object);
  return previous;
}

ObjectPtr Store::remove(const std::string& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return nullptr;
  ObjectPtr previous = std::move(it->second);
  objects_.erase(it);
  unindex(key, *previous);
  return previous;
}

ObjectPtr Store::get(const std::string& key) const {
  auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::by_index(const std::string& index, const std::string& value) const {
  std::vector<ObjectPtr> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  auto it = idx->second.entries.find(value);
  if (it == idx->second.entries.end()) return out;
  for (const auto& key : it->second) {
    if (auto obj = get(key)) out.push_back(std::move(obj));
  }
  return out;
}

std::vector<ObjectPtr> Store::list() const {
  std::vector<ObjectPtr> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) out.push_back(obj);
  return out;
}

std::vector<std::string> Store::keys() const {
  std::vector<std::string> out;
  out.reserve(objects_.size());
  for (const auto& [key, obj] : objects_) out.push_back(key);
  return out;
}

std::vector<std::string> index_by_owner_uid(const CachedObject& obj) {
  std::vector<std::string> out;
  for (const auto& o : obj.meta.owners) {
    if (o.controller) out.push_back(o.uid);
  }
  return out;
}

}  // namespace sto::kube
