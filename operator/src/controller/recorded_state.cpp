#include "controller/recorded_state.h"

#include <charconv>

#include "common/rfc3339.h"
#include "controller/names.h"

namespace sto::controller {

namespace {

// A recorded time, or `fallback` when absent, unreadable or further ahead
// than anything the operator writes (so a forged value cannot stop refreshes).
Clock::time_point recorded_time(std::string_view text, Clock::time_point fallback,
                                Clock::time_point now, std::chrono::seconds horizon) {
  auto t = parse_rfc3339(text);
  if (!t) return fallback;
  if (*t > now + horizon) return now;
  return *t;
}

std::optional<std::int64_t> parse_revision(std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

RecordedState read_recorded(const SysdigToken& token, const ManagedSecret* secret,
                            std::chrono::seconds refresh_interval, Clock::time_point now,
                            const UnwrittenCheck* check) {
  const SysdigTokenStatus& st = token.status;
  // Nothing the operator writes lies further ahead than one refresh interval
  // (plus jitter) or an Unchanged check window.
  const auto horizon = refresh_interval * 2 + std::chrono::hours(1);
  RecordedState r;
  r.fingerprint = st.token_fingerprint;
  r.revision = st.revision;
  r.secret_written = secret && !secret->annotation(kFingerprintAnnotation).empty();
  if (r.secret_written) {
    r.fingerprint = secret->annotation(kFingerprintAnnotation);
    if (auto rev = parse_revision(secret->annotation(kRevisionAnnotation))) r.revision = *rev;
  }
  r.handled_reset = secret ? secret->annotation(kResetHandledAnnotation) : std::string();
  if (r.handled_reset.empty()) r.handled_reset = st.last_handled_reset;

  if (secret) {
    if (auto digest = secret->data_sha256.find(token.spec.target.token_key))
      r.token_sha256 = std::string(*digest);
  }
  const std::string fp_hex =
      r.fingerprint.starts_with("sha256:") ? r.fingerprint.substr(7) : std::string();
  r.token_intact = secret && !fp_hex.empty() && r.token_sha256.starts_with(fp_hex);

  r.last_sync = recorded_time(st.last_sync_time, Clock::time_point{}, now, horizon);
  r.next_refresh = recorded_time(st.next_refresh_time, now, now, horizon);
  if (secret) {
    // A write of the Secret is a sync too (the status may lag behind it).
    auto synced = recorded_time(secret->annotation(kSyncedAtAnnotation), Clock::time_point{},
                                now, horizon);
    if (synced > r.last_sync) {
      r.last_sync = synced;
      r.next_refresh = std::max(r.next_refresh, synced + refresh_interval);
    }
  }
  if (check && check->at > r.last_sync) {
    r.last_sync = check->at;
    r.next_refresh = std::max(r.next_refresh, check->next_refresh);
  }

  r.reset_outcome = r.secret_written ? secret->annotation(kResetOutcomeAnnotation)
                                     : st.last_reset_outcome;
  r.reset_check_until = r.secret_written ? secret->annotation(kResetCheckUntilAnnotation)
                                         : st.reset_check_until;
  auto check_until = recorded_time(r.reset_check_until, Clock::time_point{}, now, horizon);
  r.in_reset_window = r.reset_outcome == kResetUnchanged && now < check_until;
  if (!r.in_reset_window) r.reset_check_until.clear();

  r.failing = st.failed_attempts > 0;
  r.retry_at = recorded_time(st.next_retry_time, now, now, horizon);
  return r;
}

FetchPlan plan_fetch(const SysdigToken& token, const RecordedState& recorded,
                     std::chrono::seconds reset_check_interval, Clock::time_point now) {
  FetchPlan p;
  p.reset_pending = !token.reset_value.empty() && token.reset_value != recorded.handled_reset;
  p.spec_changed = token.meta.generation != token.status.observed_generation;
  p.reset_check_due = recorded.in_reset_window && now >= recorded.last_sync + reset_check_interval;
  const bool retry_due = recorded.failing && now >= recorded.retry_at;
  if (recorded.failing && !retry_due && !p.reset_pending && !p.spec_changed) {
    p.backing_off_until = recorded.retry_at;
    return p;
  }
  p.fetch = !recorded.token_intact || p.reset_pending || p.spec_changed || p.reset_check_due ||
            now >= recorded.next_refresh || retry_due;
  return p;
}

SyncRecord next_record(const RecordedState& recorded, const FetchPlan& plan,
                       const std::string& reset_value, const std::string& new_fingerprint,
                       std::chrono::minutes reset_check_window, Clock::time_point now) {
  SyncRecord s;
  s.fingerprint = new_fingerprint;
  s.first = recorded.fingerprint.empty();
  s.rotated = !s.first && new_fingerprint != recorded.fingerprint;
  s.revision = s.first ? std::max<std::int64_t>(recorded.revision, 0) + 1
                       : recorded.revision + (s.rotated ? 1 : 0);
  s.handled_reset = recorded.handled_reset;
  s.reset_outcome = recorded.reset_outcome;
  s.reset_check_until = recorded.reset_check_until;
  if (plan.reset_pending) {
    // A reset value is handled once: the answer Sysdig gave after it decides.
    const bool rotated = s.rotated || s.first;
    s.handled_reset = reset_value;
    s.reset_outcome = std::string(rotated ? kResetRotated : kResetUnchanged);
    s.reset_check_until = rotated ? std::string() : format_rfc3339(now + reset_check_window);
  } else if (recorded.in_reset_window && s.rotated) {
    // The new token appeared while checking after an Unchanged reset.
    s.reset_outcome = std::string(kResetRotated);
    s.reset_check_until.clear();
  }
  return s;
}

Clock::time_point next_look(Clock::time_point next_refresh, Clock::time_point last_sync,
                            const std::string& reset_check_until,
                            std::chrono::seconds reset_check_interval) {
  if (reset_check_until.empty()) return next_refresh;
  return std::min(next_refresh, last_sync + reset_check_interval);
}

}  // namespace sto::controller
