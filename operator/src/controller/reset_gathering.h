// ResetGathering: resets of resources that share a fetch wait for each other.
//
// Resources with the same API key Secret (or trusted profile), instance,
// endpoints and team get their token from one Monitoring request. A reset
// needs an answer Sysdig gave after the reset arrived, so a storm of resets
// annotated one after another (a script, `kubectl annotate --all`) would
// otherwise cost a request each time a fetch ends before the next reset
// arrived. Instead a reset fetches once no other reset of its group has
// arrived for a while, or once it has waited `max_wait` since it arrived
// itself (a group reset without pause still rotates): every reset of the
// storm then shares one request per group. "A while" is `quiet`, or three
// times the recent spacing of the group's resets when they come slower
// (a script annotating one resource after another), at most max_wait / 4.
// While resets of other groups keep arriving (within `quiet` of each other:
// every resource annotated in turn), a group waits for that storm to end
// too, again at most max_wait / 4 after its own latest reset: otherwise a
// pause in the storm that happens to be longer than the group's own wait
// would cost the group a second request.
//
// Arrivals are noted by the controller when the informer delivers a new reset
// value; the reconciler asks hold_until() before it fetches for a reset.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

#include "controller/sysdig_token.h"

namespace sto::controller {

// The fetch a resource's token comes from: its credential (API key Secret or
// trusted profile and ServiceAccount, in its namespace), instance, endpoints
// and team.
std::string fetch_group(const SysdigToken& token);

class ResetGathering {
 public:
  using Steady = std::chrono::steady_clock;

  ResetGathering(std::chrono::milliseconds quiet, std::chrono::milliseconds max_wait)
      : quiet_(quiet), max_wait_(max_wait) {}

  // A reset of `token` arrived at `at`.
  void arrived(const SysdigToken& token, Steady::time_point at);

  // When the reset of `token` (arrived at `token.observed_at`) may fetch;
  // nullopt: now.
  std::optional<Steady::time_point> hold_until(const SysdigToken& token,
                                               Steady::time_point now) const;

  // Groups with a reset arrived in the last max_wait (the rest are forgotten).
  std::size_t groups() const { return groups_.size(); }

 private:
  struct Group {
    Steady::time_point last;          // the latest arrival
    Steady::duration spacing{};       // smoothed time between arrivals; 0: one so far
  };
  void forget_quiet(Steady::time_point now);

  std::chrono::milliseconds quiet_;
  std::chrono::milliseconds max_wait_;
  std::unordered_map<std::string, Group> groups_;
  Steady::time_point last_any_{};  // the latest arrival of any group
  std::size_t arrivals_since_sweep_ = 0;
};

}  // namespace sto::controller
