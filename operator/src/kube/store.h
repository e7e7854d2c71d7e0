// Store: the informer's cache — projected objects keyed by namespace/name,
// with optional secondary indexes (for example by owner UID). Objects are
// immutable once stored and shared by pointer, so readers never copy them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sto::kube {

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
};

// The metadata every cached object keeps.
struct ObjectMeta {
  std::string ns;
  std::string name;
  std::string uid;
  std::string resource_version;
  std::int64_t generation = 0;
  bool deleting = false;  // deletionTimestamp is set
  std::vector<OwnerReference> owners;
};

// Base of every projection kept in a Store; a projection adds only the
// fields its controller reads.
struct CachedObject {
  virtual ~CachedObject() = default;
  ObjectMeta meta;
  // When the informer received this version (a watch event, a list, or the
  // answer to the operator's own write); the epoch when unknown. Whatever
  // this version carries was written before then.
  std::chrono::steady_clock::time_point observed_at{};
  std::string key() const;
};

using ObjectPtr = std::shared_ptr<const CachedObject>;

class Store {
 public:
  using IndexFunc = std::function<std::vector<std::string>(const CachedObject&)>;

  // Indexes must be added before the first object.
  void add_index(const std::string& name, IndexFunc func);

  // Inserts or replaces; returns the previous object, if any.
  ObjectPtr apply(ObjectPtr object);
  // Removes by key; returns the removed object, if any.
  ObjectPtr remove(const std::string& key);

  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> by_index(const std::string& index, const std::string& value) const;
  std::vector<ObjectPtr> list() const;
  std::vector<std::string> keys() const;
  std::size_t size() const { return objects_.size(); }

  template <typename T>
  std::shared_ptr<const T> get_as(const std::string& key) const {
    return std::static_pointer_cast<const T>(get(key));
  }

 private:
  void index(const std::string& key, const CachedObject& obj);
  void unindex(const std::string& key, const CachedObject& obj);

  std::unordered_map<std::string, ObjectPtr> objects_;
  struct Index {
    IndexFunc func;
    std::unordered_map<std::string, std::unordered_set<std::string>> entries;
  };
  std::unordered_map<std::string, Index> indexes_;
};

// The index function for "by controller owner UID".
std::vector<std::string> index_by_owner_uid(const CachedObject& obj);

}  // namespace sto::kube
