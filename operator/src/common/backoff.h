// Backoff: the one exponential backoff of the operator — base * 2^attempt,
// capped, with random jitter so that many failing callers spread out.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace sto {

struct Backoff {
  std::chrono::milliseconds base{std::chrono::milliseconds(500)};
  std::chrono::milliseconds cap{std::chrono::minutes(5)};
  double jitter = 0.2;  // up to +20 %

  // Delay before retry number `attempt` (0 for the first retry).
  std::chrono::milliseconds delay(int attempt) const {
    double ms = static_cast<double>(base.count()) * std::pow(2.0, std::min(attempt, 40));
    ms = std::min(ms, static_cast<double>(cap.count()));
    if (jitter > 0) {
      thread_local std::mt19937_64 rng{std::random_device{}()};
      std::uniform_real_distribution<double> dist(0.0, jitter);
      ms *= 1.0 + dist(rng);
    }
    return std::chrono::milliseconds(static_cast<long long>(ms));
  }
};

}  // namespace sto
