#include "controller/reset_gathering.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

namespace sto::controller {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

SysdigToken token(const std::string& ns, const std::string& team_name = "ops") {
  SysdigToken t;
  t.meta.ns = ns;
  t.meta.name = "t";
  t.spec.instance_id = "guid";
  t.spec.team_name = team_name;
  t.spec.region = "us-south";
  t.spec.api_key_secret_name = "ibm-api-key";
  t.spec.has_api_key_secret_ref = true;
  return t;
}

TEST(FetchGroup, SameCredentialInstanceAndTeamShareAGroup) {
  SysdigToken a = token("team-a");
  SysdigToken b = token("team-a");
  b.meta.name = "other";
  EXPECT_EQ(fetch_group(a), fetch_group(b));
  EXPECT_NE(fetch_group(a), fetch_group(token("team-b")));  // another namespace's key
  EXPECT_NE(fetch_group(a), fetch_group(token("team-a", "web")));
  b.spec.team_id = 7;
  EXPECT_NE(fetch_group(a), fetch_group(b));
  b = a;
  b.spec.api_key_secret_key = "other-key";
  EXPECT_NE(fetch_group(a), fetch_group(b));
  b = a;
  b.spec.region = "eu-de";
  EXPECT_NE(fetch_group(a), fetch_group(b));
  b = a;
  b.spec.has_trusted_profile = true;
  b.spec.trusted_profile_id = "Profile-1";
  EXPECT_NE(fetch_group(a), fetch_group(b));
  // Parts are length-prefixed: moving characters between fields is another group.
  b = a;
  b.spec.api_key_secret_name = "ibm-api-ke";
  b.spec.api_key_secret_key = "yapikey";
  EXPECT_NE(fetch_group(a), fetch_group(b));
}

TEST(FetchGroup, ClusterMembersGroupByTheApiKeySecretsNamespace) {
  SysdigToken a = token("ns-1");
  SysdigToken b = token("ns-2");
  a.cluster_scoped = b.cluster_scoped = true;
  a.spec.api_key_secret_namespace = b.spec.api_key_secret_namespace = "keys";
  EXPECT_EQ(fetch_group(a), fetch_group(b));
}

TEST(ResetGathering, HoldsUntilTheGroupIsQuietOrTheResetWaitedLongEnough) {
  ResetGathering g(500ms, 10s);
  const auto now = Steady::now();
  SysdigToken a = token("ns");
  a.observed_at = now - 100ms;
  EXPECT_FALSE(g.hold_until(a, now));  // nothing arrived: no reason to wait
  g.arrived(a, a.observed_at);
  EXPECT_EQ(g.hold_until(a, now), a.observed_at + 500ms);
  SysdigToken b = token("ns");
  b.observed_at = now;
  g.arrived(b, now);
  EXPECT_EQ(g.hold_until(a, now), now + 500ms);
  EXPECT_FALSE(g.hold_until(a, now + 500ms));
  EXPECT_FALSE(g.hold_until(token("elsewhere"), now));
  a.observed_at = now - 9800ms;  // waited almost reset_max_wait
  EXPECT_EQ(g.hold_until(a, now), now + 200ms);
  // An arrival older than one already noted does not move the group back.
  g.arrived(a, now - 5s);
  EXPECT_EQ(g.hold_until(b, now), now + 500ms);
}

// Resets that come slower than `quiet` (a script annotating one resource
// after another) are waited for: three times their spacing, at most a
// quarter of max_wait.
TEST(ResetGathering, SlowerResetsOfAGroupAreWaitedForLonger) {
  ResetGathering g(500ms, 10s);
  auto start = Steady::now();
  SysdigToken t = token("ns");
  t.observed_at = start;
  for (int i = 0; i < 6; ++i) g.arrived(t, start + i * 400ms);
  const auto last = start + 2000ms;
  EXPECT_EQ(g.hold_until(t, last), last + 1200ms);
  EXPECT_FALSE(g.hold_until(t, last + 1200ms));

  SysdigToken slow = token("slow");
  slow.observed_at = start + 5s;
  for (int i = 0; i < 4; ++i) g.arrived(slow, start + 5s + i * 3s);
  start += 5s;
  EXPECT_EQ(g.hold_until(slow, start + 9s), start + 10s);  // its own 10 s bound
  slow.observed_at = start + 9s;
  EXPECT_EQ(g.hold_until(slow, start + 9s), start + 9s + 2500ms);  // max_wait / 4

  // A pause longer than max_wait starts over: the next storm is judged by itself.
  g.arrived(slow, start + 30s);
  slow.observed_at = start + 30s;
  EXPECT_EQ(g.hold_until(slow, start + 30s), start + 30s + 500ms);
}

// Every resource annotated in turn: each group waits until resets stop
// arriving anywhere, at most max_wait / 4 after its own latest reset.
TEST(ResetGathering, AStormAcrossGroupsHoldsEachGroupUntilItEnds) {
  ResetGathering g(500ms, 10s);
  const auto start = Steady::now();
  SysdigToken a = token("a");
  a.observed_at = start;
  g.arrived(a, start);
  for (int i = 1; i <= 15; ++i) g.arrived(token("n-" + std::to_string(i % 5)), start + i * 100ms);
  EXPECT_EQ(g.hold_until(a, start + 1500ms), start + 2000ms);
  for (int i = 16; i <= 40; ++i) g.arrived(token("n-" + std::to_string(i % 5)), start + i * 100ms);
  EXPECT_EQ(g.hold_until(a, start + 2400ms), start + 2500ms);  // its own cap
  EXPECT_FALSE(g.hold_until(a, start + 2500ms));
  // A group of the storm: its own spacing (500 ms) waited three times over.
  SysdigToken member = token("n-0");
  member.observed_at = start + 4s;
  EXPECT_EQ(g.hold_until(member, start + 4s), start + 5500ms);
}

TEST(ResetGathering, ZeroQuietNeverHolds) {
  ResetGathering g(0ms, 10s);
  SysdigToken a = token("ns");
  a.observed_at = Steady::now();
  g.arrived(a, a.observed_at);
  EXPECT_FALSE(g.hold_until(a, a.observed_at));
  EXPECT_EQ(g.groups(), 0u);
}

TEST(ResetGathering, QuietGroupsAreForgotten) {
  ResetGathering g(500ms, 10s);
  const auto start = Steady::now();
  for (int i = 0; i < 1000; ++i) {
    SysdigToken t = token("ns-" + std::to_string(i));
    g.arrived(t, start + std::chrono::seconds(i));
  }
  EXPECT_LT(g.groups(), 300u);
}

}  // namespace
}  // namespace sto::controller
