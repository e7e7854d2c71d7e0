// ManagedSecret: what the controller keeps of a Secret it manages (cached
// with the managed-by label selector): ownership marks, the operator's
// annotations, and a SHA-256 per data key — never the data itself.
// DesiredSecret: the Secret the controller wants, rendered as the JSON of a
// create or a server-side apply.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/string_table.h"
#include "kube/store.h"

namespace sto::controller {

// The fields of a Secret the operator owns (from metadata.managedFields: its
// Apply entry, and the Update entry of the create until the first apply
// moves them over): an apply without one of them removes it.
struct AppliedFields {
  // Names only (the values are empty).
  StringTable labels;
  StringTable annotations;
  StringTable data;
  bool owner_references = false;
  bool truncated = false;  // more names than kMaxAppliedNames: the rest left out
};

// What the projection of one Secret keeps at most.
inline constexpr std::size_t kMaxAppliedNames = 256;
inline constexpr std::size_t kMaxDataKeys = 64;
// Bytes of labels and annotations other than the operator's own keys.
inline constexpr std::size_t kMaxForeignMetadataBytes = 16 * 1024;

struct ManagedSecret : kube::CachedObject {
  StringTable labels;
  StringTable annotations;
  StringTable data_sha256;  // key -> sha256 hex of the decoded value
  std::string type;
  AppliedFields applied;
  // It carried more than the projection keeps (see kMax*): only the
  // operator's own labels and annotations are sure to be here.
  bool oversized = false;

  std::string annotation(std::string_view key) const;
  std::string label(std::string_view key) const;
  // Managed by the SysdigToken with this UID: its controller owner reference,
  // or the owner-uid annotation under Retain.
  bool owned_by(std::string_view uid) const;
  // Left behind by a deleted SysdigToken (ClusterSysdigToken when `cluster`)
  // of this name with deletionPolicy Retain (names are unique, so it was an
  // earlier one): a new one of the same name takes it over.
  bool retained_for(std::string_view token_name, bool cluster = false) const;
  // Who manages it, for messages: "SysdigToken x" or "ClusterSysdigToken y".
  std::string manager() const;
};

// Reads the fields owned by `manager`'s Apply entry from a managedFields
// fieldsV1 tree (JSON text).
AppliedFields applied_fields_from(std::string_view fields_v1_json);

// Projection for the Secret informer; also decodes a Secret read with GET.
Result<kube::ObjectPtr, std::string> project_managed_secret(std::string_view json);

// Reads one data value (decoded) from a Secret's JSON.
std::optional<std::string> secret_value(std::string_view json, std::string_view key);

struct DesiredSecret {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> data;  // decoded values
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  // Controller owner reference (deletionPolicy Delete); empty under Retain.
  std::string owner_kind = "SysdigToken";
  std::string owner_name;
  std::string owner_uid;
  // Template data keys that use ${token} (key -> template), rendered when the
  // token is added; until then the template digest annotation stands for
  // them. The inputs' digest covers the templates and every other value
  // they use.
  std::map<std::string, std::string> token_templates;
  struct TemplateInputs {
    std::string url, team_id, instance_id, region;
  } template_inputs;
  std::string template_inputs_sha256;

  // JSON for POST (create) or for a server-side apply; resource_version, when
  // given, makes the write conditional on it.
  std::string to_json(std::string_view resource_version = {}) const;
};

// The fingerprint shown in status and annotations: "sha256:" + 16 hex digits.
std::string token_fingerprint(std::string_view token);

}  // namespace sto::controller
