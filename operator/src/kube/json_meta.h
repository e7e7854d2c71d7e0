// Decoding of metav1.ObjectMeta from a simdjson on-demand object, shared by
// the projections. Include only from .cpp files that use simdjson.
#pragma once

#include <string>

#include <simdjson.h>

#include "kube/store.h"

namespace sto::kube {

// A JSON text parsed on demand with this thread's parser: a padded copy and
// the document over it. One at a time per thread (the parser is reused).
// A parser keeps buffers as large as the largest text it has read (several
// times its size): after a large one (a Secret of 1 MiB) it starts afresh,
// so that one big object does not hold that memory for good.
inline constexpr std::size_t kKeptParserCapacity = 256 * 1024;
inline void shrink_parser(simdjson::ondemand::parser& parser) {
  if (parser.capacity() > kKeptParserCapacity) parser = simdjson::ondemand::parser{};
}

class JsonDocument {
 public:
  explicit JsonDocument(std::string_view json) : text_(json) {
    if (auto err = parser().iterate(text_).get(doc_))
      error_ = std::string("invalid JSON: ") + simdjson::error_message(err);
  }
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;
  // Empty when the text parsed.
  const std::string& error() const { return error_; }
  simdjson::ondemand::document& doc() { return doc_; }

 private:
  static simdjson::ondemand::parser& parser() {
    thread_local simdjson::ondemand::parser p;
    return p;
  }
  // Destroyed last, after the document over the parser.
  struct Shrink {
    ~Shrink() { shrink_parser(parser()); }
  } shrink_;
  simdjson::padded_string text_;
  simdjson::ondemand::document doc_;
  std::string error_;
};

// Reads namespace, name, uid, resourceVersion, generation,
// deletionTimestamp and ownerReferences; calls on_label/on_annotation for
// each label and annotation, and on_other(key, value) for any other field
// (it returns an error text, empty when fine). Returns an error text on
// malformed input.
template <typename OnLabel, typename OnAnnotation, typename OnOther>
std::string decode_object_meta(simdjson::ondemand::object& metadata, ObjectMeta& meta,
                               OnLabel&& on_label, OnAnnotation&& on_annotation,
                               OnOther&& on_other) {
  for (auto field : metadata) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return "metadata: malformed key";
    auto value = field.value();
    std::string_view s;
    if (key == "name") {
      if (value.get_string().get(s)) return "metadata.name is not a string";
      meta.name = std::string(s);
    } else if (key == "namespace") {
      if (value.get_string().get(s)) return "metadata.namespace is not a string";
      meta.ns = std::string(s);
    } else if (key == "uid") {
      if (value.get_string().get(s)) return "metadata.uid is not a string";
      meta.uid = std::string(s);
    } else if (key == "resourceVersion") {
      if (value.get_string().get(s)) return "metadata.resourceVersion is not a string";
      meta.resource_version = std::string(s);
    } else if (key == "generation") {
      if (value.get_int64().get(meta.generation)) return "metadata.generation is not an integer";
    } else if (key == "deletionTimestamp") {
      meta.deleting = value.type() != simdjson::ondemand::json_type::null;
    } else if (key == "labels" || key == "annotations") {
      simdjson::ondemand::object map;
      if (value.type() == simdjson::ondemand::json_type::null) continue;
      if (value.get_object().get(map)) return "metadata." + std::string(key) + " is not an object";
      bool labels = key == "labels";
      for (auto entry : map) {
        std::string_view k, v;
        if (entry.unescaped_key().get(k) || entry.value().get_string().get(v)) {
          return "metadata." + std::string(labels ? "labels" : "annotations") + ": malformed entry";
        }
        if (labels) {
          on_label(k, v);
        } else {
          on_annotation(k, v);
        }
      }
    } else if (key == "ownerReferences") {
      simdjson::ondemand::array refs;
      if (value.get_array().get(refs)) return "metadata.ownerReferences is not an array";
      for (auto ref : refs) {
        simdjson::ondemand::object o;
        if (ref.get_object().get(o)) return "metadata.ownerReferences: not an object";
        OwnerReference owner;
        for (auto f : o) {
          std::string_view fk;
          if (f.unescaped_key().get(fk)) return "metadata.ownerReferences: malformed key";
          auto fv = f.value();
          std::string_view str;
          if (fk == "controller") {
            bool b = false;
            if (!fv.get_bool().get(b)) owner.controller = b;
          } else if (!fv.get_string().get(str)) {
            if (fk == "apiVersion")
              owner.api_version = std::string(str);
            else if (fk == "kind")
              owner.kind = std::string(str);
            else if (fk == "name")
              owner.name = std::string(str);
            else if (fk == "uid")
              owner.uid = std::string(str);
          }
        }
        meta.owners.push_back(std::move(owner));
      }
    } else if (auto err = on_other(key, value); !err.empty()) {
      return err;
    }
  }
  if (meta.name.empty()) return "metadata.name is missing";
  return {};
}

template <typename OnLabel, typename OnAnnotation>
std::string decode_object_meta(simdjson::ondemand::object& metadata, ObjectMeta& meta,
                               OnLabel&& on_label, OnAnnotation&& on_annotation) {
  // managedFields and everything else are skipped without copying.
  auto skip = [](std::string_view, auto&) { return std::string(); };
  return decode_object_meta(metadata, meta, on_label, on_annotation, skip);
}

}  // namespace sto::kube
