// The reconcile reads as DESIGN §2's rules, top to bottom: each step answers
// one question (is the spec usable, whose is the Secret, what is recorded,
// is a fetch due, what changed) and a failure is reported in one place.
#include "controller/reconciler.h"

#include <random>
#include <variant>

#include <boost/asio/this_coro.hpp>

#include "common/encoding.h"
#include "common/rfc3339.h"
#include "common/secure_string.h"
#include "controller/desired_secret.h"
#include "controller/names.h"
#include "controller/recorded_state.h"
#include "controller/reset_gathering.h"
#include "controller/restarts.h"
#include "net/http_client.h"

namespace sto::controller {

namespace asio = boost::asio;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

// Why an attempt ends early: a failure reported on the resource (Ready=False),
// or a Kubernetes API error the work queue retries.
struct Failure {
  Reason reason;
  std::string message;
  std::optional<std::chrono::seconds> retry_after;
};
using Stop = std::variant<Failure, kube::ApiError>;
template <typename T>
using Step = asio::awaitable<Result<T, Stop>>;
using Reconciled = Result<ReconcileResult, kube::ApiError>;

struct Attempt {
  Reconciler::Parts& parts;
  const std::string& key;
  const SysdigToken& tok;
  Clock::time_point now;
  ResolvedSpec spec;
  std::shared_ptr<const ManagedSecret> secret;
  RecordedState recorded;
  FetchPlan plan;
  std::int64_t team_id = 0;
  ReconcileResult result;
  asio::any_io_executor executor;
};

// How long ago the informer received this version of the resource (0 when
// unknown), rounded down.
milliseconds since_received(const SysdigToken& token) {
  using Steady = std::chrono::steady_clock;
  if (token.observed_at == Steady::time_point{}) return milliseconds(0);
  return std::max(milliseconds(0),
                  std::chrono::floor<milliseconds>(Steady::now() - token.observed_at));
}

milliseconds until(Clock::time_point now, Clock::time_point t) {
  return t <= now ? milliseconds(0) : duration_cast<milliseconds>(t - now);
}

// The Ready condition to store: the transition time changes only with the
// condition's status.
Condition ready_condition(const SysdigToken& token, bool ready, Reason reason,
                          std::string message, Clock::time_point now) {
  return next_condition(std::string(condition::kReady), ready ? "True" : "False",
                        std::string(to_string(reason)), std::move(message), token.meta.generation,
                        token.status.ready, now);
}

void emit(Attempt& a, Reason reason, const std::string& message) {
  a.parts.events->emit(a.tok, info(reason).warning, to_string(reason), message);
}

// Writes the status when it differs from the stored one, and feeds the
// answer back into the cache.
asio::awaitable<Result<Ok, kube::ApiError>> write_status(Attempt& a, const SysdigTokenStatus& s) {
  if (s == a.tok.status) co_return Ok{};
  if (a.tok.cluster_scoped) {
    if (a.parts.options.member_status) a.parts.options.member_status(a.key, s);
    co_return Ok{};
  }
  auto written = co_await a.parts.cluster->write_status(a.tok, s);
  if (!written) co_return fail(std::move(written.error()));
  if (a.parts.options.observe_token) a.parts.options.observe_token(written.value());
  co_return Ok{};
}

void observe_secret(Attempt& a, const std::string& json) {
  if (a.parts.options.observe_secret) a.parts.options.observe_secret(json);
}

// A failure: Ready=False with the reason, a Warning event when the condition
// changes, the Secret left as it is; a reason that retries backs off per
// resource (kept in the status), one that does not waits for a change.
asio::awaitable<Reconciled> fail_with(Attempt& a, const Failure& f) {
  const SysdigTokenStatus& st = a.tok.status;
  const ReasonInfo& ri = info(f.reason);
  const bool repeated = st.ready && st.ready->status == "False" &&
                        st.ready->reason == ri.name && st.ready->message == f.message;
  SysdigTokenStatus s = st;
  s.ready = ready_condition(a.tok, false, f.reason, f.message, a.now);
  s.observed_generation = a.tok.meta.generation;
  if (ri.retries) {
    const int attempt = static_cast<int>(std::min<std::int64_t>(st.failed_attempts, 30));
    milliseconds delay = a.parts.options.failure_backoff.delay(attempt);
    // Some reasons back off from a floor (a person has to act first).
    delay = std::max<milliseconds>(delay, ri.min_backoff);
    if (f.retry_after) delay = std::max<milliseconds>(delay, *f.retry_after);
    s.failed_attempts = st.failed_attempts + 1;
    s.next_retry_time = format_rfc3339(a.now + delay);
    a.result.requeue_after = delay;
  } else {
    // Waits for a change of the resource: counted once, not per look.
    s.failed_attempts = repeated ? st.failed_attempts : st.failed_attempts + 1;
    s.next_retry_time.clear();
  }
  a.result.outcome = Outcome::Failed;
  a.result.reason = f.reason;
  if (!repeated) emit(a, f.reason, f.message);
  auto w = co_await write_status(a, s);
  if (!w) co_return fail(std::move(w.error()));
  co_return a.result;
}

asio::awaitable<Reconciled> stop_with(Attempt& a, Stop& stop) {
  if (auto* api = std::get_if<kube::ApiError>(&stop)) co_return fail(std::move(*api));
  co_return co_await fail_with(a, std::get<Failure>(stop));
}

// 1. The spec: what the schema could not catch, and hosts off the allowlist.
Result<ResolvedSpec, Failure> check_spec(const Reconciler::Parts& parts, const SysdigToken& tok) {
  auto resolved = resolve_spec(tok);
  if (!resolved) return fail(Failure{Reason::InvalidSpec, resolved.error(), std::nullopt});
  for (const std::string* url : {&resolved->monitoring_endpoint, &resolved->iam_endpoint}) {
    auto u = net::Url::parse(*url);
    std::string host = u ? u->host : std::string();
    if (!parts.allowlist.allows(host)) {
      return fail(Failure{Reason::EndpointNotAllowed,
                          "host \"" + host + "\" of " + *url + " is not in --allowed-hosts",
                          std::nullopt});
    }
  }
  return std::move(resolved.value());
}

// 2. Whose the target Secret is (from the cache; decided again at write time).
bool ours(const SysdigToken& tok, const ManagedSecret& s) {
  return s.owned_by(tok.meta.uid) || s.retained_for(tok.meta.name, tok.cluster_scoped);
}

std::optional<Failure> check_ownership(const Attempt& a) {
  if (!a.secret || ours(a.tok, *a.secret)) return std::nullopt;
  return Failure{Reason::SecretConflict,
                 "Secret " + a.spec.target_name + " is managed by " + a.secret->manager() +
                     "; choose another spec.target.name",
                 std::nullopt};
}

// A token of the trusted profile's ServiceAccount, asked for when IAM must be
// called (owns its arguments: it may run after the reconcile that made it).
asio::awaitable<Result<std::string, ibm::IbmError>> service_account_token(
    std::shared_ptr<ClusterGateway> cluster, std::string ns, std::string name) {
  auto token = co_await cluster->request_service_account_token(ns, name);
  if (token && token->has_value()) co_return std::move(**token);
  using K = ibm::IbmErrorKind;
  const std::string who = "ServiceAccount " + name + " (spec.trustedProfile.serviceAccountName)";
  if (token) {
    co_return fail(ibm::make_error(K::ServiceAccountTokenFailed,
                                   who + " not found in namespace " + ns +
                                       ": create it there, or name one of this namespace"));
  }
  const kube::ApiError& e = token.error();
  ibm::IbmError error;
  if (e.kind == kube::ApiErrorKind::Forbidden) {
    error = ibm::make_error(K::ServiceAccountTokenFailed,
                            "the operator may not create tokens of " + who + " in namespace " +
                                ns + ": grant it create on serviceaccounts/token (" +
                                e.describe() + ")");
  } else {
    error = ibm::make_error(K::ServiceAccountTokenFailed,
                            "the API server gave no token of " + who + " in namespace " + ns +
                                ": " + e.describe());
    error.retryable = true;
  }
  co_return fail(std::move(error));
}

// 3a. The credential: the API key from its Secret, or the trusted profile
// (its ServiceAccount token is asked for only when IAM must be called).
Step<ibm::Credential> read_credential(Attempt& a) {
  const SysdigTokenSpec& spec = a.tok.spec;
  // A ClusterSysdigToken names the namespace of its key; a SysdigToken reads
  // its own.
  const std::string& ns = a.tok.cluster_scoped ? spec.api_key_secret_namespace : a.tok.meta.ns;
  if (a.spec.trusted_profile && !a.tok.cluster_scoped) {
    ibm::TrustedProfile profile{spec.trusted_profile_id, spec.trusted_profile_name, ns,
                                spec.service_account_name};
    ibm::CrTokenSource source = [cluster = a.parts.cluster, ns,
                                 name = spec.service_account_name] {
      return service_account_token(cluster, ns, name);
    };
    co_return ibm::Credential::trusted_profile(std::move(profile), std::move(source));
  }
  auto key = co_await a.parts.cluster->read_secret_value(ns, spec.api_key_secret_name,
                                                         spec.api_key_secret_key);
  if (!key) co_return fail(Stop(std::move(key.error())));
  if (!key->secret_found || !key->value || key->value->empty()) {
    std::string msg =
        !key->secret_found
            ? "Secret " + spec.api_key_secret_name + " (spec.apiKeySecretRef.name) not found" +
                  (a.tok.cluster_scoped ? " in namespace " + ns : std::string())
            : "Secret " + spec.api_key_secret_name + " has no non-empty key \"" +
                  spec.api_key_secret_key + "\" (spec.apiKeySecretRef.key)";
    co_return fail(Stop(Failure{Reason::APIKeySecretNotFound, std::move(msg), std::nullopt}));
  }
  CleanseOnExit wipe_key(*key->value);
  co_return ibm::Credential(*key->value);
}

// 3. The token from Sysdig: the credential, the team (by name when no ID is
// given), then the team's token.
Step<std::string> fetch_token(Attempt& a) {
  const SysdigTokenSpec& spec = a.tok.spec;
  auto credential = co_await read_credential(a);
  if (!credential) co_return fail(std::move(credential.error()));
  const ibm::Credential& cred = credential.value();
  const auto& options = a.parts.options;
  auto ibm_failure = [](const ibm::IbmError& e) {
    return Stop(Failure{reason_for(e.kind), e.message, e.retry_after});
  };
  ibm::InstanceRef instance{a.spec.monitoring_endpoint, a.spec.iam_endpoint, spec.instance_id};
  if (!spec.team_id) {
    auto id = co_await a.parts.monitoring->find_team_id(instance, spec.team_name, cred,
                                                       options.token_share_age);
    if (!id) co_return fail(ibm_failure(id.error()));
    a.team_id = id.value();
  }
  // A reset needs an answer Sysdig gave after it: from a fetch that started
  // once the operator had received the version of the resource carrying the
  // reset (so in a storm of resets, resources of one team and key that were
  // reset before a fetch of it began share that fetch). A check after an
  // unchanged reset asks Sysdig again.
  milliseconds share_age = options.token_share_age;
  if (a.plan.reset_check_due && !a.plan.reset_pending) {
    share_age = milliseconds(0);
  } else if (a.plan.reset_pending) {
    share_age = since_received(a.tok);
  }
  ibm::TeamRef team{instance, a.team_id};
  auto fetched = co_await a.parts.monitoring->fetch_token(team, cred, share_age);
  if (!fetched) co_return fail(ibm_failure(fetched.error()));
  co_return std::move(fetched.value());
}

// rolloutRestartTargets, on a status about to be written for `revision`: a
// finished restart is recorded (condition, events); a revision newer than
// the one restarted for is asked for — once, as the record survives
// restarts. The first revision seen with targets is only recorded: a first
// sync, adding targets or an operator upgrade restart nothing.
void plan_restarts(Attempt& a, SysdigTokenStatus& s, std::int64_t revision, bool rotated) {
  const auto& targets = a.tok.spec.restart_targets;
  auto& scheduler = a.parts.restarts;
  if (targets.empty() || !scheduler) {
    s.restarted_revision = 0;
    s.last_restart_time.clear();
    s.restarted.reset();
    return;
  }
  if (auto done = scheduler->take(a.key)) {
    s.restarted_revision = std::max(s.restarted_revision, done->revision);
    if (!done->restarted.empty()) s.last_restart_time = format_rfc3339(done->at);
    std::string names;
    for (const auto& w : done->restarted) names += (names.empty() ? "" : ", ") + w;
    const std::string revision_text = " for revision " + std::to_string(done->revision);
    Condition c;
    c.type = std::string(condition::kWorkloadsRestarted);
    c.observed_generation = a.tok.meta.generation;
    if (done->failures.empty()) {
      c.status = "True";
      c.reason = std::string(condition::kRolloutRestarted);
      c.message = "restarted " + names + revision_text;
      a.parts.events->emit(a.tok, false, condition::kRolloutRestarted, c.message);
    } else {
      c.status = "False";
      c.reason = std::string(condition::kRestartFailed);
      for (const auto& f : done->failures) c.message += (c.message.empty() ? "" : "; ") + f;
      if (!names.empty()) c.message += "; restarted " + names;
      c.message += revision_text;
      a.parts.events->emit(a.tok, true, condition::kRestartFailed, c.message);
    }
    const auto& old = a.tok.status.restarted;
    c.last_transition_time = old && old->status == c.status ? old->last_transition_time
                                                             : format_rfc3339(a.now);
    s.restarted = std::move(c);
  }
  if (s.restarted_revision == 0 && !rotated) {
    s.restarted_revision = revision;
  } else if (s.restarted_revision < revision && !scheduler->pending(a.key, revision)) {
    scheduler->request(a.executor, a.key, a.tok.meta.ns, revision, targets);
  }
}

// Nothing due and the Secret as it should be: only a status that lags the
// Secret's record is written.
asio::awaitable<Reconciled> report_up_to_date(Attempt& a) {
  const SysdigTokenStatus& st = a.tok.status;
  const RecordedState& rec = a.recorded;
  SysdigTokenStatus s = st;
  s.secret_name = a.spec.target_name;
  s.token_fingerprint = rec.fingerprint;
  s.revision = rec.revision;
  s.last_handled_reset = rec.handled_reset;
  s.last_reset_outcome = rec.reset_outcome;
  s.reset_check_until = rec.reset_check_until;
  // A status write lost after the Secret's: catch up from the Secret.
  const std::string synced_text = a.secret->annotation(kSyncedAtAnnotation);
  auto synced = parse_rfc3339(synced_text);
  auto status_synced = parse_rfc3339(st.last_sync_time);
  if (synced && *synced <= a.now && (!status_synced || *synced > *status_synced)) {
    s.last_sync_time = synced_text;
    s.next_refresh_time = format_rfc3339(rec.next_refresh);
    if (rec.revision != st.revision) s.last_rotation_time = synced_text;
  }
  if (!s.ready || s.ready->status != "True") {
    s.ready = ready_condition(a.tok, true, Reason::TokenSynced,
                              "Secret " + a.spec.target_name + " holds the team's token", a.now);
  }
  plan_restarts(a, s, rec.revision, false);
  auto w = co_await write_status(a, s);
  if (!w) co_return fail(std::move(w.error()));
  const auto interval = a.parts.options.reset_poll_interval;
  a.result.requeue_after =
      until(a.now, next_look(rec.next_refresh, rec.last_sync, rec.reset_check_until, interval));
  a.result.outcome = Outcome::UpToDate;
  co_return a.result;
}

// Drift without a due fetch: the token is taken from the Secret if it is
// still the one recorded; nullopt when it was edited (fetch again).
Step<std::optional<std::string>> token_from_secret(Attempt& a) {
  auto fresh = co_await a.parts.cluster->get_secret(a.tok.meta.ns, a.spec.target_name);
  if (!fresh) co_return fail(Stop(std::move(fresh.error())));
  std::optional<std::string> value;
  if (fresh.value()) value = secret_value((*fresh)->json, a.tok.spec.target.token_key);
  const std::string& fp = a.recorded.fingerprint;
  const std::string fp_hex = fp.starts_with("sha256:") ? fp.substr(7) : std::string();
  if (!value || fp_hex.empty() || !sha256_hex(*value).starts_with(fp_hex))
    co_return std::optional<std::string>();
  co_return value;
}

// The token's value is never part of a message, not even when the API
// server quotes what it refused.
std::string without(std::string text, const std::string& secret_value) {
  if (secret_value.empty()) return text;
  for (auto pos = text.find(secret_value); pos != std::string::npos;
       pos = text.find(secret_value, pos))
    text.replace(pos, secret_value.size(), "[redacted]");
  return text;
}

// A write the API server refuses for good (invalid, forbidden) is reported
// on the resource and backs off; anything else is retried by the queue.
Stop write_error(Attempt& a, kube::ApiError e, const std::string& token_value) {
  using K = kube::ApiErrorKind;
  if (e.kind == K::Invalid || e.kind == K::Forbidden || e.kind == K::BadRequest) {
    return Failure{Reason::SecretRejected,
                   "the API server refused Secret " + a.spec.target_name + ": " +
                       without(e.describe(), token_value),
                   std::nullopt};
  }
  return e;
}

// 4. The write, ownership decided again at write time: a new Secret is
// created (AlreadyExists: look, then SecretConflict unless it is ours); an
// update carries the resourceVersion that was checked.
Step<Ok> write_secret(Attempt& a, const DesiredSecret& desired, const std::string& token_value) {
  auto& cluster = *a.parts.cluster;
  std::string rv;
  if (a.secret) {
    rv = a.secret->meta.resource_version;
  } else {
    auto created = co_await cluster.create_secret(desired);
    if (created) {
      observe_secret(a, created.value());
      co_return Ok{};
    }
    if (created.error().kind != kube::ApiErrorKind::AlreadyExists)
      co_return fail(write_error(a, std::move(created.error()), token_value));
    auto existing = co_await cluster.get_secret(a.tok.meta.ns, a.spec.target_name);
    if (!existing) co_return fail(Stop(std::move(existing.error())));
    if (!existing.value() || !ours(a.tok, *(*existing)->secret)) {
      co_return fail(Stop(Failure{Reason::SecretConflict,
                                  "Secret " + a.spec.target_name +
                                      " exists and is not managed by this " +
                                      std::string(a.tok.cluster_scoped ? kClusterKind : kKind) +
                                      "; choose another spec.target.name",
                                  std::nullopt}));
    }
    rv = (*existing)->secret->meta.resource_version;
  }
  auto applied = co_await cluster.apply_secret(desired, rv);
  if (!applied) co_return fail(write_error(a, std::move(applied.error()), token_value));
  observe_secret(a, applied.value());
  co_return Ok{};
}

// A renamed target: once the new Secret holds the token, the old managed
// Secret is deleted (Delete) or released (Retain).
asio::awaitable<Result<Ok, kube::ApiError>> clean_up_renamed(Attempt& a) {
  const std::string& old_name = a.tok.status.secret_name;
  if (old_name.empty() || old_name == a.spec.target_name) co_return Ok{};
  const std::string& ns = a.tok.meta.ns;
  auto old = a.parts.secrets(ns, old_name);
  if (!old || !old->owned_by(a.tok.meta.uid)) co_return Ok{};
  auto r = a.tok.spec.target.retain
               ? co_await a.parts.cluster->release_secret(ns, old_name, old->meta.resource_version)
               : co_await a.parts.cluster->delete_secret(ns, old_name, old->meta.uid);
  if (!r && r.error().kind != kube::ApiErrorKind::NotFound) co_return fail(std::move(r.error()));
  co_return Ok{};
}

// 5. Events: what a person watching the resource wants to know.
void emit_sync_events(Attempt& a, const SyncRecord& rec, bool restored) {
  const std::string team_text = "team " + std::to_string(a.team_id);
  const std::string& target = a.spec.target_name;
  // The first sync this resource reports (also when the Secret was written
  // before a lost status write, or taken over from a retained one).
  if (rec.first || (a.tok.status.token_fingerprint.empty() && !rec.rotated)) {
    emit(a, Reason::TokenSynced, "Secret " + target + " now holds the Monitor API token of " +
                                     team_text);
  } else if (rec.rotated) {
    emit(a, Reason::TokenRotated,
         "Secret " + target + " now holds a new token of " + team_text + " (revision " +
             std::to_string(rec.revision) + ")");
  } else if (restored) {
    emit(a, Reason::SecretRestored, "Secret " + target + " was repaired");
  }
  if (a.plan.reset_pending && rec.reset_outcome == kResetUnchanged) {
    emit(a, Reason::ResetTokenUnchanged,
         "Sysdig returned the same token for reset \"" + rec.handled_reset +
             "\": reset the token in the Monitoring UI (Settings > Monitor API > Reset Token); "
             "the operator checks again every 30s for 15 minutes");
  }
}

// 6. The status after a sync, and when to look again. A fetch that changed
// nothing writes nothing: it is remembered in memory only.
asio::awaitable<Reconciled> report_synced(Attempt& a, const SyncRecord& rec, bool secret_written,
                                          bool restored) {
  const auto& options = a.parts.options;
  SysdigTokenStatus s = a.tok.status;
  s.observed_generation = a.tok.meta.generation;
  s.secret_name = a.spec.target_name;
  s.team_id = a.team_id;
  s.token_fingerprint = rec.fingerprint;
  s.revision = rec.revision;
  s.last_handled_reset = rec.handled_reset;
  s.last_reset_outcome = rec.reset_outcome;
  s.reset_check_until = rec.reset_check_until;
  s.failed_attempts = 0;
  s.next_retry_time.clear();
  if (rec.first || rec.rotated) s.last_rotation_time = format_rfc3339(a.now);
  Clock::time_point next_refresh = a.recorded.next_refresh;
  Clock::time_point last_sync = a.recorded.last_sync;
  s.ready = ready_condition(a.tok, true, Reason::TokenSynced,
                            "Secret " + a.spec.target_name + " holds the Monitor API token of team " +
                                std::to_string(a.team_id) + " (revision " +
                                std::to_string(rec.revision) + ")",
                            a.now);
  if (a.plan.fetch) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.0, options.refresh_jitter);
    // A ClusterSysdigToken's members refresh together (one jitter per
    // resource), so that one fetch serves them all.
    const double j = a.tok.cluster_scoped
                         ? options.refresh_jitter *
                               static_cast<double>(std::hash<std::string>{}(a.tok.meta.uid) % 1000) /
                               1000.0
                         : jitter(rng);
    const auto interval = duration_cast<milliseconds>(a.spec.refresh_interval);
    next_refresh = a.now + milliseconds(static_cast<long long>(interval.count() * (1.0 + j)));
    last_sync = a.now;
    if (s == a.tok.status && !secret_written) {
      a.parts.unwritten[a.key] = UnwrittenCheck{a.now, next_refresh};
    } else {
      a.parts.unwritten.erase(a.key);
      s.last_sync_time = format_rfc3339(a.now);
      s.next_refresh_time = format_rfc3339(next_refresh);
    }
  }
  plan_restarts(a, s, rec.revision, rec.rotated);
  auto w = co_await write_status(a, s);
  if (!w) co_return fail(std::move(w.error()));
  a.result.requeue_after = until(a.now, next_look(next_refresh, last_sync, rec.reset_check_until,
                                                  options.reset_poll_interval));
  a.result.outcome = rec.first                                           ? Outcome::Synced
                     : rec.rotated                                       ? Outcome::Rotated
                     : a.plan.reset_pending                              ? Outcome::Unchanged
                     : restored                                          ? Outcome::Restored
                                                                         : Outcome::Refreshed;
  co_return a.result;
}

// Whether the Secret's record of a reset must be rewritten although its
// token and fields match: a reset handled, an outcome or check window.
bool reset_record_changed(const ManagedSecret* secret, const SyncRecord& rec) {
  return secret && (secret->annotation(kResetHandledAnnotation) != rec.handled_reset ||
                    secret->annotation(kResetOutcomeAnnotation) != rec.reset_outcome ||
                    secret->annotation(kResetCheckUntilAnnotation) != rec.reset_check_until);
}

asio::awaitable<Reconciled> run(Attempt& a) {
  a.executor = co_await asio::this_coro::executor;
  auto spec = check_spec(a.parts, a.tok);
  if (!spec) co_return co_await fail_with(a, spec.error());
  a.spec = std::move(spec.value());

  a.secret = a.parts.secrets(a.tok.meta.ns, a.spec.target_name);
  if (auto conflict = check_ownership(a)) co_return co_await fail_with(a, *conflict);

  const auto& options = a.parts.options;
  auto unwritten = a.parts.unwritten.find(a.key);
  a.recorded = read_recorded(a.tok, a.secret.get(), a.spec.refresh_interval, a.now,
                             unwritten == a.parts.unwritten.end() ? nullptr : &unwritten->second);
  a.plan = plan_fetch(a.tok, a.recorded, options.reset_poll_interval, a.now);
  if (a.plan.backing_off_until) {
    a.result.requeue_after = until(a.now, *a.plan.backing_off_until);
    a.result.outcome = Outcome::BackingOff;
    co_return a.result;
  }
  if (a.plan.fetch && a.plan.reset_pending) {
    const auto now = std::chrono::steady_clock::now();
    if (auto until = a.parts.gathering->hold_until(a.tok, now)) {
      a.result.requeue_after = std::chrono::ceil<milliseconds>(*until - now);
      a.result.outcome = Outcome::Gathering;
      co_return a.result;
    }
  }
  a.team_id = a.tok.spec.team_id.value_or(a.tok.status.team_id);

  std::string token_value;
  if (a.plan.fetch) {
    auto fetched = co_await fetch_token(a);
    if (!fetched) co_return co_await stop_with(a, fetched.error());
    token_value = std::move(fetched.value());
  }
  DesiredSecret desired = render_desired_secret(a.tok, a.spec, a.team_id);
  if (!a.plan.fetch) {
    if (!drift(*a.secret, desired, a.tok, a.recorded.token_sha256))
      co_return co_await report_up_to_date(a);
    auto kept = co_await token_from_secret(a);
    if (!kept) co_return co_await stop_with(a, kept.error());
    if (!kept.value()) {
      // The token itself was edited: fetch it again now.
      SysdigTokenStatus s = a.tok.status;
      s.next_refresh_time = format_rfc3339(a.now);
      auto w = co_await write_status(a, s);
      if (!w) co_return fail(std::move(w.error()));
      a.result.requeue_after = milliseconds(0);
      a.result.outcome = Outcome::Refetch;
      co_return a.result;
    }
    token_value = std::move(*kept.value());
  }

  const SyncRecord rec =
      next_record(a.recorded, a.plan, a.tok.reset_value, token_fingerprint(token_value),
                  options.reset_poll_window, a.now);
  const std::string synced_at =
      a.plan.fetch || !a.secret ? format_rfc3339(a.now) : a.secret->annotation(kSyncedAtAnnotation);
  with_token(desired, a.tok, token_value, rec, synced_at);
  const bool fields_drifted =
      !a.secret || drift(*a.secret, desired, a.tok, sha256_hex(token_value)).has_value();
  const bool reset_recorded = reset_record_changed(a.secret.get(), rec);
  const bool revision_recorded =
      a.secret && a.secret->annotation(kRevisionAnnotation) != std::to_string(rec.revision);
  bool restored = false;
  const bool secret_written = fields_drifted || reset_recorded || revision_recorded;
  if (secret_written) {
    auto written = co_await write_secret(a, desired, token_value);
    if (!written) co_return co_await stop_with(a, written.error());
    // A repair is a write that neither hands out a token nor records a reset.
    restored = !rec.first && !rec.rotated && !reset_recorded;
  }
  auto cleaned = co_await clean_up_renamed(a);
  if (!cleaned) co_return fail(std::move(cleaned.error()));
  emit_sync_events(a, rec, restored);
  co_return co_await report_synced(a, rec, secret_written, restored);
}

}  // namespace

Reconciler::Reconciler(TokenLookup tokens, SecretLookup secrets,
                       std::shared_ptr<ClusterGateway> cluster,
                       std::shared_ptr<ibm::MonitoringClient> monitoring,
                       ibm::HostAllowlist allowlist, std::shared_ptr<EventSink> events,
                       ReconcilerOptions options)
    : parts_{std::move(tokens),    std::move(secrets), std::move(cluster), std::move(monitoring),
             std::move(allowlist), std::move(events),  std::move(options)} {
  if (!parts_.options.clock) parts_.options.clock = [] { return Clock::now(); };
  parts_.restarts = std::make_shared<RestartScheduler>(
      parts_.cluster, parts_.options.restart_debounce, parts_.options.clock,
      parts_.options.requeue);
  parts_.gathering = std::make_shared<ResetGathering>(parts_.options.reset_quiet,
                                                      parts_.options.reset_max_wait);
}

void Reconciler::reset_arrived(const SysdigToken& token) {
  parts_.gathering->arrived(token, token.observed_at == std::chrono::steady_clock::time_point{}
                                       ? std::chrono::steady_clock::now()
                                       : token.observed_at);
}

void Reconciler::stop_restarts() { parts_.restarts->stop(); }

asio::awaitable<Reconciled> Reconciler::reconcile(const std::string& key) {
  auto token = parts_.tokens(key);
  if (!token || token->meta.deleting) {
    parts_.unwritten.erase(key);
    ReconcileResult gone;
    gone.outcome = Outcome::Deleted;
    co_return gone;
  }
  Attempt a{parts_, key, *token, parts_.options.clock(), {}, {}, {}, {}, 0, {}, {}};
  co_return co_await run(a);
}

asio::awaitable<Reconciled> Reconciler::report_internal_error(const std::string& key,
                                                              const std::string& what) {
  auto token = parts_.tokens(key);
  if (!token || token->meta.deleting) {
    ReconcileResult gone;
    gone.outcome = Outcome::Deleted;
    co_return gone;
  }
  Attempt a{parts_, key, *token, parts_.options.clock(), {}, {}, {}, {}, 0, {}, {}};
  const Failure f{Reason::InternalError,
                  "the operator failed while reconciling this resource (" + what +
                      "); it retries with backoff, and the operator's log has details",
                  std::nullopt};
  co_return co_await fail_with(a, f);
}

}  // namespace sto::controller
