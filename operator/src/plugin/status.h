// What kubectl-sysdigtoken reads from SysdigTokens and how it shows it: the
// fields of an object (JSON from the API server), kubectl's age format, the
// status table, and the judgement of a rotation being waited for. No I/O.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sto::plugin {

using Clock = std::chrono::system_clock;

// The fields of one SysdigToken the plugin shows or waits on. Strings are
// as the API server holds them (made one line, without control characters);
// empty when absent. Never the token: the status holds only its fingerprint.
struct TokenStatus {
  std::string namespace_;
  std::string name;
  std::string ready;    // status of condition Ready: True, False, Unknown or ""
  std::string reason;   // of condition Ready
  std::string message;  // of condition Ready
  std::string ready_since;  // its lastTransitionTime, as written
  std::string team;     // status.teamID
  std::string secret;   // status.secretName
  std::string revision;
  std::optional<Clock::time_point> last_rotation;
  std::optional<Clock::time_point> next_refresh;
  std::optional<Clock::time_point> created;
  std::string reset_annotation;  // metadata.annotations[monitoring.ibm.com/reset-token]
  std::string last_handled_reset;
  std::string last_reset_outcome;  // Rotated | Unchanged
  std::string fingerprint;         // status.tokenFingerprint
  std::string failed_attempts;
  std::string next_retry;
};

// One object; the error says what is not as expected.
Result<TokenStatus, std::string> parse_token(std::string_view json);
// A list (kind SysdigTokenList); `continue_token` receives metadata.continue.
Result<std::vector<TokenStatus>, std::string> parse_token_list(std::string_view json,
                                                               std::string& continue_token);

// kubectl's age (apimachinery's duration.HumanDuration): "45s", "5m", "3h",
// "2d", "2d4h", "3y"; "<invalid>" for a time more than a second ahead.
std::string human_duration(std::chrono::seconds d);
// "in 42m" for a future time, "due" for a past one (a refresh is pending).
std::string until(Clock::time_point t, Clock::time_point now);

// Text made safe for one line of a terminal: control characters (newlines,
// escapes) become spaces, invalid UTF-8 becomes '?'.
std::string one_line(std::string_view text);

// Rows aligned as kubectl aligns them: each column as wide as its widest
// cell, three spaces between columns, no trailing spaces. rows[0] is the header.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

// The status table: [NAMESPACE] NAME READY REASON TEAM SECRET REVISION
// LAST ROTATION NEXT REFRESH AGE MESSAGE; the message only for resources that
// are not Ready=True; a missing value is an empty cell.
std::vector<std::vector<std::string>> status_rows(const std::vector<TokenStatus>& tokens,
                                                  bool with_namespace, Clock::time_point now);

// Whether an APIResourceList (GET /apis/monitoring.ibm.com/v1alpha1) serves
// sysdigtokens; false for a body that is not such a list.
bool discovery_serves_sysdigtokens(std::string_view json);

// A rotation being waited for: the reset value set, the resource as it was
// before, and as it is now.
enum class ResetState { Pending, Rotated, Unchanged, Failed };
struct ResetVerdict {
  ResetState state = ResetState::Pending;
  std::string line;  // what to print: "Rotated sha256:...", "Unchanged", or why it failed
};
// `settled`: long enough has passed that a Ready=False unchanged since
// before the reset counts as the reset's failure too.
ResetVerdict judge_reset(const TokenStatus& before, const TokenStatus& now,
                         std::string_view reset_value, bool settled);

}  // namespace sto::plugin
