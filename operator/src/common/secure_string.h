// Clearing secrets (API keys, request bodies that carry them, answers that
// carry tokens) from memory once they are no longer needed.
//
// cleanse(s) overwrites a string's whole buffer (its capacity, not only its
// size) with OPENSSL_cleanse, which the compiler may not optimise away, and
// empties it. SecureString is a std::string that does so when it goes
// (destroyed, moved from or reassigned); CleanseOnExit does it for a string
// that lives elsewhere at the end of a scope.
//
// This is hygiene, not a guarantee: copies made by libraries (a JSON parser,
// the TLS layer's record buffers) are out of reach.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <openssl/crypto.h>

namespace sto {

inline void cleanse(std::string& s) noexcept {
  // Grow the size to the capacity (no reallocation) so that bytes left over
  // from a longer earlier value are overwritten too.
  s.resize(s.capacity());
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

class SecureString {
 public:
  SecureString() = default;
  explicit SecureString(std::string_view value) : value_(value) {}
  explicit SecureString(std::string&& value) noexcept : value_(std::move(value)) {}
  SecureString(const SecureString& other) : value_(other.value_) {}
  SecureString(SecureString&& other) noexcept : value_(std::move(other.value_)) {
    cleanse(other.value_);
  }
  SecureString& operator=(const SecureString& other) {
    if (this != &other) {
      cleanse(value_);
      value_ = other.value_;
    }
    return *this;
  }
  SecureString& operator=(SecureString&& other) noexcept {
    if (this != &other) {
      cleanse(value_);
      value_ = std::move(other.value_);
      cleanse(other.value_);
    }
    return *this;
  }
  ~SecureString() { cleanse(value_); }

  const std::string& str() const { return value_; }
  std::string_view view() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

// Cleanses `target` when the scope ends (also on an early return).
class CleanseOnExit {
 public:
  explicit CleanseOnExit(std::string& target) : target_(target) {}
  ~CleanseOnExit() { cleanse(target_); }
  CleanseOnExit(const CleanseOnExit&) = delete;
  CleanseOnExit& operator=(const CleanseOnExit&) = delete;

 private:
  std::string& target_;
};

}  // namespace sto
