// A round under a robust rule over real loopback mutual TLS: the committed model is the rule's
// result on the uploaded deltas, recomputed here, whether the round's updates stay in memory or are
// spilled to disk, and each accepted update's row says how it compared with the aggregate.

#include "coordinator/coordinator.h"
#include "storage/database.h"
#include "storage/schema.h"
#include "tests/coordinator/fake_client.h"
#include "tests/coordinator/hostile_site.h"
#include "tests/coordinator/round_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace fedgan::coordinator::testing {
namespace {

// What the updates table says of one site's update in the run's one round.
struct ReviewRow {
  std::string effect;
  double weight = 0;
  double distance = 0;
  double cosine = 0;
  int64_t flagged = 0;
  int64_t client_flagged_rounds = 0;
};

ReviewRow review_of(const CoordinatorOptions& options, const std::string& identity) {
  auto db = storage::open_database(options.storage.database.string(), {5000, true});
  auto row = db.prepare(
      "SELECT u.rule_effect, u.rule_weight, u.aggregate_distance, u.aggregate_cosine, u.flagged, "
      "c.flagged_rounds FROM updates u JOIN clients c USING (client_id) "
      "WHERE c.identity = ? AND u.accepted");
  row.bind_all(identity);
  if (!row.step()) {
    ADD_FAILURE() << "no accepted update of " << identity;
    return {};
  }
  return {row.column<std::string>(0), row.column<double>(1),  row.column<double>(2),
          row.column<double>(3),      row.column<int64_t>(4), row.column<int64_t>(5)};
}

// Two honest sites, each the median in every other coordinate, and an attacker (site-3) pulling
// the other way 50 times as hard (clipped by the norm bound, still on the far side).
std::array<Upload, 3> honest_pair_and_attacker(const ReceivedTask& task) {
  return {
      Upload{make_delta(task, [](size_t t, size_t i) { return wave(t, i, 1.0f); })},
      Upload{make_delta(task, [](size_t t, size_t i) { return wave(t, i, i % 2 ? 0.5f : 1.5f); })},
      Upload{make_delta(task, [](size_t t, size_t i) { return wave(t, i, -50.0f); })}};
}

// Memory for the round's updates in MiB: 0 spills every update to the checkpoint directory.
class MedianRound : public ::testing::TestWithParam<uint64_t> {};

TEST_P(MedianRound, CommitsTheCoordinateWiseMedianAndRecordsHowEachUpdateCompared) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.aggregation.rule = AggregationRule::kMedian;
  options.aggregation.robust_memory_mb = GetParam();
  RunningCoordinator coordinator(options);
  ThreeClients sites(coordinator);
  ASSERT_TRUE(sites.tasks_arrived());
  const ReceivedTask& task = *sites.tasks[0];
  const std::array<Upload, 3> uploads = honest_pair_and_attacker(task);
  for (size_t s = 0; s < 3; ++s) {
    const auto status = sites.clients[s]->upload(*sites.tasks[s], uploads[s]);
    EXPECT_EQ(status.code(), wire::STATUS_OK) << status.message();
  }
  ASSERT_EQ(coordinator.wait_stopped(), 0);

  auto median = uploads[0].delta;
  for (size_t t = 0; t < median.size(); ++t) {
    for (size_t i = 0; i < median[t].size(); ++i) {
      std::array<float, 3> values = {uploads[0].delta[t][i], uploads[1].delta[t][i],
                                     uploads[2].delta[t][i]};
      std::sort(values.begin(), values.end());
      median[t][i] = values[1];
    }
  }
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  ASSERT_EQ(storage::to_string(rounds[0].status), "committed");
  const auto committed = committed_model(rounds[0], task.task.model());
  const auto expected = expected_model(task, {{1.0, median}});
  ASSERT_EQ(committed.size(), expected.size());
  for (size_t t = 0; t < expected.size(); ++t)
    EXPECT_EQ(committed[t], expected[t]) << "tensor " << t;

  const ReviewRow honest = review_of(options, "site-1");
  EXPECT_EQ(honest.effect, "kept");
  EXPECT_GT(honest.weight, 0.4);
  EXPECT_EQ(honest.flagged, 0);
  EXPECT_GT(honest.cosine, 0.9);
  const ReviewRow attacker = review_of(options, "site-3");
  EXPECT_EQ(attacker.effect, "down_weighted");
  // Only the coordinates where all three deltas are 0 (sin 0) credit it, a third each.
  EXPECT_LT(attacker.weight, 1e-5);
  EXPECT_EQ(attacker.flagged, 1);
  EXPECT_EQ(attacker.client_flagged_rounds, 1);
  EXPECT_LT(attacker.cosine, -0.9);
  EXPECT_GT(attacker.distance, honest.distance);
  EXPECT_EQ(review_of(options, "site-2").flagged, 0);
  // A spill file never outlives its round.
  for (const auto& entry : std::filesystem::directory_iterator(options.storage.checkpoint_dir)) {
    EXPECT_NE(entry.path().extension(), ".spill") << entry.path();
  }
}

INSTANTIATE_TEST_SUITE_P(UpdatesInMemoryOrSpilled, MedianRound, ::testing::Values(1024, 0),
                         [](const ::testing::TestParamInfo<uint64_t>& info) {
                           return info.param == 0 ? std::string("AllSpilled")
                                                  : std::string("InMemory");
                         });

// aggregation.norm_bound = "round_median": no bound at upload, then the median of the round's own
// norms times the factor, written into every accepted row when the round commits; the update above
// it is clipped (its row says so) before the rule runs.
TEST(RobustRound, TheRoundsMedianNormIsTheBoundItsUpdatesAreClippedTo) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.aggregation.rule = AggregationRule::kMedian;
  options.aggregation.norm_bound = NormBoundKind::kRoundMedian;
  options.aggregation.norm_bound_factor = 1.0;
  RunningCoordinator coordinator(options);
  ThreeClients sites(coordinator);
  ASSERT_TRUE(sites.tasks_arrived());
  const ReceivedTask& task = *sites.tasks[0];
  const std::array<float, 3> scales = {1.0f, 2.0f, -50.0f};
  std::array<double, 3> norms{};
  for (size_t s = 0; s < 3; ++s) {
    const Upload upload{
        make_delta(task, [&](size_t t, size_t i) { return wave(t, i, scales[s]); })};
    double squares = 0;
    for (const auto& tensor : upload.delta) {
      for (const float v : tensor) squares += static_cast<double>(v) * v;
    }
    norms[s] = std::sqrt(squares);
    EXPECT_EQ(sites.clients[s]->upload(*sites.tasks[s], upload).code(), wire::STATUS_OK);
  }
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  auto db = storage::open_database(options.storage.database.string(), {5000, true});
  auto rows = db.prepare(
      "SELECT c.identity, u.norm_bound, u.rule_effect FROM updates u JOIN clients c "
      "USING (client_id) WHERE u.accepted ORDER BY c.identity");
  for (size_t s = 0; s < 3; ++s) {
    ASSERT_TRUE(rows.step());
    EXPECT_NEAR(rows.column<double>(1), norms[1], 1e-9 * norms[1]) << rows.column<std::string>(0);
    if (s == 2) {
      EXPECT_EQ(rows.column<std::string>(2), "clipped");
    }
  }
}

// With quarantine after one flagged round, the attacker's session is closed with
// STATUS_QUARANTINED once the round that flagged it commits, the event says why, and after a
// restart of the coordinator the site is refused at its Hello.
TEST(RobustRound, ASiteFlaggedTooOftenIsQuarantinedAndRefusedAfterARestart) {
  using namespace std::chrono_literals;
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.aggregation.rule = AggregationRule::kMedian;
  options.aggregation.quarantine_after = 1;
  options.aggregation.quarantine_window = 1;
  {
    RunningCoordinator coordinator(options);
    ThreeClients sites(coordinator);
    ASSERT_TRUE(sites.tasks_arrived());
    const ReceivedTask& task = *sites.tasks[0];
    const std::array<Upload, 3> uploads = honest_pair_and_attacker(task);
    for (size_t s = 0; s < 3; ++s) {
      EXPECT_EQ(sites.clients[s]->upload(*sites.tasks[s], uploads[s]).code(), wire::STATUS_OK);
    }
    ASSERT_EQ(coordinator.wait_stopped(), 0);
    const auto closed = sites.clients[2]->wait_closed();
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->status(), wire::STATUS_QUARANTINED) << closed->what();
    EXPECT_NE(std::string(closed->what()).find("flagged in 1 of the last 1 committed rounds"),
              std::string::npos)
        << closed->what();
    for (size_t s = 0; s < 2; ++s) {
      const auto goodbye = sites.clients[s]->wait_closed();
      ASSERT_TRUE(goodbye);
      EXPECT_EQ(goodbye->status(), wire::STATUS_RUN_FINISHED) << goodbye->what();
    }
  }
  size_t quarantines = 0;
  for (const auto& event : events_of(options)) {
    if (event.kind != "client_quarantined") continue;
    ++quarantines;
    EXPECT_EQ(event.client, "site-3");
  }
  EXPECT_EQ(quarantines, 1u);

  options.rounds.max_rounds = 2;  // the run goes on
  RunningCoordinator restarted(options);
  HostileSite attacker(restarted.io(), "site-3", restarted.port());
  const auto refusal = attacker.hello(100, [](wire::Hello&) {});
  EXPECT_EQ(refusal.code(), wire::STATUS_QUARANTINED) << refusal.message();
  EXPECT_TRUE(attacker.closed(5s).has_value());
}

}  // namespace
}  // namespace fedgan::coordinator::testing
