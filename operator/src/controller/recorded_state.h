// What was last done for a SysdigToken, and what is due now.
//
// RecordedState reads the record the operator keeps twice: on the Secret
// (written in the same request as the token, so it survives a crash before
// the status write) and in the status (which stands in when the Secret is
// gone). Where both speak, the Secret wins. FetchPlan says whether Sysdig is
// asked now and why; SyncRecord is what the next write records, with the
// reset rule of DESIGN §2 applied once, here.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "controller/managed_secret.h"
#include "controller/sysdig_token.h"

namespace sto::controller {

using Clock = std::chrono::system_clock;

struct RecordedState {
  std::string fingerprint;  // "sha256:..."; empty when no token was written
  std::int64_t revision = 0;
  // The Secret carries the operator's record (a token was written into it).
  bool secret_written = false;
  // The Secret's token still hashes to the recorded fingerprint.
  bool token_intact = false;
  std::string token_sha256;  // of the Secret's token key; empty without one
  std::string handled_reset;
  std::string reset_outcome;      // kResetRotated, kResetUnchanged or empty
  std::string reset_check_until;  // empty once the window has passed
  bool in_reset_window = false;   // Unchanged, and still checking
  Clock::time_point last_sync;
  Clock::time_point next_refresh;
  Clock::time_point retry_at;
  bool failing = false;
};

// A fetch that found nothing new is written nowhere (the status changes
// only when something happened); the reconciler keeps it in memory so that
// the next look is scheduled from it. After a restart it is gone, and a
// refresh the record shows as passed is made once more.
struct UnwrittenCheck {
  Clock::time_point at;
  Clock::time_point next_refresh;
};

// Recorded times from annotations and status are untrusted: one further in
// the future than a refresh interval can reach is taken as `now`.
RecordedState read_recorded(const SysdigToken& token, const ManagedSecret* secret,
                            std::chrono::seconds refresh_interval, Clock::time_point now,
                            const UnwrittenCheck* check = nullptr);

struct FetchPlan {
  bool fetch = false;
  bool reset_pending = false;     // a reset value not yet handled
  bool reset_check_due = false;   // an Unchanged reset's next check
  bool spec_changed = false;
  // Set when an earlier failure's retry time has not come (and nothing that
  // bypasses it happened): nothing is done before then.
  std::optional<Clock::time_point> backing_off_until;
};

FetchPlan plan_fetch(const SysdigToken& token, const RecordedState& recorded,
                     std::chrono::seconds reset_check_interval, Clock::time_point now);

// What a write of `new_fingerprint` records.
struct SyncRecord {
  std::string fingerprint;
  std::int64_t revision = 0;
  bool first = false;    // no token was recorded before
  bool rotated = false;  // a different token than the recorded one
  std::string handled_reset;
  std::string reset_outcome;
  std::string reset_check_until;
};

SyncRecord next_record(const RecordedState& recorded, const FetchPlan& plan,
                       const std::string& reset_value, const std::string& new_fingerprint,
                       std::chrono::minutes reset_check_window, Clock::time_point now);

// When the resource next needs a look: its refresh, or an Unchanged reset's
// next check, whichever is first.
Clock::time_point next_look(Clock::time_point next_refresh, Clock::time_point last_sync,
                            const std::string& reset_check_until,
                            std::chrono::seconds reset_check_interval);

}  // namespace sto::controller
