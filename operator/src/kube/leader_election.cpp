#include "kube/leader_election.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <random>
#include <stdexcept>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/rfc3339.h"

// GCC 12 at -O2 inlines asio's recycling frame allocator into coroutines and
// then reports a false mismatched-new-delete on the frame (GCC PR 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace sto::kube {

namespace asio = boost::asio;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string show(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

LeaseRecord record_of(const Json& lease) {
  LeaseRecord r;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return r;
  auto text = [&](const char* field) {
    auto it = spec->find(field);
    return it != spec->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto number = [&](const char* field) {
    auto it = spec->find(field);
    return it != spec->end() && it->is_number_integer() ? it->get<int>() : 0;
  };
  r.holder = text("holderIdentity");
  r.duration_seconds = number("leaseDurationSeconds");
  r.acquire_time = text("acquireTime");
  r.renew_time = text("renewTime");
  r.transitions = number("leaseTransitions");
  return r;
}

void set_record(Json& lease, const LeaseRecord& r) {
  Json& spec = lease["spec"];
  spec["holderIdentity"] = r.holder;
  spec["leaseDurationSeconds"] = r.duration_seconds;
  spec["acquireTime"] = r.acquire_time;
  spec["renewTime"] = r.renew_time;
  spec["leaseTransitions"] = r.transitions;
}

std::chrono::milliseconds jittered(std::chrono::milliseconds d) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> dist(0.0, 0.2);
  return std::chrono::milliseconds(
      static_cast<long long>(static_cast<double>(d.count()) * (1.0 + dist(rng))));
}

}  // namespace

std::optional<LeaseRecord> decode_lease_record(std::string_view json) {
  Json lease = Json::parse(json, nullptr, false);
  if (lease.is_discarded() || !lease.is_object()) return std::nullopt;
  return record_of(lease);
}

Result<Ok, std::string> validate(const LeaderElectionConfig& c) {
  using std::chrono::milliseconds;
  if (c.ns.empty() || c.name.empty()) {
    return fail(std::string("leader election: the Lease namespace and name are required"));
  }
  if (c.lease_duration < std::chrono::seconds(1) || c.lease_duration.count() % 1000 != 0) {
    return fail(
        "leader election: the lease duration must be a whole number of seconds, at least 1s (got " +
        show(c.lease_duration) + ")");
  }
  if (c.renew_deadline >= c.lease_duration) {
    return fail("leader election: the renew deadline (" + show(c.renew_deadline) +
                ") must be shorter than the lease duration (" + show(c.lease_duration) + ")");
  }
  if (c.retry_period <= milliseconds::zero()) {
    return fail("leader election: the retry period must be positive (got " + show(c.retry_period) +
                ")");
  }
  if (c.retry_period >= c.renew_deadline) {
    return fail("leader election: the retry period (" + show(c.retry_period) +
                ") must be shorter than the renew deadline (" + show(c.renew_deadline) + ")");
  }
  return Ok{};
}

std::string default_identity() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "unknown");
  std::random_device rd;
  std::uint64_t suffix = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(suffix));
  return std::string(host) + "_" + hex;
}

class LeaderElector::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(std::shared_ptr<Client> client, LeaderElectionConfig config,
       LeaderElectionCallbacks callbacks)
      : client_(std::move(client)), config_(std::move(config)), callbacks_(std::move(callbacks)) {
    if (!callbacks_.on_error) callbacks_.on_error = log_errors();
  }

  asio::awaitable<void> run();
  void stop() {
    stopping_ = true;
    wake_all();
  }
  asio::awaitable<void> release();
  bool is_leader() const { return leading_.load(); }
  const std::string& identity() const { return config_.identity; }

 private:
  enum class Outcome { Success, HeldByOther, Failed };
  enum class Operation { AcquireOrRenew, Release };

  asio::awaitable<Outcome> try_acquire_or_renew();
  asio::awaitable<Outcome> write_release();
  // Runs op in a coroutine of its own and waits for it until the deadline
  // (or stop(), when honour_stop): nullopt when it did not finish in time.
  // The operation goes on regardless; at most one runs at a time.
  asio::awaitable<std::optional<Outcome>> bounded(Operation op, SteadyClock::time_point deadline,
                                                  bool honour_stop);
  asio::awaitable<void> sleep_until(SteadyClock::time_point t);
  asio::awaitable<void> release_lease();

  void accept(const std::string& answer, const LeaseRecord& written);
  void observe(const LeaseRecord& record);
  // code: the HTTP status or ApiErrorKind of a failed request, else what
  // went wrong ("Timeout", "HeldByOther", "Invalid").
  void report(std::string message, std::string code) {
    callbacks_.on_error(ErrorReport{"leader-election",
                                    resources::leases().item_path(config_.ns, config_.name),
                                    std::move(code), std::move(message)});
  }
  void wake_all() {
    for (auto& w : waiters_) w->cancel();
  }
  int duration_seconds() const {
    return static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
  }

  std::shared_ptr<Client> client_;
  LeaderElectionConfig config_;
  LeaderElectionCallbacks callbacks_;
  Json lease_;  // the Lease as last read or written (null: none yet)
  LeaseRecord observed_;
  bool has_observed_ = false;
  SteadyClock::time_point observed_time_;  // local time the record last changed
  std::string reported_leader_;
  std::atomic<bool> leading_{false};
  bool stopping_ = false;
  bool release_requested_ = false;
  bool running_ = false;
  int in_flight_ = 0;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters_;
};

void LeaderElector::Impl::observe(const LeaseRecord& record) {
  if (!has_observed_ || record != observed_) {
    observed_ = record;
    observed_time_ = SteadyClock::now();
    has_observed_ = true;
  }
  if (!record.holder.empty() && record.holder != reported_leader_) {
    reported_leader_ = record.holder;
    if (callbacks_.on_new_leader) callbacks_.on_new_leader(reported_leader_);
  }
}

void LeaderElector::Impl::accept(const std::string& answer, const LeaseRecord& written) {
  Json lease = Json::parse(answer, nullptr, false);
  if (lease.is_discarded() || !lease.is_object()) {
    // Written, but the answer is unreadable: read the Lease afresh next time.
    lease_ = Json();
    observe(written);
    return;
  }
  lease_ = std::move(lease);
  observe(record_of(lease_));
}

asio::awaitable<LeaderElector::Impl::Outcome> LeaderElector::Impl::try_acquire_or_renew() {
  auto self = shared_from_this();
  auto client = client_;
  Resource leases = resources::leases();
  std::string ns = config_.ns;
  std::string name = config_.name;
  std::string now = format_micro_time(std::chrono::system_clock::now());

  // The leader renews the Lease it wrote last without reading it first.
  if (leading_ && lease_.is_object() && observed_.holder == config_.identity) {
    LeaseRecord r = observed_;
    r.duration_seconds = duration_seconds();
    r.renew_time = now;
    Json lease = lease_;
    set_record(lease, r);
    std::string body = lease.dump();
    auto updated = co_await client->update(leases, ns, name, body);
    if (updated) {
      accept(*updated, r);
      co_return Outcome::Success;
    }
    report("renewing Lease " + ns + "/" + name + ": " + updated.error().describe(),
           error_code(updated.error()));
    // Read the Lease below to see who holds it now.
  }

  auto got = co_await client->get(leases, ns, name);
  if (!got) {
    if (got.error().kind != ApiErrorKind::NotFound) {
      report("reading Lease " + ns + "/" + name + ": " + got.error().describe(),
             error_code(got.error()));
      co_return Outcome::Failed;
    }
    LeaseRecord r;
    r.holder = config_.identity;
    r.duration_seconds = duration_seconds();
    r.acquire_time = now;
    r.renew_time = now;
    Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", name}, {"namespace", ns}}}};
    set_record(lease, r);
    std::string body = lease.dump();
    auto created = co_await client->create(leases, ns, body);
    if (!created) {
      report("creating Lease " + ns + "/" + name + ": " + created.error().describe(),
             error_code(created.error()));
      co_return Outcome::Failed;
    }
    accept(*created, r);
    co_return Outcome::Success;
  }

  Json lease = Json::parse(*got, nullptr, false);
  if (lease.is_discarded() || !lease.is_object()) {
    report("reading Lease " + ns + "/" + name + ": the answer is not a JSON object", "Decode");
    co_return Outcome::Failed;
  }
  LeaseRecord current = record_of(lease);
  observe(current);
  lease_ = lease;
  bool valid = observed_time_ + std::chrono::seconds(current.duration_seconds) > SteadyClock::now();
  if (!current.holder.empty() && current.holder != config_.identity && valid) {
    co_return Outcome::HeldByOther;
  }

  LeaseRecord r;
  r.holder = config_.identity;
  r.duration_seconds = duration_seconds();
  r.renew_time = now;
  if (current.holder == config_.identity) {
    r.acquire_time = current.acquire_time.empty() ? now : current.acquire_time;
    r.transitions = current.transitions;
  } else {
    r.acquire_time = now;
    r.transitions = current.transitions + 1;
  }
  set_record(lease, r);
  std::string body = lease.dump();
  auto updated = co_await client->update(leases, ns, name, body);
  if (!updated) {
    // Conflict: another candidate wrote first.
    report("updating Lease " + ns + "/" + name + ": " + updated.error().describe(),
           error_code(updated.error()));
    co_return Outcome::Failed;
  }
  accept(*updated, r);
  co_return Outcome::Success;
}

asio::awaitable<LeaderElector::Impl::Outcome> LeaderElector::Impl::write_release() {
  auto self = shared_from_this();
  if (!lease_.is_object() || observed_.holder != config_.identity) co_return Outcome::Success;
  auto client = client_;
  Resource leases = resources::leases();
  std::string ns = config_.ns;
  std::string name = config_.name;
  std::string now = format_micro_time(std::chrono::system_clock::now());
  LeaseRecord r;
  r.duration_seconds = 1;
  r.acquire_time = now;
  r.renew_time = now;
  r.transitions = observed_.transitions;
  Json lease = lease_;
  set_record(lease, r);
  std::string body = lease.dump();
  // Carries the resourceVersion last seen: a Lease someone else took
  // meanwhile is left alone (Conflict).
  auto updated = co_await client->update(leases, ns, name, body);
  if (!updated) {
    report("releasing Lease " + ns + "/" + name + ": " + updated.error().describe(),
           error_code(updated.error()));
    co_return Outcome::Failed;
  }
  accept(*updated, r);
  co_return Outcome::Success;
}

asio::awaitable<void> LeaderElector::Impl::sleep_until(SteadyClock::time_point t) {
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, t);
  waiters_.push_back(timer);
  co_await timer->async_wait(use_tuple);
  std::erase(waiters_, timer);
}

asio::awaitable<std::optional<LeaderElector::Impl::Outcome>> LeaderElector::Impl::bounded(
    Operation op, SteadyClock::time_point deadline, bool honour_stop) {
  auto self = shared_from_this();
  auto interrupted = [&] { return (honour_stop && stopping_) || SteadyClock::now() >= deadline; };
  // One operation at a time: a late answer must not race a newer request.
  while (in_flight_ > 0 && !interrupted()) co_await sleep_until(deadline);
  if (in_flight_ > 0) co_return std::nullopt;

  struct State {
    bool done = false;
    Outcome outcome = Outcome::Failed;
  };
  auto state = std::make_shared<State>();
  auto executor = co_await asio::this_coro::executor;
  ++in_flight_;
  asio::co_spawn(
      executor,
      [self, state, op]() -> asio::awaitable<void> {
        Outcome outcome = Outcome::Failed;
        try {
          if (op == Operation::AcquireOrRenew) {
            outcome = co_await self->try_acquire_or_renew();
          } else {
            outcome = co_await self->write_release();
          }
        } catch (const std::exception& e) {
          self->report(std::string("leader election: ") + e.what(), "Other");
        }
        state->outcome = outcome;
        state->done = true;
        --self->in_flight_;
        self->wake_all();
      },
      asio::detached);
  while (!state->done && !interrupted()) co_await sleep_until(deadline);
  if (!state->done) co_return std::nullopt;
  co_return state->outcome;
}

asio::awaitable<void> LeaderElector::Impl::release_lease() {
  auto deadline = SteadyClock::now() + config_.renew_deadline;
  auto outcome = co_await bounded(Operation::Release, deadline, false);
  if (!outcome)
    report("releasing Lease " + config_.ns + "/" + config_.name + ": timed out", "Timeout");
}

asio::awaitable<void> LeaderElector::Impl::run() {
  auto self = shared_from_this();
  if (running_ || stopping_) co_return;
  running_ = true;
  constexpr auto forever = SteadyClock::time_point::max();

  // Campaign until this candidate holds the Lease.
  bool acquired = false;
  SteadyClock::time_point renewed_at;  // when the last successful write was sent
  while (!stopping_) {
    auto start = SteadyClock::now();
    auto outcome = co_await bounded(Operation::AcquireOrRenew, forever, true);
    if (stopping_) break;
    if (outcome == Outcome::Success) {
      acquired = true;
      renewed_at = start;
      break;
    }
    auto next = SteadyClock::now() + jittered(config_.retry_period);
    while (!stopping_ && SteadyClock::now() < next) co_await sleep_until(next);
  }

  bool lost = false;
  if (acquired) {
    leading_ = true;
    if (callbacks_.on_started_leading) callbacks_.on_started_leading();
    // Renew every retry period; give up when the renew deadline passes
    // without success, or at once when someone else holds the Lease.
    while (!stopping_ && !lost) {
      auto deadline = renewed_at + config_.renew_deadline;
      auto next = std::min(SteadyClock::now() + config_.retry_period, deadline);
      while (!stopping_ && SteadyClock::now() < next) co_await sleep_until(next);
      if (stopping_) break;
      if (SteadyClock::now() >= deadline) {
        report("leader election: Lease " + config_.ns + "/" + config_.name +
                   " not renewed within the renew deadline",
               "Timeout");
        lost = true;
        break;
      }
      auto start = SteadyClock::now();
      auto outcome = co_await bounded(Operation::AcquireOrRenew, deadline, true);
      if (stopping_) break;
      if (!outcome) {
        report("leader election: Lease " + config_.ns + "/" + config_.name +
                   " not renewed within the renew deadline (request still pending)",
               "Timeout");
        lost = true;
      } else if (*outcome == Outcome::Success) {
        renewed_at = start;
      } else if (*outcome == Outcome::HeldByOther) {
        report("leader election: Lease " + config_.ns + "/" + config_.name + " is held by " +
                   observed_.holder,
               "HeldByOther");
        lost = true;
      }
    }
  }

  if (!lost && release_requested_) co_await release_lease();
  if (leading_.exchange(false) && callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
  running_ = false;
  wake_all();
}

asio::awaitable<void> LeaderElector::Impl::release() {
  auto self = shared_from_this();
  release_requested_ = true;
  stop();
  if (running_) {
    while (running_) co_await sleep_until(SteadyClock::time_point::max());
    co_return;
  }
  co_await release_lease();
}

LeaderElector::LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config,
                             LeaderElectionCallbacks callbacks) {
  auto valid = validate(config);
  if (!valid) throw std::invalid_argument(valid.error());
  if (config.identity.empty()) config.identity = default_identity();
  impl_ = std::make_shared<Impl>(std::move(client), std::move(config), std::move(callbacks));
}

LeaderElector::~LeaderElector() { impl_->stop(); }

asio::awaitable<void> LeaderElector::run() {
  auto impl = impl_;
  co_await impl->run();
}

void LeaderElector::stop() { impl_->stop(); }

asio::awaitable<void> LeaderElector::release() {
  auto impl = impl_;
  co_await impl->release();
}

bool LeaderElector::is_leader() const { return impl_->is_leader(); }

const std::string& LeaderElector::identity() const { return impl_->identity(); }

}  // namespace sto::kube
