// Everything the fake's APIs read and change: the seeded state, issued access
// tokens, active faults, the request log and the clock. Owned by FakeIbmCloud
// and touched only from the server's one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

#include "faults.h"
#include "request_log.h"
#include "state.h"
#include "tokens.h"

namespace sto::fake {

using Clock = std::function<std::chrono::system_clock::time_point()>;

struct World {
  World(State initial, std::size_t max_recent_requests, Clock clock)
      : state(std::move(initial)), requests(max_recent_requests), clock(std::move(clock)) {}

  std::int64_t now_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(clock().time_since_epoch()).count();
  }
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock().time_since_epoch())
        .count();
  }

  State state;
  AccessTokenIssuer access_tokens;
  FaultSet faults;
  RequestLog requests;
  Clock clock;
};

}  // namespace sto::fake
