#include "controller/managed_secret.h"

#include <algorithm>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "controller/names.h"
#include "kube/json_meta.h"

namespace sto::controller {

std::string ManagedSecret::annotation(std::string_view key) const { return annotations.get(key); }

std::string ManagedSecret::label(std::string_view key) const { return labels.get(key); }

bool ManagedSecret::owned_by(std::string_view uid) const {
  // By UID only: the owner label may have been stripped (drift to repair).
  for (const auto& o : meta.owners) {
    if (o.controller && o.uid == uid) return true;
  }
  return !uid.empty() && annotation(kOwnerUidAnnotation) == uid;
}

bool ManagedSecret::retained_for(std::string_view token_name, bool cluster) const {
  for (const auto& o : meta.owners) {
    if (o.controller) return false;
  }
  return label(kManagedByLabel) == kManagedByValue &&
         label(cluster ? kClusterOwnerLabel : kOwnerLabel) == token_name &&
         label(cluster ? kOwnerLabel : kClusterOwnerLabel).empty() &&
         !annotation(kOwnerUidAnnotation).empty();
}

std::string ManagedSecret::manager() const {
  if (auto name = label(kClusterOwnerLabel); !name.empty())
    return std::string(kClusterKind) + " " + name;
  return std::string(kKind) + " " + label(kOwnerLabel);
}

AppliedFields applied_fields_from(std::string_view fields_v1_json) {
  AppliedFields out;
  auto tree = nlohmann::json::parse(fields_v1_json, nullptr, false);
  if (tree.is_discarded() || !tree.is_object()) return out;
  std::size_t kept = 0;
  auto names = [&](const nlohmann::json& node, const char* key, StringTable& into) {
    auto it = node.find(key);
    if (it == node.end() || !it->is_object()) return;
    for (const auto& [k, v] : it->items()) {
      if (!k.starts_with("f:")) continue;
      if (kept == kMaxAppliedNames) {
        out.truncated = true;
        return;
      }
      into.emplace(std::string_view(k).substr(2));
      ++kept;
    }
  };
  if (auto meta = tree.find("f:metadata"); meta != tree.end() && meta->is_object()) {
    names(*meta, "f:labels", out.labels);
    names(*meta, "f:annotations", out.annotations);
    auto refs = meta->find("f:ownerReferences");
    out.owner_references = refs != meta->end() && refs->is_object() && !refs->empty();
  }
  names(tree, "f:data", out.data);
  return out;
}

namespace {

// The fields the operator's entries in metadata.managedFields own.
std::string read_applied_fields(simdjson::ondemand::value& value, AppliedFields& out) {
  simdjson::ondemand::array entries;
  if (value.type() == simdjson::ondemand::json_type::null) return {};
  if (value.get_array().get(entries)) return "metadata.managedFields is not an array";
  for (auto entry : entries) {
    simdjson::ondemand::object o;
    if (entry.get_object().get(o)) return "metadata.managedFields: not an object";
    std::string_view manager, operation, fields;
    for (auto f : o) {
      std::string_view k;
      if (f.unescaped_key().get(k)) return "metadata.managedFields: malformed key";
      bool bad = false;
      if (k == "manager") {
        bad = f.value().get_string().get(manager) != simdjson::SUCCESS;
      } else if (k == "operation") {
        bad = f.value().get_string().get(operation) != simdjson::SUCCESS;
      } else if (k == "fieldsV1") {
        simdjson::ondemand::object tree;
        bad = f.value().get_object().get(tree) != simdjson::SUCCESS ||
              tree.raw_json().get(fields) != simdjson::SUCCESS;
      }
      if (bad) return "metadata.managedFields: malformed " + std::string(k);
    }
    // raw_json() views the padded input, which outlives this loop. A Secret
    // the operator created (POST) carries its fields in an Update entry
    // until its first apply moves them into the Apply entry: both count.
    if (manager == kFieldManager && (operation == "Apply" || operation == "Update") &&
        !fields.empty()) {
      AppliedFields entry = applied_fields_from(fields);
      out.labels.merge(entry.labels);
      out.annotations.merge(entry.annotations);
      out.data.merge(entry.data);
      out.owner_references = out.owner_references || entry.owner_references;
      out.truncated = out.truncated || entry.truncated ||
                      out.labels.size() + out.annotations.size() + out.data.size() >
                          kMaxAppliedNames;
    }
  }
  return {};
}

bool own_key(std::string_view key) {
  return key == kManagedByLabel || key == kOwnerLabel || key == kClusterOwnerLabel ||
         key == kOwnerUidAnnotation ||
         std::ranges::find(kSyncAnnotations, key) != std::end(kSyncAnnotations);
}

Result<kube::ObjectPtr, std::string> decode_managed_secret(std::string_view json) {
  kube::JsonDocument parsed(json);
  if (!parsed.error().empty()) return fail(parsed.error());
  auto secret = std::make_shared<ManagedSecret>();
  // Anyone can label a Secret as ours: what is kept of one is bounded. The
  // operator's own keys are always kept; other labels and annotations (a
  // target's) and data keys only up to a budget, beyond which the Secret is
  // marked oversized (its drift check then finds what is missing and
  // re-applies, which changes nothing on the server if nothing differs).
  std::size_t foreign_bytes = 0;
  auto keep = [&](StringTable& into, std::string_view k, std::string_view v) {
    if (!own_key(k)) {
      if (foreign_bytes + k.size() + v.size() > kMaxForeignMetadataBytes) {
        secret->oversized = true;
        return;
      }
      foreign_bytes += k.size() + v.size();
    }
    into.emplace(k, v);
  };
  simdjson::ondemand::object root;
  if (parsed.doc().get_object().get(root)) return fail(std::string("not an object"));
  bool have_meta = false;
  for (auto field : root) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return fail(std::string("malformed key"));
    if (key == "metadata") {
      simdjson::ondemand::object meta;
      if (field.value().get_object().get(meta))
        return fail(std::string("metadata is not an object"));
      auto on_label = [&](std::string_view k, std::string_view v) { keep(secret->labels, k, v); };
      auto on_annotation = [&](std::string_view k, std::string_view v) {
        // Only our own annotations; kubectl's last-applied copy can be large.
        if (k.starts_with(kAnnotationPrefix)) keep(secret->annotations, k, v);
      };
      auto on_other = [&](std::string_view k, auto& v) -> std::string {
        if (k != "managedFields") return {};
        simdjson::ondemand::value managed;
        if (v.get(managed)) return "metadata.managedFields is malformed";
        return read_applied_fields(managed, secret->applied);
      };
      if (auto err =
              kube::decode_object_meta(meta, secret->meta, on_label, on_annotation, on_other);
          !err.empty()) {
        return fail(std::move(err));
      }
      have_meta = true;
    } else if (key == "type") {
      std::string_view t;
      if (!field.value().get_string().get(t)) secret->type = std::string(t);
    } else if (key == "data") {
      simdjson::ondemand::object data;
      if (field.value().get_object().get(data)) continue;
      for (auto entry : data) {
        std::string_view k, v;
        if (entry.unescaped_key().get(k) || entry.value().get_string().get(v)) {
          return fail(std::string("data: malformed entry"));
        }
        if (secret->data_sha256.size() == kMaxDataKeys) {
          secret->oversized = true;
          continue;
        }
        auto decoded = base64_decode(v);
        secret->data_sha256.emplace(k, decoded ? sha256_hex(*decoded) : std::string("invalid"));
      }
    }
  }
  if (!have_meta) return fail(std::string("object without metadata"));
  if (secret->applied.truncated) secret->oversized = true;
  for (StringTable* t : {&secret->labels, &secret->annotations, &secret->data_sha256,
                         &secret->applied.labels, &secret->applied.annotations,
                         &secret->applied.data}) {
    t->shrink_to_fit();
  }
  return kube::ObjectPtr(std::move(secret));
}

}  // namespace

Result<kube::ObjectPtr, std::string> project_managed_secret(std::string_view json) {
  try {
    return decode_managed_secret(json);
  } catch (const simdjson::simdjson_error& e) {
    return fail(std::string("malformed JSON: ") + e.what());
  }
}

std::optional<std::string> secret_value(std::string_view json, std::string_view key) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto data = j.find("data");
  if (data == j.end() || !data->is_object()) return std::nullopt;
  auto it = data->find(std::string(key));
  if (it == data->end() || !it->is_string()) return std::nullopt;
  return base64_decode(it->get<std::string>());
}

std::string DesiredSecret::to_json(std::string_view resource_version) const {
  nlohmann::json j;
  j["apiVersion"] = "v1";
  j["kind"] = "Secret";
  j["type"] = "Opaque";
  auto& m = j["metadata"];
  m["name"] = name;
  m["namespace"] = ns;
  if (!resource_version.empty()) m["resourceVersion"] = resource_version;
  m["labels"] = labels;
  m["annotations"] = annotations;
  if (!owner_uid.empty()) {
    m["ownerReferences"] = nlohmann::json::array({{{"apiVersion", kApiVersion},
                                                   {"kind", owner_kind},
                                                   {"name", owner_name},
                                                   {"uid", owner_uid},
                                                   {"controller", true},
                                                   {"blockOwnerDeletion", true}}});
  }
  auto& d = j["data"];
  d = nlohmann::json::object();
  for (const auto& [k, v] : data) d[k] = base64_encode(v);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string token_fingerprint(std::string_view token) {
  return "sha256:" + sha256_hex(token).substr(0, 16);
}

}  // namespace sto::controller
