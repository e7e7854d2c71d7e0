#include "controller/desired_secret.h"

#include <algorithm>

#include "common/encoding.h"
#include "controller/names.h"
#include "controller/secret_template.h"

namespace sto::controller {

namespace {

bool is_sync_annotation(std::string_view key) {
  return std::ranges::find(kSyncAnnotations, key) != std::end(kSyncAnnotations);
}

}  // namespace

std::optional<std::string> unwanted_fields(const AppliedFields& applied,
                                           const DesiredSecret& desired,
                                           const std::string& token_key) {
  for (const auto& e : applied.labels) {
    std::string k(e.key);
    if (!desired.labels.contains(k)) return "label " + k + " no longer wanted";
  }
  for (const auto& e : applied.data) {
    std::string k(e.key);
    if (!desired.data.contains(k) && !desired.token_templates.contains(k) && k != token_key)
      return "data " + k + " no longer wanted";
  }
  for (const auto& e : applied.annotations) {
    std::string k(e.key);
    if (!desired.annotations.contains(k) && !is_sync_annotation(k))
      return "annotation " + k + " no longer wanted";
  }
  if (applied.owner_references && desired.owner_uid.empty())
    return "owner reference no longer wanted";
  return std::nullopt;
}

namespace {

// The template digest: the inputs' digest and each token-dependent key's
// value digest, as the Secret holds them.
std::string template_digest(const DesiredSecret& desired, const StringTable& value_sha256) {
  std::string text = desired.template_inputs_sha256;
  for (const auto& [k, tmpl] : desired.token_templates) {
    text += '\0' + k + '\0' + value_sha256.get(k);
  }
  return sha256_hex(text);
}

}  // namespace

DesiredSecret render_desired_secret(const SysdigToken& token, const ResolvedSpec& spec,
                                    std::int64_t team_id) {
  const TargetSpec& target = token.spec.target;
  DesiredSecret d;
  d.ns = token.meta.ns;
  d.name = spec.target_name;
  d.labels = target.labels;
  d.labels[std::string(kManagedByLabel)] = std::string(kManagedByValue);
  d.labels[std::string(token.cluster_scoped ? kClusterOwnerLabel : kOwnerLabel)] = token.meta.name;
  d.annotations = target.annotations;
  if (target.retain) {
    d.annotations[std::string(kOwnerUidAnnotation)] = token.meta.uid;
  } else {
    d.owner_kind = std::string(token.cluster_scoped ? kClusterKind : kKind);
    d.owner_name = token.meta.name;
    d.owner_uid = token.meta.uid;
  }
  const std::string team = std::to_string(team_id);
  if (target.include_connection_info) {
    d.data[std::string(spec.url_key)] = spec.monitoring_endpoint;
    d.data[std::string(spec.team_id_key)] = team;
    d.data[std::string(kInstanceIdKey)] = token.spec.instance_id;
  }
  const TemplateValues values{{}, spec.monitoring_endpoint, team, token.spec.instance_id,
                              spec.region};
  std::string inputs;
  for (const auto& [k, tmpl] : target.template_data) {
    if (uses_token(tmpl)) {
      d.token_templates[k] = tmpl;
      inputs += k + '\0' + tmpl + '\0';
    } else {
      d.data[k] = render_template(tmpl, values);
    }
  }
  if (!d.token_templates.empty()) {
    d.template_inputs = {spec.monitoring_endpoint, team, token.spec.instance_id, spec.region};
    inputs += spec.monitoring_endpoint + '\0' + team + '\0' + token.spec.instance_id + '\0' +
              spec.region;
    d.template_inputs_sha256 = sha256_hex(inputs);
  }
  return d;
}

void with_token(DesiredSecret& desired, const SysdigToken& token, const std::string& value,
                const SyncRecord& record, const std::string& synced_at) {
  desired.data[token.spec.target.token_key] = value;
  auto set = [&](std::string_view key, const std::string& v) {
    if (!v.empty()) desired.annotations[std::string(key)] = v;
  };
  if (!desired.token_templates.empty()) {
    // The values the templates use besides the token are the connection
    // info's, whether or not the Secret carries that.
    const auto& in = desired.template_inputs;
    const TemplateValues values{value, in.url, in.team_id, in.instance_id, in.region};
    StringTable value_sha256;
    for (const auto& [k, tmpl] : desired.token_templates) {
      desired.data[k] = render_template(tmpl, values);
      value_sha256.emplace(k, sha256_hex(desired.data[k]));
    }
    set(kTemplateDigestAnnotation, template_digest(desired, value_sha256));
  }
  set(kFingerprintAnnotation, record.fingerprint);
  set(kRevisionAnnotation, std::to_string(record.revision));
  set(kResetHandledAnnotation, record.handled_reset);
  set(kResetOutcomeAnnotation, record.reset_outcome);
  set(kResetCheckUntilAnnotation, record.reset_check_until);
  set(kSyncedAtAnnotation, synced_at);
}

std::optional<std::string> drift(const ManagedSecret& secret, const DesiredSecret& desired,
                                 const SysdigToken& token, const std::string& token_sha256) {
  const std::string& token_key = token.spec.target.token_key;
  if (!secret.owned_by(token.meta.uid)) return "not marked as this resource's";
  if (auto unwanted = unwanted_fields(secret.applied, desired, token_key)) return unwanted;
  for (const auto& [k, v] : desired.labels) {
    if (secret.label(k) != v) return "label " + k;
  }
  if (secret.annotation(kFingerprintAnnotation).empty() ||
      secret.annotation(kRevisionAnnotation).empty())
    return "record annotations";
  for (const auto& [k, v] : desired.data) {
    if (k == token_key) continue;
    auto digest = secret.data_sha256.find(k);
    if (!digest || *digest != sha256_hex(v)) return "data " + k;
  }
  auto digest = secret.data_sha256.find(token_key);
  if (!digest || *digest != token_sha256) return "data " + token_key;
  if (!desired.token_templates.empty()) {
    // Without the token the rendered values cannot be compared: the digest
    // written with them says whether they and their inputs are unchanged.
    const std::string expected = desired.data.contains(token_key)
                                     ? desired.annotations.at(std::string(kTemplateDigestAnnotation))
                                     : template_digest(desired, secret.data_sha256);
    if (secret.annotation(kTemplateDigestAnnotation) != expected) return "template data";
  }
  if (!desired.owner_uid.empty()) {
    bool owner = std::ranges::any_of(
        secret.meta.owners, [&](const auto& o) { return o.controller && o.uid == token.meta.uid; });
    if (!owner) return "owner reference";
  }
  return std::nullopt;
}

}  // namespace sto::controller
