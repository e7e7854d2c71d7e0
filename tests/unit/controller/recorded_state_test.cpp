// What was recorded and what is due, as rules: the Secret's record wins over
// the status, a reset value is handled once, forged times cannot stop
// refreshes.
#include "controller/recorded_state.h"

#include <gtest/gtest.h>

#include "common/rfc3339.h"
#include "controller/names.h"

namespace sto::controller {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kNow = *parse_rfc3339("2026-12-01T12:00:00Z");

SysdigToken token_with(SysdigTokenStatus status, std::string reset = {}) {
  SysdigToken t;
  t.meta.ns = "monitoring";
  t.meta.name = "ops";
  t.meta.uid = "uid-1";
  t.meta.generation = 1;
  t.status = std::move(status);
  t.status.observed_generation = 1;
  t.reset_value = std::move(reset);
  return t;
}

// A Secret written by the operator, with the token hashing to "abcd...".
ManagedSecret written_secret(std::string handled, std::string synced_at) {
  ManagedSecret s;
  s.annotations.emplace(std::string(kFingerprintAnnotation), "sha256:abcd");
  s.annotations.emplace(std::string(kRevisionAnnotation), "3");
  s.annotations.emplace(std::string(kResetHandledAnnotation), std::move(handled));
  s.annotations.emplace(std::string(kSyncedAtAnnotation), std::move(synced_at));
  s.data_sha256.emplace("SYSDIG_MONITOR_API_TOKEN", "abcdef0123");
  return s;
}

TEST(RecordedState, TheSecretsRecordOfTheHandledResetWinsOverALaggingStatus) {
  SysdigTokenStatus st;
  st.token_fingerprint = "sha256:abcd";
  st.revision = 2;
  st.last_handled_reset = "r1";  // the status write after r2 was lost
  auto tok = token_with(st, "r2");
  auto secret = written_secret("r2", format_rfc3339(kNow - 1min));
  auto rec = read_recorded(tok, &secret, 1h, kNow);
  EXPECT_EQ(rec.handled_reset, "r2");
  EXPECT_EQ(rec.revision, 3);
  EXPECT_TRUE(rec.token_intact);
  auto plan = plan_fetch(tok, rec, 30s, kNow);
  EXPECT_FALSE(plan.reset_pending) << "r2 was handled: the Secret says so";
  EXPECT_FALSE(plan.fetch);
}

TEST(RecordedState, WithoutTheSecretTheStatusStandsIn) {
  SysdigTokenStatus st;
  st.token_fingerprint = "sha256:abcd";
  st.last_handled_reset = "r1";
  auto tok = token_with(st, "r1");
  auto rec = read_recorded(tok, nullptr, 1h, kNow);
  EXPECT_EQ(rec.handled_reset, "r1");
  EXPECT_FALSE(rec.token_intact);
  auto plan = plan_fetch(tok, rec, 30s, kNow);
  EXPECT_FALSE(plan.reset_pending);
  EXPECT_TRUE(plan.fetch) << "the Secret is gone: fetch";
}

TEST(RecordedState, ANewResetValueIsHandledOnceAndRecordsItsOutcome) {
  SysdigTokenStatus st;
  st.token_fingerprint = "sha256:abcd";
  st.last_handled_reset = "r1";
  auto tok = token_with(st, "r2");
  auto secret = written_secret("r1", format_rfc3339(kNow - 1min));
  auto rec = read_recorded(tok, &secret, 1h, kNow);
  auto plan = plan_fetch(tok, rec, 30s, kNow);
  ASSERT_TRUE(plan.reset_pending);
  ASSERT_TRUE(plan.fetch);

  auto same = next_record(rec, plan, "r2", "sha256:abcd", 15min, kNow);
  EXPECT_EQ(same.handled_reset, "r2");
  EXPECT_EQ(same.reset_outcome, kResetUnchanged);
  EXPECT_EQ(same.reset_check_until, format_rfc3339(kNow + 15min));
  EXPECT_EQ(same.revision, 3);
  EXPECT_FALSE(same.rotated);

  auto fresh = next_record(rec, plan, "r2", "sha256:ffff", 15min, kNow);
  EXPECT_EQ(fresh.reset_outcome, kResetRotated);
  EXPECT_EQ(fresh.reset_check_until, "");
  EXPECT_EQ(fresh.revision, 4);
  EXPECT_TRUE(fresh.rotated);
}

TEST(RecordedState, AForgedSyncedAtFarInTheFutureCannotStopRefreshes) {
  SysdigTokenStatus st;
  st.token_fingerprint = "sha256:abcd";
  st.next_refresh_time = format_rfc3339(kNow - 1min);  // due
  auto tok = token_with(st);
  for (const char* forged : {"2200-01-01T00:00:00Z", "2263-01-01T00:00:00Z",
                             "9999-12-31T23:59:59Z"}) {
    SCOPED_TRACE(forged);
    auto secret = written_secret("", forged);
    auto rec = read_recorded(tok, &secret, 1h, kNow);
    EXPECT_LE(rec.next_refresh, kNow + 1h);
    EXPECT_LE(rec.last_sync, kNow);
  }
  SysdigTokenStatus forged_status = st;
  forged_status.next_refresh_time = "2200-01-01T00:00:00Z";
  auto tok2 = token_with(forged_status);
  auto secret = written_secret("", format_rfc3339(kNow - 2h));
  auto rec = read_recorded(tok2, &secret, 1h, kNow);
  EXPECT_TRUE(plan_fetch(tok2, rec, 30s, kNow).fetch) << "a forged next refresh is due now";
}

TEST(RecordedState, AFailureBacksOffUnlessTheSpecOrTheResetValueChanged) {
  SysdigTokenStatus st;
  st.failed_attempts = 2;
  st.next_retry_time = format_rfc3339(kNow + 40s);
  auto tok = token_with(st);
  auto rec = read_recorded(tok, nullptr, 1h, kNow);
  auto plan = plan_fetch(tok, rec, 30s, kNow);
  ASSERT_TRUE(plan.backing_off_until);
  EXPECT_EQ(*plan.backing_off_until, kNow + 40s);
  EXPECT_FALSE(plan.fetch);

  auto reset = token_with(st, "r9");
  EXPECT_TRUE(plan_fetch(reset, read_recorded(reset, nullptr, 1h, kNow), 30s, kNow).fetch);
  auto edited = token_with(st);
  edited.meta.generation = 2;
  EXPECT_TRUE(plan_fetch(edited, read_recorded(edited, nullptr, 1h, kNow), 30s, kNow).fetch);
}

TEST(RecordedState, AnUnchangedResetIsCheckedAgainEveryIntervalUntilItsWindowEnds) {
  SysdigTokenStatus st;
  st.token_fingerprint = "sha256:abcd";
  st.next_refresh_time = format_rfc3339(kNow + 50min);
  auto tok = token_with(st);
  auto secret = written_secret("r1", format_rfc3339(kNow - 31s));
  secret.annotations.emplace(std::string(kResetOutcomeAnnotation), std::string(kResetUnchanged));
  secret.annotations.emplace(std::string(kResetCheckUntilAnnotation), format_rfc3339(kNow + 10min));
  auto rec = read_recorded(tok, &secret, 1h, kNow);
  EXPECT_TRUE(rec.in_reset_window);
  EXPECT_TRUE(plan_fetch(tok, rec, 30s, kNow).reset_check_due);
  EXPECT_EQ(next_look(rec.next_refresh, rec.last_sync, rec.reset_check_until, 30s),
            rec.last_sync + 30s);

  auto later = read_recorded(tok, &secret, 1h, kNow + 11min);
  EXPECT_FALSE(later.in_reset_window);
  EXPECT_EQ(later.reset_check_until, "");
}

}  // namespace
}  // namespace sto::controller
