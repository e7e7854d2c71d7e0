#include "controller/reconciler.h"

#include <random>

#include "common/encoding.h"
#include "common/rfc3339.h"
#include "controller/names.h"
#include "net/http_client.h"

namespace sto::controller {

namespace asio = boost::asio;
using Clock = std::chrono::system_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

std::string host_of(const std::string& url) {
  auto u = net::Url::parse(url);
  return u ? u->host : std::string();
}

milliseconds until(Clock::time_point now, Clock::time_point t) {
  return t <= now ? milliseconds(0) : duration_cast<milliseconds>(t - now);
}

// The annotations each write of the token sets (not from the spec).
bool is_sync_annotation(std::string_view k) {
  return k == kFingerprintAnnotation || k == kRevisionAnnotation || k == kResetHandledAnnotation ||
         k == kResetOutcomeAnnotation || k == kSyncedAtAnnotation ||
         k == kResetCheckUntilAnnotation;
}

Clock::time_point parse_or(std::string_view text, Clock::time_point fallback) {
  auto t = parse_rfc3339(text);
  return t ? *t : fallback;
}

// The condition to store: the transition time changes only with the status.
Condition ready_condition(const SysdigToken& token, bool ready, std::string_view reason,
                          std::string message, Clock::time_point now) {
  Condition c;
  c.type = std::string(condition::kReady);
  c.status = ready ? "True" : "False";
  c.reason = std::string(reason);
  c.message = std::move(message);
  c.observed_generation = token.meta.generation;
  const auto& old = token.status.ready;
  c.last_transition_time = old && old->status == c.status && !old->last_transition_time.empty()
                               ? old->last_transition_time
                               : format_rfc3339(now);
  return c;
}

}  // namespace

struct Reconciler::Attempt {
  std::string key;
  std::shared_ptr<const SysdigToken> token;
  Clock::time_point now;
};

Reconciler::Reconciler(TokenLookup tokens, SecretLookup secrets,
                       std::shared_ptr<ClusterGateway> cluster,
                       std::shared_ptr<ibm::MonitoringClient> monitoring,
                       ibm::HostAllowlist allowlist, std::shared_ptr<EventSink> events,
                       ReconcilerOptions options)
    : tokens_(std::move(tokens)),
      secrets_(std::move(secrets)),
      cluster_(std::move(cluster)),
      monitoring_(std::move(monitoring)),
      allowlist_(std::move(allowlist)),
      events_(std::move(events)),
      options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return Clock::now(); };
}

asio::awaitable<Result<ReconcileResult, kube::ApiError>> Reconciler::reconcile(
    const std::string& key) {
  Attempt a;
  a.key = key;
  a.token = tokens_(key);
  a.now = options_.clock();
  if (!a.token || a.token->meta.deleting) {
    ReconcileResult gone;
    gone.outcome = "Deleted";
    co_return gone;
  }
  co_return co_await run(a);
}

asio::awaitable<Result<ReconcileResult, kube::ApiError>> Reconciler::run(Attempt& a) {
  const SysdigToken& tok = *a.token;
  const auto& st = tok.status;
  const std::string& ns = tok.meta.ns;
  ReconcileResult result;

  // A failure: Ready=False with the reason, a Warning event, the Secret left
  // as it is; retryable failures back off per resource (kept in status).
  auto failure = [&](std::string_view reason, const std::string& message, bool retry,
                     std::optional<std::chrono::seconds> retry_after) -> SysdigTokenStatus {
    SysdigTokenStatus s = st;
    s.ready = ready_condition(tok, false, reason, message, a.now);
    s.observed_generation = tok.meta.generation;
    if (retry) {
      int attempt = static_cast<int>(std::min<std::int64_t>(st.failed_attempts, 30));
      auto delay = options_.failure_backoff.delay(attempt);
      if (retry_after) delay = std::max<milliseconds>(delay, *retry_after);
      s.failed_attempts = st.failed_attempts + 1;
      s.next_retry_time = format_rfc3339(a.now + delay);
      result.requeue_after = delay;
    } else {
      // Waits for a change of the resource: count it once, not per look.
      bool repeated = st.ready && st.ready->reason == reason && st.ready->message == message;
      s.failed_attempts = repeated ? st.failed_attempts : st.failed_attempts + 1;
      s.next_retry_time.clear();
    }
    result.failed = true;
    result.outcome = std::string(reason);
    if (!(st.ready && st.ready->reason == reason && st.ready->message == message)) {
      events_->emit(tok, true, reason, message);
    }
    return s;
  };
  auto write_status =
      [&](const SysdigTokenStatus& s) -> asio::awaitable<Result<Ok, kube::ApiError>> {
    if (s == st) co_return Ok{};
    auto written = co_await cluster_->write_status(tok, s);
    if (!written) co_return fail(std::move(written.error()));
    if (options_.observe_token) options_.observe_token(written.value());
    co_return Ok{};
  };
  auto observe_secret = [&](const std::string& json) {
    if (options_.observe_secret) options_.observe_secret(json);
  };

  // 1. The spec: what the schema could not catch fails for good (until the
  // spec changes).
  auto resolved = resolve_spec(tok);
  if (!resolved) {
    auto s = failure(reason::kInvalidSpec, resolved.error(), false, std::nullopt);
    auto w = co_await write_status(s);
    if (!w) co_return fail(std::move(w.error()));
    co_return result;
  }
  const ResolvedSpec& spec = resolved.value();
  for (const std::string* url : {&spec.monitoring_endpoint, &spec.iam_endpoint}) {
    std::string host = host_of(*url);
    if (!allowlist_.allows(host)) {
      auto s = failure(ibm::to_string(ibm::IbmErrorKind::EndpointNotAllowed),
                       "host \"" + host + "\" of " + *url + " is not in --allowed-hosts", false,
                       std::nullopt);
      auto w = co_await write_status(s);
      if (!w) co_return fail(std::move(w.error()));
      co_return result;
    }
  }

  // 3. What is there, and whose it is.
  auto secret = secrets_(ns, spec.target_name);
  auto ours = [&](const ManagedSecret& s) {
    return s.owned_by(tok.meta.uid) || s.retained_for(tok.meta.name);
  };
  if (secret && !ours(*secret)) {
    auto s = failure(reason::kSecretConflict,
                     "Secret " + spec.target_name + " is managed by SysdigToken " +
                         secret->label(kOwnerLabel) + "; choose another spec.target.name",
                     true, std::nullopt);
    auto w = co_await write_status(s);
    if (!w) co_return fail(std::move(w.error()));
    co_return result;
  }

  // The Secret is written together with the token, so its annotations are
  // the truth; the status repeats them (and stands in when the Secret is gone).
  std::string fingerprint = st.token_fingerprint;
  std::int64_t revision = st.revision;
  const bool secret_written = secret && !secret->annotation(kFingerprintAnnotation).empty();
  if (secret_written) {
    fingerprint = secret->annotation(kFingerprintAnnotation);
    try {
      revision = std::stoll(secret->annotation(kRevisionAnnotation));
    } catch (...) {
    }
  }
  // The reset value already handled: the Secret records it in the same write
  // as the token, so it survives a crash before the status write.
  std::string handled =
      secret ? secret->annotation(kResetHandledAnnotation) : st.last_handled_reset;
  if (handled.empty()) handled = st.last_handled_reset;
  bool reset_pending = !tok.reset_value.empty() && tok.reset_value != handled;

  auto token_hash = [&]() -> std::string {
    if (!secret) return {};
    auto it = secret->data_sha256.find(tok.spec.target.token_key);
    return it == secret->data_sha256.end() ? std::string() : it->second;
  };
  std::string fp_hex = fingerprint.starts_with("sha256:") ? fingerprint.substr(7) : std::string();
  bool token_intact = secret && !fp_hex.empty() && token_hash().starts_with(fp_hex);

  Clock::time_point last_sync = parse_or(st.last_sync_time, Clock::time_point{});
  Clock::time_point next_refresh = parse_or(st.next_refresh_time, a.now);
  if (secret) {
    // A write of the Secret is a sync too (the status may lag behind it).
    auto synced = parse_rfc3339(secret->annotation(kSyncedAtAnnotation));
    if (synced && *synced > last_sync) {
      last_sync = *synced;
      next_refresh = std::max(next_refresh, *synced + spec.refresh_interval);
    }
  }
  bool spec_changed = tok.meta.generation != st.observed_generation;
  // The outcome of the last reset and its polling window: written with the
  // Secret, so they too survive a lost status write.
  std::string outcome =
      secret_written ? secret->annotation(kResetOutcomeAnnotation) : st.last_reset_outcome;
  std::string reset_check_until =
      secret_written ? secret->annotation(kResetCheckUntilAnnotation) : st.reset_check_until;
  Clock::time_point check_until = parse_or(reset_check_until, Clock::time_point{});
  bool in_reset_window = outcome == "Unchanged" && a.now < check_until;
  if (!in_reset_window) reset_check_until.clear();
  bool reset_poll_due = in_reset_window && a.now >= last_sync + options_.reset_poll_interval;
  bool failing = st.failed_attempts > 0;
  Clock::time_point retry_at = parse_or(st.next_retry_time, a.now);

  bool need_fetch = !token_intact || reset_pending || spec_changed || reset_poll_due ||
                    a.now >= next_refresh || (failing && a.now >= retry_at);
  if (failing && a.now < retry_at && !reset_pending && !spec_changed) {
    result.requeue_after = until(a.now, retry_at);
    result.outcome = "BackingOff";
    co_return result;
  }

  // 4. The token: from Sysdig when due, else from the Secret itself.
  std::string token_value;
  std::int64_t team_id = tok.spec.team_id.value_or(st.team_id);
  if (need_fetch) {
    auto key = co_await cluster_->read_secret_value(ns, tok.spec.api_key_secret_name,
                                                    tok.spec.api_key_secret_key);
    if (!key) co_return fail(std::move(key.error()));
    if (!key->secret_found || !key->value || key->value->empty()) {
      std::string msg =
          !key->secret_found
              ? "Secret " + tok.spec.api_key_secret_name + " (spec.apiKeySecretRef.name) not found"
              : "Secret " + tok.spec.api_key_secret_name + " has no non-empty key \"" +
                    tok.spec.api_key_secret_key + "\" (spec.apiKeySecretRef.key)";
      auto s = failure(reason::kAPIKeySecretNotFound, msg, true, std::nullopt);
      auto w = co_await write_status(s);
      if (!w) co_return fail(std::move(w.error()));
      co_return result;
    }
    const std::string& api_key = *key->value;
    // A reset (or a check after one) needs an answer Sysdig gave after it.
    const milliseconds share_age =
        reset_pending || reset_poll_due ? milliseconds(0) : options_.token_share_age;
    ibm::InstanceRef instance{spec.monitoring_endpoint, spec.iam_endpoint, tok.spec.instance_id};
    if (!tok.spec.team_id) {
      auto id = co_await monitoring_->find_team_id(instance, tok.spec.team_name, api_key,
                                                 options_.token_share_age);
      if (!id) {
        auto& e = id.error();
        auto s = failure(ibm::to_string(e.kind), e.message, true, e.retry_after);
        auto w = co_await write_status(s);
        if (!w) co_return fail(std::move(w.error()));
        co_return result;
      }
      team_id = id.value();
    }
    ibm::TeamRef team{instance, team_id};
    auto fetched = co_await monitoring_->fetch_token(team, api_key, share_age);
    if (!fetched) {
      auto& e = fetched.error();
      auto s = failure(ibm::to_string(e.kind), e.message, true, e.retry_after);
      auto w = co_await write_status(s);
      if (!w) co_return fail(std::move(w.error()));
      co_return result;
    }
    token_value = std::move(fetched.value());
  }

  // Desired Secret (the token is filled below when read from the Secret).
  DesiredSecret desired;
  desired.ns = ns;
  desired.name = spec.target_name;
  desired.labels = tok.spec.target.labels;
  desired.labels[std::string(kManagedByLabel)] = std::string(kManagedByValue);
  desired.labels[std::string(kOwnerLabel)] = tok.meta.name;
  desired.annotations = tok.spec.target.annotations;
  if (tok.spec.target.retain) {
    desired.annotations[std::string(kOwnerUidAnnotation)] = tok.meta.uid;
  } else {
    desired.owner_name = tok.meta.name;
    desired.owner_uid = tok.meta.uid;
  }
  if (tok.spec.target.include_connection_info) {
    desired.data[std::string(kUrlKey)] = spec.monitoring_endpoint;
    desired.data[std::string(kTeamIdKey)] = std::to_string(team_id);
    desired.data[std::string(kInstanceIdKey)] = tok.spec.instance_id;
  }

  // Without a fetch, is the Secret as it should be (labels stripped, data
  // edited, connection info changed)?
  auto secret_matches = [&](const std::string& token_sha) {
    if (!secret) return false;
    if (!secret->owned_by(tok.meta.uid)) return false;
    // What the operator applied before and wants no more (a label dropped
    // from the spec, connection info turned off, Delete -> Retain).
    const AppliedFields& applied = secret->applied;
    for (const auto& k : applied.labels) {
      if (!desired.labels.count(k)) return false;
    }
    for (const auto& k : applied.data) {
      if (!desired.data.count(k) && k != tok.spec.target.token_key) return false;
    }
    for (const auto& k : applied.annotations) {
      if (!desired.annotations.count(k) && !is_sync_annotation(k)) return false;
    }
    if (applied.owner_references && desired.owner_uid.empty()) return false;
    for (const auto& [k, v] : desired.labels) {
      if (secret->label(k) != v) return false;
    }
    auto ours = [&](std::string_view k) { return secret->annotation(k); };
    if (ours(kFingerprintAnnotation).empty() || ours(kRevisionAnnotation).empty()) return false;
    for (const auto& [k, v] : desired.data) {
      auto it = secret->data_sha256.find(k);
      if (it == secret->data_sha256.end() || it->second != sha256_hex(v)) return false;
    }
    auto it = secret->data_sha256.find(tok.spec.target.token_key);
    if (it == secret->data_sha256.end() || it->second != token_sha) return false;
    if (!desired.owner_uid.empty()) {
      bool owner = false;
      for (const auto& o : secret->meta.owners)
        owner = owner || (o.controller && o.uid == tok.meta.uid);
      if (!owner) return false;
    }
    return true;
  };

  if (!need_fetch) {
    if (secret_matches(token_hash())) {
      // Up to date: only a status that lags the Secret is written.
      SysdigTokenStatus s = st;
      s.secret_name = spec.target_name;
      s.token_fingerprint = fingerprint;
      s.revision = revision;
      s.last_handled_reset = handled;
      s.last_reset_outcome = outcome;
      s.reset_check_until = reset_check_until;
      // A status write lost after the Secret's: catch up from the Secret.
      auto synced_text = secret->annotation(kSyncedAtAnnotation);
      auto synced = parse_rfc3339(synced_text);
      if (synced && *synced > parse_or(st.last_sync_time, Clock::time_point{})) {
        s.last_sync_time = synced_text;
        s.next_refresh_time = format_rfc3339(next_refresh);
        if (revision != st.revision) s.last_rotation_time = synced_text;
      }
      if (!s.ready || s.ready->status != "True") {
        s.ready = ready_condition(tok, true, reason::kTokenSynced,
                                  "Secret " + spec.target_name + " holds the team's token", a.now);
      }
      auto w = co_await write_status(s);
      if (!w) co_return fail(std::move(w.error()));
      Clock::time_point next = next_refresh;
      if (in_reset_window) next = std::min(next, last_sync + options_.reset_poll_interval);
      result.requeue_after = until(a.now, next);
      result.outcome = "UpToDate";
      co_return result;
    }
    // Drift without a due fetch: take the token from the Secret if it is
    // still the one we wrote, else from Sysdig next time round.
    auto fresh = co_await cluster_->get_secret(ns, spec.target_name);
    if (!fresh) co_return fail(std::move(fresh.error()));
    std::optional<std::string> value;
    if (fresh.value()) value = secret_value((*fresh)->json, tok.spec.target.token_key);
    if (!value || !sha256_hex(*value).starts_with(fp_hex)) {
      // The token itself was edited: fetch it again now.
      SysdigTokenStatus s = st;
      s.next_refresh_time = format_rfc3339(a.now);
      auto w = co_await write_status(s);
      if (!w) co_return fail(std::move(w.error()));
      result.requeue_after = milliseconds(0);
      result.outcome = "Refetch";
      co_return result;
    }
    token_value = std::move(*value);
  }

  // 5. Decide what changed.
  std::string new_fp = token_fingerprint(token_value);
  bool first = fingerprint.empty();
  bool rotated = !first && new_fp != fingerprint;
  std::int64_t new_revision =
      first ? std::max<std::int64_t>(revision, 0) + 1 : revision + (rotated ? 1 : 0);
  if (reset_pending) {
    outcome = rotated || first ? "Rotated" : "Unchanged";
    handled = tok.reset_value;
    reset_check_until =
        outcome == "Unchanged" ? format_rfc3339(a.now + options_.reset_poll_window) : "";
  } else if (in_reset_window && rotated) {
    outcome = "Rotated";
    reset_check_until.clear();
  }
  desired.data[tok.spec.target.token_key] = token_value;
  desired.annotations[std::string(kFingerprintAnnotation)] = new_fp;
  desired.annotations[std::string(kRevisionAnnotation)] = std::to_string(new_revision);
  if (!handled.empty()) desired.annotations[std::string(kResetHandledAnnotation)] = handled;
  if (!outcome.empty()) desired.annotations[std::string(kResetOutcomeAnnotation)] = outcome;
  if (!reset_check_until.empty())
    desired.annotations[std::string(kResetCheckUntilAnnotation)] = reset_check_until;
  desired.annotations[std::string(kSyncedAtAnnotation)] =
      need_fetch ? format_rfc3339(a.now)
                 : (secret ? secret->annotation(kSyncedAtAnnotation) : format_rfc3339(a.now));

  bool handled_changed = secret && secret->annotation(kResetHandledAnnotation) != handled;
  bool outcome_changed = secret && (secret->annotation(kResetOutcomeAnnotation) != outcome ||
                                    secret->annotation(kResetCheckUntilAnnotation) !=
                                        reset_check_until);
  bool write_secret =
      !secret_matches(sha256_hex(token_value)) || handled_changed || outcome_changed ||
      (secret && secret->annotation(kRevisionAnnotation) != std::to_string(new_revision));
  bool restored = false;
  if (write_secret) {
    if (!secret) {
      auto created = co_await cluster_->create_secret(desired);
      if (created) observe_secret(created.value());
      if (!created) {
        if (created.error().kind != kube::ApiErrorKind::AlreadyExists)
          co_return fail(std::move(created.error()));
        // Decided at write time: someone else's Secret is never overwritten.
        auto existing = co_await cluster_->get_secret(ns, spec.target_name);
        if (!existing) co_return fail(std::move(existing.error()));
        if (!existing.value() || !ours(*(*existing)->secret)) {
          auto s = failure(
              reason::kSecretConflict,
              "Secret " + spec.target_name +
                  " exists and is not managed by this SysdigToken; choose another spec.target.name",
              true, std::nullopt);
          auto w = co_await write_status(s);
          if (!w) co_return fail(std::move(w.error()));
          co_return result;
        }
        std::string rv = (*existing)->secret->meta.resource_version;
        auto applied = co_await cluster_->apply_secret(desired, rv);
        if (!applied) co_return fail(std::move(applied.error()));
        observe_secret(applied.value());
      }
      restored = !first && !rotated;
    } else {
      std::string rv = secret->meta.resource_version;
      auto applied = co_await cluster_->apply_secret(desired, rv);
      if (!applied) co_return fail(std::move(applied.error()));
      observe_secret(applied.value());
      restored = !first && !rotated && !handled_changed && !outcome_changed;
    }
  }

  // A renamed target: once the new Secret holds the token, the old managed
  // Secret is deleted (Delete) or released (Retain).
  if (!st.secret_name.empty() && st.secret_name != spec.target_name) {
    auto old = secrets_(ns, st.secret_name);
    if (old && old->owned_by(tok.meta.uid)) {
      auto r =
          tok.spec.target.retain
              ? co_await cluster_->release_secret(ns, st.secret_name, old->meta.resource_version)
              : co_await cluster_->delete_secret(ns, st.secret_name, old->meta.uid);
      if (!r && r.error().kind != kube::ApiErrorKind::NotFound)
        co_return fail(std::move(r.error()));
    }
  }

  // 6. Events and status.
  std::string team_text = "team " + std::to_string(team_id);
  // The first sync this resource reports (also when the Secret was written
  // before a lost status write, or taken over from a retained one).
  if (first || (st.token_fingerprint.empty() && !rotated)) {
    events_->emit(
        tok, false, reason::kTokenSynced,
        "Secret " + spec.target_name + " now holds the Monitor API token of " + team_text);
  } else if (rotated) {
    events_->emit(tok, false, reason::kTokenRotated,
                  "Secret " + spec.target_name + " now holds a new token of " + team_text +
                      " (revision " + std::to_string(new_revision) + ")");
  } else if (restored) {
    events_->emit(tok, false, reason::kSecretRestored,
                  "Secret " + spec.target_name + " was repaired");
  }
  if (reset_pending && outcome == "Unchanged") {
    events_->emit(
        tok, true, reason::kResetUnchanged,
        "Sysdig returned the same token for reset \"" + handled +
            "\": reset the token in the Monitoring UI (Settings > Monitor API > Reset Token); "
            "the operator checks again every 30s for 15 minutes");
  }

  SysdigTokenStatus s = st;
  s.observed_generation = tok.meta.generation;
  s.secret_name = spec.target_name;
  s.team_id = team_id;
  s.token_fingerprint = new_fp;
  s.revision = new_revision;
  s.last_handled_reset = handled;
  s.last_reset_outcome = outcome;
  s.reset_check_until = reset_check_until;
  s.failed_attempts = 0;
  s.next_retry_time.clear();
  if (first || rotated) s.last_rotation_time = format_rfc3339(a.now);
  Clock::time_point next = next_refresh;
  if (need_fetch) {
    s.last_sync_time = format_rfc3339(a.now);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.0, options_.refresh_jitter);
    auto interval = duration_cast<milliseconds>(spec.refresh_interval);
    next = a.now + milliseconds(static_cast<long long>(interval.count() * (1.0 + jitter(rng))));
    s.next_refresh_time = format_rfc3339(next);
    last_sync = a.now;
  }
  s.ready = ready_condition(tok, true, reason::kTokenSynced,
                            "Secret " + spec.target_name + " holds the Monitor API token of " +
                                team_text + " (revision " + std::to_string(new_revision) + ")",
                            a.now);
  auto w = co_await write_status(s);
  if (!w) co_return fail(std::move(w.error()));

  if (!reset_check_until.empty()) next = std::min(next, last_sync + options_.reset_poll_interval);
  result.requeue_after = until(a.now, next);
  result.outcome = first     ? "Synced"
                   : rotated ? "Rotated"
                             : (reset_pending ? outcome : (restored ? "Restored" : "Refreshed"));
  co_return result;
}

}  // namespace sto::controller
