#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace fedgan::client {

/// Delays between reconnection attempts: exponential backoff with jitter. The k-th consecutive
/// failure (k = 0, 1, ...) waits base_k = min(initial * 2^k, max), scaled by a factor drawn
/// uniformly from [1 - jitter, 1 + jitter]; so with the defaults (0.5 s, 30 s, 0.5) the waits are
/// about 0.5, 1, 2, 4, ... s up to 30 s, each somewhere between half and one and a half times
/// that. The jitter spreads sites that lost the coordinator at the same moment (a restart) so
/// they do not all reconnect at once. Not thread-safe.
class Backoff {
 public:
  /// `initial` > 0, `max` >= `initial`, `jitter` in [0, 1); `seed` seeds the jitter (pass a
  /// random value in production, so that sites differ, and a fixed one in tests).
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter,
          uint64_t seed);

  /// The wait before the next attempt; counts one more failure.
  std::chrono::milliseconds next();
  /// After a success: the next wait is `initial` again (with jitter).
  void reset() { failures_ = 0; }
  /// Consecutive failures counted since the last reset().
  int64_t failures() const { return failures_; }

  /// base_k of the class comment, without jitter.
  std::chrono::milliseconds base(int64_t failures) const;

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  double jitter_;
  int64_t failures_ = 0;
  std::mt19937_64 random_;
};

}  // namespace fedgan::client
