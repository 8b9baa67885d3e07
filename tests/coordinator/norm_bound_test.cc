#include "coordinator/norm_bound.h"

#include "coordinator/error.h"

#include <gtest/gtest.h>

namespace fedgan::coordinator {
namespace {

using gan::TrainedNetworks;

AggregationOptions with_bound(const std::string& kind, double max_delta_norm = 0) {
  AggregationOptions options;
  options.norm_bound = config::enum_value<NormBoundKind>(kind).value();
  options.max_delta_norm = max_delta_norm;
  return options;
}

TEST(Median, OddEvenAndEmpty) {
  EXPECT_EQ(median({3.0, 1.0, 2.0}), 2.0);
  EXPECT_EQ(median({4.0, 1.0, 3.0, 2.0}), 2.5);
  EXPECT_EQ(median({7.0}), 7.0);
  EXPECT_FALSE(median({}).has_value());
}

TEST(NormBound, AdaptiveStartsFromTheModelsNormThenFollowsTheMedianOfItsKindOfRound) {
  NormBound bound(with_bound("adaptive"));
  EXPECT_TRUE(bound.needs_model_norm(TrainedNetworks::kDiscriminator));
  EXPECT_EQ(bound.for_round(TrainedNetworks::kDiscriminator, 30.0), 120.0);  // 4 x the model
  bound.committed(TrainedNetworks::kDiscriminator, {1.0, 2.0, 100.0});       // median 2
  EXPECT_FALSE(bound.needs_model_norm(TrainedNetworks::kDiscriminator));
  EXPECT_EQ(bound.for_round(TrainedNetworks::kDiscriminator, 30.0), 8.0);
  // A generator round has its own history: still the model's norm.
  EXPECT_TRUE(bound.needs_model_norm(TrainedNetworks::kGenerator));
  EXPECT_EQ(bound.for_round(TrainedNetworks::kGenerator, 30.0), 120.0);
  // A round of empty updates leaves the history as it was; nothing to scale means no bound.
  bound.committed(TrainedNetworks::kDiscriminator, {0.0, 0.0});
  EXPECT_EQ(bound.for_round(TrainedNetworks::kDiscriminator, 30.0), 8.0);
  EXPECT_FALSE(bound.for_round(TrainedNetworks::kGenerator, 0.0).has_value());
}

TEST(NormBound, FixedAndNone) {
  NormBound fixed(with_bound("fixed", 2.5));
  EXPECT_FALSE(fixed.needs_model_norm(TrainedNetworks::kBoth));
  EXPECT_EQ(fixed.for_round(TrainedNetworks::kBoth, 30.0), 2.5);
  NormBound none(with_bound("none"));
  EXPECT_FALSE(none.for_round(TrainedNetworks::kBoth, 30.0).has_value());
}

}  // namespace
}  // namespace fedgan::coordinator
