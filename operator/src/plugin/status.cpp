#include "plugin/status.h"

#include <algorithm>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "common/rfc3339.h"
#include "controller/names.h"

namespace sto::plugin {

namespace {

using nlohmann::json;

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// A scalar as text (strings as they are, numbers in decimal); "" otherwise.
std::string text_of(const json* value) {
  if (value == nullptr) return {};
  if (value->is_string()) return one_line(value->get_ref<const std::string&>());
  if (value->is_number_integer() || value->is_number_unsigned()) return value->dump();
  if (value->is_boolean()) return value->get<bool>() ? "true" : "false";
  return {};
}

std::optional<Clock::time_point> time_of(const json* value) {
  if (value == nullptr || !value->is_string()) return std::nullopt;
  return parse_rfc3339(value->get_ref<const std::string&>());
}

TokenStatus from_object(const json& object) {
  TokenStatus t;
  const json* metadata = member(object, "metadata");
  if (metadata != nullptr) {
    t.namespace_ = text_of(member(*metadata, "namespace"));
    t.name = text_of(member(*metadata, "name"));
    t.created = time_of(member(*metadata, "creationTimestamp"));
    if (const json* annotations = member(*metadata, "annotations")) {
      t.reset_annotation = text_of(member(*annotations, controller::kResetAnnotation));
    }
  }
  const json* status = member(object, "status");
  if (status == nullptr) return t;
  if (const json* conditions = member(*status, "conditions"); conditions && conditions->is_array()) {
    for (const auto& c : *conditions) {
      if (text_of(member(c, "type")) != controller::condition::kReady) continue;
      t.ready = text_of(member(c, "status"));
      t.reason = text_of(member(c, "reason"));
      t.message = text_of(member(c, "message"));
      t.ready_since = text_of(member(c, "lastTransitionTime"));
      break;
    }
  }
  t.team = text_of(member(*status, "teamID"));
  t.secret = text_of(member(*status, "secretName"));
  t.revision = text_of(member(*status, "revision"));
  t.last_rotation = time_of(member(*status, "lastRotationTime"));
  t.next_refresh = time_of(member(*status, "nextRefreshTime"));
  t.last_handled_reset = text_of(member(*status, "lastHandledReset"));
  t.last_reset_outcome = text_of(member(*status, "lastResetOutcome"));
  t.fingerprint = text_of(member(*status, "tokenFingerprint"));
  t.failed_attempts = text_of(member(*status, "failedAttempts"));
  t.next_retry = text_of(member(*status, "nextRetryTime"));
  return t;
}

std::optional<json> parse_json(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return std::nullopt;
  return doc;
}

std::size_t display_width(std::string_view text) {
  // Code points: each UTF-8 lead byte (not a continuation byte) starts one.
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Whole seconds from a to b: no overflow even at the clock's ends (a
// timestamp centuries away is clamped to them when parsed).
std::chrono::seconds seconds_between(Clock::time_point a, Clock::time_point b) {
  using std::chrono::floor;
  using std::chrono::seconds;
  return floor<seconds>(b.time_since_epoch()) - floor<seconds>(a.time_since_epoch());
}

// A missing value is an empty cell, as in kubectl get.
std::string age(const std::optional<Clock::time_point>& t, Clock::time_point now) {
  return t ? human_duration(seconds_between(*t, now)) : std::string();
}

}  // namespace

Result<TokenStatus, std::string> parse_token(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc || !doc->is_object()) return fail(std::string("the answer is not a JSON object"));
  if (text_of(member(*doc, "kind")) != controller::kKind) {
    return fail("the answer is a " + one_line(text_of(member(*doc, "kind"))) +
                ", not a SysdigToken");
  }
  return from_object(*doc);
}

Result<std::vector<TokenStatus>, std::string> parse_token_list(std::string_view text,
                                                               std::string& continue_token) {
  continue_token.clear();
  auto doc = parse_json(text);
  if (!doc || !doc->is_object()) return fail(std::string("the answer is not a JSON object"));
  const json* items = member(*doc, "items");
  if (items == nullptr || !items->is_array()) return fail(std::string("the answer has no items list"));
  std::vector<TokenStatus> out;
  out.reserve(items->size());
  for (const auto& item : *items) {
    if (!item.is_object()) return fail(std::string("an item of the list is not an object"));
    out.push_back(from_object(item));
  }
  if (const json* metadata = member(*doc, "metadata")) {
    continue_token = text_of(member(*metadata, "continue"));
  }
  return out;
}

std::string human_duration(std::chrono::seconds d) {
  const auto seconds = d.count();
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  const auto minutes = seconds / 60;
  if (minutes < 10) {
    const auto s = seconds % 60;
    return std::to_string(minutes) + "m" + (s == 0 ? "" : std::to_string(s) + "s");
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  const auto hours = minutes / 60;
  if (hours < 8) {
    const auto m = minutes % 60;
    return std::to_string(hours) + "h" + (m == 0 ? "" : std::to_string(m) + "m");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    const auto h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h == 0 ? "" : std::to_string(h) + "h");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    const auto dy = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (dy == 0 ? "" : std::to_string(dy) + "d");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

std::string until(Clock::time_point t, Clock::time_point now) {
  if (t <= now) return "due";
  // Rounded up: "in 1s" until the moment itself.
  const auto fraction = [](Clock::time_point x) {
    auto r = x.time_since_epoch() % std::chrono::seconds(1);
    return r < Clock::duration::zero() ? r + std::chrono::seconds(1) : r;
  };
  auto ahead = seconds_between(now, t);
  if (fraction(t) > fraction(now)) ++ahead;
  return "in " + human_duration(ahead);
}

std::string one_line(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte, then continuation bytes.
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    }
    bool valid = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // No overlong forms, surrogates or values past U+10FFFF.
    if (valid) {
      static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      valid = cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    }
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    // C1 controls (U+0080..U+009F) and the line and paragraph separators.
    if ((cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029) {
      out += ' ';
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c)
      widths[c] = std::max(widths[c], display_width(row[c]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(widths[c] - display_width(row[c]) + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::vector<std::vector<std::string>> status_rows(const std::vector<TokenStatus>& tokens,
                                                  bool with_namespace, Clock::time_point now) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NAME",     "READY",         "REASON",       "TEAM", "SECRET",
                                     "REVISION", "LAST ROTATION", "NEXT REFRESH", "AGE",  "MESSAGE"};
  if (with_namespace) header.insert(header.begin(), "NAMESPACE");
  rows.push_back(std::move(header));
  for (const auto& t : tokens) {
    std::vector<std::string> row = {
        t.name,
        t.ready,
        t.reason,
        t.team,
        t.secret,
        t.revision,
        age(t.last_rotation, now),
        t.next_refresh ? until(*t.next_refresh, now) : std::string(),
        age(t.created, now),
        t.ready == "True" ? "" : t.message,
    };
    if (with_namespace) row.insert(row.begin(), t.namespace_);
    rows.push_back(std::move(row));
  }
  return rows;
}

bool discovery_serves_sysdigtokens(std::string_view text) {
  auto doc = parse_json(text);
  if (!doc || text_of(member(*doc, "kind")) != "APIResourceList") return false;
  const json* resources = member(*doc, "resources");
  if (resources == nullptr || !resources->is_array()) return false;
  return std::any_of(resources->begin(), resources->end(), [](const json& r) {
    return text_of(member(r, "name")) == "sysdigtokens";
  });
}

ResetVerdict judge_reset(const TokenStatus& before, const TokenStatus& now,
                         std::string_view reset_value, bool settled) {
  if (!now.last_handled_reset.empty() && now.last_handled_reset == reset_value) {
    if (now.last_reset_outcome == controller::kResetRotated) {
      if (now.fingerprint.empty()) return {ResetState::Rotated, "Rotated"};
      return {ResetState::Rotated, "Rotated " + now.fingerprint};
    }
    if (now.last_reset_outcome == controller::kResetUnchanged) {
      return {ResetState::Unchanged, "Unchanged"};
    }
    if (now.ready == "False") {
      return {ResetState::Failed, "the reset failed: Ready=False (" + now.reason + "): " + now.message};
    }
    return {ResetState::Failed, "the reset was handled with outcome \"" + now.last_reset_outcome +
                                    "\", neither Rotated nor Unchanged"};
  }
  if (now.ready == "False") {
    // A failure since the reset was set: the condition, the failure count
    // or the retry time changed. One that was there before counts once the
    // operator had time to act on the reset.
    const bool changed = before.ready != "False" || before.reason != now.reason ||
                         before.message != now.message || before.ready_since != now.ready_since ||
                         before.failed_attempts != now.failed_attempts ||
                         before.next_retry != now.next_retry;
    if (changed || settled) {
      return {ResetState::Failed,
              "not rotated: Ready=False (" + now.reason + "): " + now.message};
    }
  }
  return {};
}

}  // namespace sto::plugin
