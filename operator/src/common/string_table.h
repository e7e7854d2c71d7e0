// StringTable: a small map of strings to strings, sorted by key, held in one
// buffer. Cached projections keep thousands of these (a Secret's labels, its
// annotations, its data digests): a std::map spends a node and up to two
// allocations per entry, this one allocation per table. Lookups scan, which
// suits the few dozen entries a projection keeps at most. A table of keys
// with empty values serves as a set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

namespace sto {

class StringTable {
 public:
  struct Entry {
    std::string_view key;
    std::string_view value;
  };

  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Entry;

    Iterator() = default;
    Iterator(const char* at, const char* end) : at_(at), end_(end) {}
    Entry operator*() const {
      const Lengths n = lengths(at_);
      const char* key = at_ + sizeof(Lengths);
      return {std::string_view(key, n.key), std::string_view(key + n.key, n.value)};
    }
    Iterator& operator++() {
      at_ = next(at_);
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    bool operator==(const Iterator& o) const { return at_ == o.at_; }

   private:
    const char* at_ = nullptr;
    const char* end_ = nullptr;
  };

  Iterator begin() const { return {buf_.data(), buf_.data() + buf_.size()}; }
  Iterator end() const { return {buf_.data() + buf_.size(), buf_.data() + buf_.size()}; }
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Bytes held (without the object itself).
  std::size_t bytes() const { return buf_.capacity(); }

  // Adds the entry unless the key is there already (then keeps the old
  // value, as std::map::emplace does); true when added.
  bool emplace(std::string_view key, std::string_view value = {}) {
    std::size_t at = 0;
    while (at < buf_.size()) {
      const Entry e = entry_at(at);
      if (e.key == key) return false;
      if (key < e.key) break;
      at = offset_after(at);
    }
    Lengths n{static_cast<std::uint32_t>(key.size()), static_cast<std::uint32_t>(value.size())};
    std::string piece(sizeof n, '\0');
    std::memcpy(piece.data(), &n, sizeof n);
    piece.append(key).append(value);
    buf_.insert(at, piece);
    ++count_;
    return true;
  }

  std::optional<std::string_view> find(std::string_view key) const {
    for (const Entry e : *this) {
      if (e.key == key) return e.value;
      if (key < e.key) break;
    }
    return std::nullopt;
  }
  bool contains(std::string_view key) const { return find(key).has_value(); }
  // The value, empty when the key is absent.
  std::string get(std::string_view key) const { return std::string(find(key).value_or("")); }

  // Adds the other table's entries whose keys this one lacks.
  void merge(const StringTable& other) {
    for (const Entry e : other) emplace(e.key, e.value);
  }
  // Gives back the spare capacity growth left.
  void shrink_to_fit() { buf_.shrink_to_fit(); }

  // Equal entries: the layout is canonical (sorted, unique keys).
  bool operator==(const StringTable& o) const { return count_ == o.count_ && buf_ == o.buf_; }

 private:
  struct Lengths {
    std::uint32_t key;
    std::uint32_t value;
  };
  static Lengths lengths(const char* at) {
    Lengths n;
    std::memcpy(&n, at, sizeof n);
    return n;
  }
  static const char* next(const char* at) {
    const Lengths n = lengths(at);
    return at + sizeof(Lengths) + n.key + n.value;
  }
  Entry entry_at(std::size_t at) const { return *Iterator(buf_.data() + at, nullptr); }
  std::size_t offset_after(std::size_t at) const {
    return static_cast<std::size_t>(next(buf_.data() + at) - buf_.data());
  }

  std::string buf_;
  std::uint32_t count_ = 0;
};

}  // namespace sto
