// An evaluation longer than the idle timeout runs beside the federation, not in its way: the sites
// stay connected and heartbeating, and the next round runs while the previous one is evaluated.

#include "tests/coordinator/round_test_support.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace fedgan::coordinator::testing {
namespace {

using namespace std::chrono_literals;

TEST(Coordinator, EvaluationLongerThanTheIdleTimeoutDoesNotStallSessionsOrTheNextRound) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.max_rounds = 2;
  options.server.idle_timeout_seconds = 2.5;  // the sites heartbeat every second
  options.server.heartbeat_interval_seconds = 1;
  options.evaluation.every_rounds = 1;
  options.evaluation.dataset = EvaluationDataset::kGrid;
  constexpr auto kEvaluationTime = 8s;  // more than three times the idle timeout

  std::atomic<int> evaluating{0};  // the round being evaluated, 0 when none
  RunningCoordinator coordinator(options, [&](const EvaluateRound& request) {
    evaluating = static_cast<int>(request.round);
    std::this_thread::sleep_for(kEvaluationTime);
    evaluating = 0;
    storage::Evaluation figures;
    figures.modes_captured = 20 + request.round;  // tells the rounds' figures apart
    figures.high_quality_fraction = 0.5;
    return figures;
  });
  FakeClient a(coordinator.io(), "site-1", coordinator.port());
  FakeClient b(coordinator.io(), "site-2", coordinator.port());
  auto upload = [](FakeClient& client, const ReceivedTask& task, float scale) {
    return client
        .upload(task, {make_delta(task, [scale](size_t t, size_t i) { return wave(t, i, scale); })})
        .code();
  };
  auto ta = a.wait_task();
  auto tb = b.wait_task();
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(upload(a, *ta, 1.0f), wire::STATUS_OK);
  EXPECT_EQ(upload(b, *tb, 2.0f), wire::STATUS_OK);

  // Round 2 is sent; round 1's evaluation starts once its checkpoint is written.
  auto ta2 = a.wait_task(5s);
  auto tb2 = b.wait_task(5s);
  ASSERT_TRUE(ta2 && tb2);
  EXPECT_EQ(ta2->task.round(), 2u);
  for (int i = 0; i < 100 && evaluating.load() == 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(evaluating.load(), 1) << "round 1 was not evaluated";
  // Past the idle timeout, during the evaluation, the sites are still connected and served.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(evaluating.load(), 1);
  EXPECT_TRUE(a.connected() && b.connected());
  EXPECT_EQ(upload(a, *ta2, 0.5f), wire::STATUS_OK);
  EXPECT_EQ(upload(b, *tb2, 0.25f), wire::STATUS_OK);
  EXPECT_EQ(evaluating.load(), 1) << "the uploads were answered only after the evaluation";

  // The run ends once the last round's evaluation is recorded; both rounds have their figures.
  ASSERT_EQ(coordinator.wait_stopped(40s), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 2u);
  for (const auto& round : rounds) {
    EXPECT_EQ(storage::to_string(round.status), "committed");
    ASSERT_TRUE(round.evaluation.modes_captured) << "round " << round.round;
    EXPECT_EQ(*round.evaluation.modes_captured, 20 + round.round);
  }
}

}  // namespace
}  // namespace fedgan::coordinator::testing
