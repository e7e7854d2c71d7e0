#include "controller/reset_gathering.h"

#include <algorithm>

namespace sto::controller {

std::string fetch_group(const SysdigToken& token) {
  const SysdigTokenSpec& s = token.spec;
  const std::string& key_ns =
      token.cluster_scoped && !s.api_key_secret_namespace.empty() ? s.api_key_secret_namespace
                                                                  : token.meta.ns;
  std::string group;
  auto add = [&group](std::string_view part) {
    group += std::to_string(part.size());
    group += ':';
    group += part;
  };
  add(std::to_string(static_cast<int>(s.service)));
  if (s.has_trusted_profile) {
    add(token.meta.ns);
    add(s.trusted_profile_id);
    add(s.trusted_profile_name);
    add(s.service_account_name);
  } else {
    add(key_ns);
    add(s.api_key_secret_name);
    add(s.api_key_secret_key);
  }
  add(s.instance_id);
  add(s.region);
  add(s.endpoint_type);
  add(s.endpoint);
  add(s.iam_endpoint);
  add(s.team_id ? std::to_string(*s.team_id) : "name=" + s.team_name);
  return group;
}

void ResetGathering::arrived(const SysdigToken& token, Steady::time_point at) {
  if (quiet_.count() <= 0) return;
  if (++arrivals_since_sweep_ >= 256) forget_quiet(at);
  last_any_ = std::max(last_any_, at);
  auto [it, added] = groups_.try_emplace(fetch_group(token), Group{at, {}});
  Group& g = it->second;
  if (added || at <= g.last) return;
  const Steady::duration gap = at - g.last;
  g.last = at;
  if (gap >= max_wait_) {
    g.spacing = {};
  } else {
    g.spacing = g.spacing == Steady::duration{} ? gap : (3 * g.spacing + gap) / 4;
  }
}

std::optional<ResetGathering::Steady::time_point> ResetGathering::hold_until(
    const SysdigToken& token, Steady::time_point now) const {
  if (quiet_.count() <= 0 || groups_.empty()) return std::nullopt;
  auto it = groups_.find(fetch_group(token));
  if (it == groups_.end()) return std::nullopt;
  const Group& g = it->second;
  // Three times the group's spacing when its resets come slower than quiet_,
  // at most a quarter of max_wait_.
  const Steady::duration longest = std::max<Steady::duration>(quiet_, max_wait_ / 4);
  const Steady::duration quiet = std::clamp<Steady::duration>(3 * g.spacing, quiet_, longest);
  Steady::time_point until = g.last + quiet;
  // Resets of other groups still arriving: a storm, waited for as long.
  if (last_any_ + quiet_ > until) until = std::min(last_any_ + quiet_, g.last + longest);
  if (token.observed_at != Steady::time_point{}) {
    until = std::min(until, token.observed_at + max_wait_);
  }
  if (until <= now) return std::nullopt;
  return until;
}

void ResetGathering::forget_quiet(Steady::time_point now) {
  arrivals_since_sweep_ = 0;
  std::erase_if(groups_, [&](const auto& kv) { return kv.second.last + max_wait_ <= now; });
}

}  // namespace sto::controller
