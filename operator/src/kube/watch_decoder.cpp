#include "kube/watch_decoder.h"

#include <cstring>

#include <simdjson.h>

#include "kube/json_meta.h"

namespace sto::kube {

struct WatchDecoder::Parser {
  simdjson::ondemand::parser parser;
};

WatchDecoder::WatchDecoder(std::size_t max_event_bytes)
    : parser_(std::make_unique<Parser>()), max_event_bytes_(max_event_bytes) {}
WatchDecoder::~WatchDecoder() = default;
WatchDecoder::WatchDecoder(WatchDecoder&&) noexcept = default;
WatchDecoder& WatchDecoder::operator=(WatchDecoder&&) noexcept = default;

namespace {

ApiError decode_error(std::string message) {
  ApiError e;
  e.kind = ApiErrorKind::Decode;
  e.message = "watch stream: " + std::move(message);
  return e;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

}  // namespace

Result<Ok, ApiError> WatchDecoder::feed(std::string_view bytes, std::vector<WatchEvent>& out) {
  // Keep simdjson's padding available behind the data without reallocating
  // for every chunk.
  std::size_t needed = buffer_.size() + bytes.size() + simdjson::SIMDJSON_PADDING;
  if (buffer_.capacity() < needed) buffer_.reserve(std::max(needed, buffer_.capacity() * 2));
  buffer_.append(bytes);
  std::size_t start = 0;
  for (;;) {
    auto nl = buffer_.find('\n', std::max(start, scanned_));
    if (nl == std::string::npos) break;
    auto r = decode(start, nl, out);
    if (!r) return r;
    start = nl + 1;
  }
  if (start > 0) buffer_.erase(0, start);
  scanned_ = buffer_.size();
  if (start > 0) {
    // After a large event, neither the parser nor the buffer keeps its size.
    shrink_parser(parser_->parser);
    if (buffer_.capacity() > kKeptParserCapacity && buffer_.size() < kKeptParserCapacity / 2) {
      std::string(buffer_).swap(buffer_);
    }
  }
  if (buffer_.size() > max_event_bytes_) {
    return fail(decode_error("event larger than " + std::to_string(max_event_bytes_) + " bytes"));
  }
  return Ok{};
}

Result<Ok, ApiError> WatchDecoder::finish(std::vector<WatchEvent>& out) {
  std::size_t b = 0;
  while (b < buffer_.size() && is_space(buffer_[b])) ++b;
  if (b == buffer_.size()) {
    buffer_.clear();
    scanned_ = 0;
    return Ok{};
  }
  buffer_.reserve(buffer_.size() + simdjson::SIMDJSON_PADDING);
  auto r = decode(0, buffer_.size(), out);
  buffer_.clear();
  scanned_ = 0;
  return r;
}

Result<Ok, ApiError> WatchDecoder::decode(std::size_t begin, std::size_t end,
                                          std::vector<WatchEvent>& out) try {
  while (begin < end && is_space(buffer_[begin])) ++begin;
  while (end > begin && is_space(buffer_[end - 1])) --end;
  if (begin == end) return Ok{};  // blank line
  if (end - begin > max_event_bytes_) {
    return fail(decode_error("event larger than " + std::to_string(max_event_bytes_) + " bytes"));
  }
  simdjson::padded_string_view view(buffer_.data() + begin, end - begin,
                                    buffer_.capacity() - begin);
  simdjson::ondemand::document doc;
  if (auto err = parser_->parser.iterate(view).get(doc)) {
    return fail(decode_error(std::string("invalid JSON: ") + simdjson::error_message(err)));
  }
  std::string_view type;
  if (doc["type"].get_string().get(type))
    return fail(decode_error("event without a string \"type\""));
  WatchEvent ev{};
  if (type == "ADDED") {
    ev.type = WatchEventType::Added;
  } else if (type == "MODIFIED") {
    ev.type = WatchEventType::Modified;
  } else if (type == "DELETED") {
    ev.type = WatchEventType::Deleted;
  } else if (type == "BOOKMARK") {
    ev.type = WatchEventType::Bookmark;
  } else if (type == "ERROR") {
    ev.type = WatchEventType::Error;
  } else {
    return fail(decode_error("unknown event type \"" + std::string(type.substr(0, 32)) + "\""));
  }
  simdjson::ondemand::object object;
  if (doc["object"].get_object().get(object))
    return fail(decode_error("event without an \"object\""));
  std::string_view raw;
  if (object.raw_json().get(raw)) return fail(decode_error("malformed \"object\""));
  ev.object.assign(raw.data(), raw.size());
  std::string_view rv;
  if (!doc.at_pointer("/object/metadata/resourceVersion").get_string().get(rv)) {
    ev.resource_version.assign(rv.data(), rv.size());
  }
  out.push_back(std::move(ev));
  return Ok{};
} catch (const simdjson::simdjson_error& e) {
  return fail(decode_error(std::string("malformed JSON: ") + e.what()));
}

Result<ListPage, ApiError> decode_list(std::string& body) try {
  auto bad = [](std::string what) {
    ApiError e;
    e.kind = ApiErrorKind::Decode;
    e.message = "list answer: " + std::move(what);
    return e;
  };
  std::size_t size = body.size();
  body.append(simdjson::SIMDJSON_PADDING, '\0');
  simdjson::padded_string_view view(body.data(), size, body.size());
  thread_local simdjson::ondemand::parser parser;
  struct Shrink {
    ~Shrink() { shrink_parser(parser); }
  } shrink;
  simdjson::ondemand::document doc;
  if (auto err = parser.iterate(view).get(doc)) {
    return fail(bad(std::string("invalid JSON: ") + simdjson::error_message(err)));
  }
  // One forward pass over the fields, every error checked: On Demand's
  // by-name lookups rewind, and on a malformed document (an unclosed object,
  // a missing value) a lookup after a rewind is undefined behaviour.
  auto invalid = [&](simdjson::error_code err) {
    return fail(bad(std::string("invalid JSON: ") + simdjson::error_message(err)));
  };
  ListPage page;
  simdjson::ondemand::object root;
  if (auto err = doc.get_object().get(root)) return invalid(err);
  for (auto field : root) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return invalid(err);
    simdjson::ondemand::value value;
    if (auto err = field.value().get(value)) return invalid(err);
    if (key == "metadata") {
      simdjson::ondemand::object meta;
      if (value.get_object().get(meta)) continue;  // not an object: skipped
      for (auto meta_field : meta) {
        std::string_view meta_key;
        if (auto err = meta_field.unescaped_key().get(meta_key)) return invalid(err);
        std::string* target = meta_key == "resourceVersion" ? &page.resource_version
                              : meta_key == "continue"      ? &page.continue_token
                                                            : nullptr;
        if (!target) continue;
        std::string_view v;
        if (!meta_field.value().get_string().get(v)) *target = std::string(v);
      }
    } else if (key == "items") {
      if (value.type() == simdjson::ondemand::json_type::null) continue;
      simdjson::ondemand::array items;
      if (value.get_array().get(items)) return fail(bad("\"items\" is not an array"));
      for (auto item : items) {
        simdjson::ondemand::object obj;
        if (item.get_object().get(obj)) return fail(bad("an item is not an object"));
        std::string_view raw;
        if (obj.raw_json().get(raw)) return fail(bad("malformed item"));
        page.items.emplace_back(raw);
      }
    }
  }
  return page;
} catch (const simdjson::simdjson_error& e) {
  ApiError err;
  err.kind = ApiErrorKind::Decode;
  err.message = std::string("list answer: malformed JSON: ") + e.what();
  return fail(std::move(err));
}

}  // namespace sto::kube
