#include "client/backoff.h"

#include "client/error.h"

#include <algorithm>
#include <cmath>

namespace fedgan::client {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, double jitter,
                 uint64_t seed)
    : initial_(initial), max_(max), jitter_(jitter), random_(seed) {
  check(initial.count() > 0 && max >= initial,
        "backoff: the first wait ({} ms) must be positive and at most the longest ({} ms)",
        initial.count(), max.count());
  check(jitter >= 0 && jitter < 1, "backoff: jitter {} must be in [0, 1)", jitter);
}

std::chrono::milliseconds Backoff::base(int64_t failures) const {
  // Doubling stops at the cap; the loop is short because the cap is reached in under 64 steps.
  auto delay = initial_;
  for (int64_t k = 0; k < failures && delay < max_; ++k) delay *= 2;
  return std::min(delay, max_);
}

std::chrono::milliseconds Backoff::next() {
  const double base_ms = static_cast<double>(base(failures_).count());
  ++failures_;
  std::uniform_real_distribution<double> factor(1.0 - jitter_, 1.0 + jitter_);
  const double delay = base_ms * factor(random_);
  return std::chrono::milliseconds(std::max<int64_t>(1, std::llround(delay)));
}

}  // namespace fedgan::client
