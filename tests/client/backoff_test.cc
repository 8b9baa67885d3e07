#include "client/backoff.h"

#include "client/error.h"

#include <gtest/gtest.h>

#include <vector>

namespace fedgan::client {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesFromTheFirstWaitUpToTheCap) {
  const Backoff backoff(milliseconds(500), milliseconds(30'000), 0.5, 1);
  const std::vector<int64_t> expected = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_EQ(backoff.base(static_cast<int64_t>(k)).count(), expected[k]) << k;
  }
  EXPECT_EQ(backoff.base(1000).count(), 30000);
}

TEST(Backoff, JitterStaysWithinHalfAndOneAndAHalfOfTheBase) {
  Backoff backoff(milliseconds(500), milliseconds(30'000), 0.5, 42);
  double lowest = 2, highest = 0;
  for (int round = 0; round < 50; ++round) {
    backoff.reset();
    for (int64_t k = 0; k < 10; ++k) {
      const double base = static_cast<double>(backoff.base(k).count());
      const auto wait = static_cast<double>(backoff.next().count());
      EXPECT_GE(wait, 0.5 * base - 1) << k;
      EXPECT_LE(wait, 1.5 * base + 1) << k;
      lowest = std::min(lowest, wait / base);
      highest = std::max(highest, wait / base);
    }
  }
  // The factors spread over the interval rather than sitting at one value.
  EXPECT_LT(lowest, 0.6);
  EXPECT_GT(highest, 1.4);
}

TEST(Backoff, TheSameSeedGivesTheSameScheduleAndResetStartsOver) {
  Backoff a(milliseconds(500), milliseconds(30'000), 0.5, 7);
  Backoff b(milliseconds(500), milliseconds(30'000), 0.5, 7);
  Backoff c(milliseconds(500), milliseconds(30'000), 0.5, 8);
  bool differs = false;
  for (int i = 0; i < 8; ++i) {
    const auto wait = a.next();
    EXPECT_EQ(wait, b.next());
    differs |= wait != c.next();
  }
  EXPECT_TRUE(differs);
  EXPECT_EQ(a.failures(), 8);
  a.reset();
  EXPECT_EQ(a.failures(), 0);
  EXPECT_LE(a.next().count(), 750);
}

TEST(Backoff, WithoutJitterTheWaitIsTheBase) {
  Backoff backoff(milliseconds(100), milliseconds(1000), 0.0, 3);
  const std::vector<int64_t> expected = {100, 200, 400, 800, 1000, 1000};
  for (const int64_t wait : expected) EXPECT_EQ(backoff.next().count(), wait);
}

TEST(Backoff, RefusesImpossibleSettings) {
  EXPECT_THROW(Backoff(milliseconds(0), milliseconds(10), 0.5, 1), ClientError);
  EXPECT_THROW(Backoff(milliseconds(100), milliseconds(10), 0.5, 1), ClientError);
  EXPECT_THROW(Backoff(milliseconds(100), milliseconds(1000), 1.0, 1), ClientError);
}

}  // namespace
}  // namespace fedgan::client
