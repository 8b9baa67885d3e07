#include "coordinator/round_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace fedgan::coordinator {
namespace {

RoundOptions rounds(double fraction, size_t min_per_round, size_t max_per_round) {
  RoundOptions options;
  options.fraction = fraction;
  options.min_per_round = min_per_round;
  options.max_per_round = max_per_round;
  return options;
}

TEST(RoundPlan, SelectionSizeIsTheCeiledFractionClampedToMinMaxAndConnected) {
  EXPECT_EQ(selection_size(rounds(1.0, 1, 0), 7), 7u);
  EXPECT_EQ(selection_size(rounds(0.5, 1, 0), 7), 4u);   // ceil(3.5)
  EXPECT_EQ(selection_size(rounds(0.1, 3, 0), 7), 3u);   // min_per_round
  EXPECT_EQ(selection_size(rounds(1.0, 1, 5), 7), 5u);   // max_per_round
  EXPECT_EQ(selection_size(rounds(0.1, 10, 0), 4), 4u);  // never more than connected
}

TEST(RoundPlan, SelectionIsSeededAndIndependentOfConnectionOrder) {
  const auto options = rounds(0.5, 1, 0);
  const std::vector<std::string> one = {"d", "a", "c", "b", "f", "e"};
  const std::vector<std::string> other = {"f", "e", "d", "c", "b", "a"};
  const auto chosen = select_clients(one, options, 3, 1);
  EXPECT_EQ(chosen, select_clients(other, options, 3, 1));
  EXPECT_EQ(chosen.size(), 3u);
  EXPECT_TRUE(std::is_sorted(chosen.begin(), chosen.end()));
  // Over many rounds every client gets selected and the draws differ.
  std::set<std::vector<std::string>> draws;
  std::set<std::string> seen;
  for (int64_t round = 1; round <= 40; ++round) {
    const auto draw = select_clients(one, options, round, 1);
    draws.insert(draw);
    seen.insert(draw.begin(), draw.end());
  }
  EXPECT_GT(draws.size(), 5u);
  EXPECT_EQ(seen.size(), 6u);
  auto reseeded = options;
  reseeded.seed = 99;
  bool differs = false;
  for (int64_t round = 1; round <= 10; ++round) {
    differs |= select_clients(one, options, round, 1) != select_clients(one, reseeded, round, 1);
  }
  EXPECT_TRUE(differs);
}

TEST(RoundPlan, QuorumDefaultsToEverySelectedClient) {
  RoundOptions options;
  EXPECT_EQ(required_quorum(options, 4), 4u);
  options.quorum = 3;
  EXPECT_EQ(required_quorum(options, 4), 3u);
  options.min_clients = 2;
  EXPECT_EQ(clients_needed_to_start(options), 3u);  // a round with fewer could never commit
}

TEST(RoundPlan, AlternatingRoundsTrainTheDiscriminatorFirstThenTheGenerator) {
  TrainingOptions options;
  for (int64_t round : {1, 2, 7}) {
    EXPECT_EQ(networks_of_round(options, round), gan::TrainedNetworks::kBoth) << round;
  }
  options.networks = Networks::kAlternate;
  EXPECT_EQ(networks_of_round(options, 1), gan::TrainedNetworks::kDiscriminator);
  EXPECT_EQ(networks_of_round(options, 2), gan::TrainedNetworks::kGenerator);
  EXPECT_EQ(networks_of_round(options, 41), gan::TrainedNetworks::kDiscriminator);
  EXPECT_EQ(networks_of_round(options, 1000), gan::TrainedNetworks::kGenerator);
}

TEST(RoundPlan, LinearServerLrDecayFallsToServerLrOverMaxRoundsInTheLastRound) {
  AggregationOptions aggregation;
  aggregation.server_lr = 0.8;
  RoundOptions rounds;
  rounds.max_rounds = 4;
  for (int64_t round : {1, 4, 9}) {
    EXPECT_EQ(server_lr_of_round(aggregation, rounds, round), 0.8) << round;
  }
  aggregation.server_lr_decay = LrDecay::kLinear;
  EXPECT_DOUBLE_EQ(server_lr_of_round(aggregation, rounds, 1), 0.8);
  EXPECT_DOUBLE_EQ(server_lr_of_round(aggregation, rounds, 2), 0.6);
  EXPECT_DOUBLE_EQ(server_lr_of_round(aggregation, rounds, 3), 0.4);
  EXPECT_DOUBLE_EQ(server_lr_of_round(aggregation, rounds, 4), 0.2);
  // Rounds past the end (a run whose max_rounds was lowered) keep the last, positive rate.
  EXPECT_DOUBLE_EQ(server_lr_of_round(aggregation, rounds, 7), 0.2);
}

TEST(RoundPlan, DecideCommitsAtQuorumAndFailsWhenItIsOutOfReach) {
  EXPECT_EQ(decide(2, 1, 2, false), RoundDecision::kCommit);
  EXPECT_EQ(decide(1, 1, 2, false), RoundDecision::kWait);
  EXPECT_EQ(decide(1, 0, 2, false), RoundDecision::kFail);   // nobody left to reach it
  EXPECT_EQ(decide(1, 3, 2, true), RoundDecision::kFail);    // deadline
  EXPECT_EQ(decide(2, 0, 2, true), RoundDecision::kCommit);  // quorum wins at the deadline too
  EXPECT_EQ(decide(0, 0, 0, false), RoundDecision::kFail);   // an empty round cannot commit
}

}  // namespace
}  // namespace fedgan::coordinator
