// WatchDecoder: turns the byte stream of a watch response (one JSON event per
// line, split anywhere by the transport) into WatchEvents. Memory is bounded:
// an event larger than the limit is an error, not an allocation.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "kube/api_error.h"
#include "kube/client.h"

namespace sto::kube {

// One page of a list answer: the list's resourceVersion and continue token,
// and each item's JSON.
struct ListPage {
  std::string resource_version;
  std::string continue_token;
  std::vector<std::string> items;
};

// Decodes a list answer ({"metadata":{...},"items":[...]}); body gets
// padding appended for the parser.
Result<ListPage, ApiError> decode_list(std::string& body);

class WatchDecoder {
 public:
  explicit WatchDecoder(std::size_t max_event_bytes = 16u * 1024 * 1024);
  ~WatchDecoder();
  WatchDecoder(WatchDecoder&&) noexcept;
  WatchDecoder& operator=(WatchDecoder&&) noexcept;

  // Consumes bytes and appends every completed event to out. Fails on an
  // event that is not valid JSON, lacks type or object, has an unknown type,
  // or exceeds the size limit.
  Result<Ok, ApiError> feed(std::string_view bytes, std::vector<WatchEvent>& out);
  // The stream ended: anything left over that is not white space is an error
  // (a truncated event); a complete last event without its newline is emitted.
  Result<Ok, ApiError> finish(std::vector<WatchEvent>& out);

 private:
  Result<Ok, ApiError> decode(std::size_t begin, std::size_t end, std::vector<WatchEvent>& out);

  struct Parser;
  std::unique_ptr<Parser> parser_;
  std::string buffer_;
  std::size_t scanned_ = 0;  // bytes of buffer_ known to hold no newline
  std::size_t max_event_bytes_;
};

}  // namespace sto::kube
