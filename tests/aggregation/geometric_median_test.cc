// The geometric median by smoothed Weiszfeld iterations (aggregation/geometric_median.cc).

#include "aggregation/robust_rule.h"

#include "tests/aggregation/robust_test_util.h"
#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace fedgan::aggregation {
namespace {

using test::Outcome;
using test::Rows;

RobustRuleOptions geometric_median(size_t iterations, double tolerance = 1e-12) {
  RobustRuleOptions options = test::options_for(RuleKind::kGeometricMedian);
  options.weiszfeld_iterations = iterations;
  options.weiszfeld_tolerance = tolerance;
  return options;
}

// sum_i (z - x_i) / ||z - x_i||: zero at the geometric median (when z is not a row).
std::vector<double> unit_vector_sum(const Rows& rows, const std::vector<float>& z) {
  std::vector<double> sum(z.size(), 0.0);
  for (const auto& row : rows) {
    const double norm = std::sqrt(test::squared_distance(row, z));
    for (size_t c = 0; c < z.size(); ++c) sum[c] += (z[c] - static_cast<double>(row[c])) / norm;
  }
  return sum;
}

TEST(GeometricMedian, OneIterationByHand) {
  // Start at the mean 2; distances 2, 2, 4; b = 1/2, 1/2, 1/4, normalised 0.4, 0.4, 0.2:
  // z_1 = 0.2 * 6 = 1.2.
  const Outcome outcome = test::run(geometric_median(1), {{0}, {0}, {6}});
  EXPECT_FLOAT_EQ(outcome.out[0], 1.2f);
  EXPECT_NEAR(outcome.verdicts[0].weight, 0.4, 1e-15);
  EXPECT_NEAR(outcome.verdicts[1].weight, 0.4, 1e-15);
  EXPECT_NEAR(outcome.verdicts[2].weight, 0.2, 1e-15);
  EXPECT_EQ(test::effects(outcome.verdicts),
            (std::vector<UpdateEffect>{UpdateEffect::kKept, UpdateEffect::kKept,
                                       UpdateEffect::kDownWeighted}));
}

TEST(GeometricMedian, FindsTheFermatPointOfATriangle) {
  // (-1, 0), (1, 0), (0, 2): every angle is below 120 degrees, so the Fermat point is inside,
  // on the axis, where the segments to the base corners meet at 120 degrees: (0, 1 / sqrt(3)).
  const Outcome outcome = test::run(geometric_median(200), {{-1, 0}, {1, 0}, {0, 2}});
  EXPECT_NEAR(outcome.out[0], 0.0, 1e-6);
  EXPECT_NEAR(outcome.out[1], 1.0 / std::sqrt(3.0), 1e-5);
  // The equilateral triangle's is its centroid, where the iterations start.
  const float h = static_cast<float>(std::sqrt(3.0));
  const Outcome equilateral = test::run(geometric_median(1), {{-1, 0}, {1, 0}, {0, h}});
  EXPECT_NEAR(equilateral.out[1], h / 3, 1e-6);
}

TEST(GeometricMedian, InOneDimensionIsTheMedian) {
  const Outcome outcome = test::run(geometric_median(200), {{10}, {0}, {2}, {11}, {1}});
  EXPECT_NEAR(outcome.out[0], 2.0, 1e-4);
}

TEST(GeometricMedian, ConvergesToWhereTheUnitVectorsCancel) {
  std::mt19937 gen(31);
  for (int trial = 0; trial < 20; ++trial) {
    const Rows rows = test::normal_rows(gen, 7, 5);
    const Outcome outcome = test::run(geometric_median(1000, 1e-15), rows, 2);
    for (double component : unit_vector_sum(rows, outcome.out)) EXPECT_NEAR(component, 0.0, 1e-3);
  }
}

TEST(GeometricMedian, StopsWhenTheObjectiveNoLongerImproves) {
  std::mt19937 gen(8);
  const Rows rows = test::normal_rows(gen, 6, 4);
  // A tolerance of 0.9: the first iteration improves the objective by less than 90%.
  EXPECT_EQ(test::run(geometric_median(50, 0.9), rows).out,
            test::run(geometric_median(1), rows).out);
  EXPECT_NE(test::run(geometric_median(50), rows).out, test::run(geometric_median(1), rows).out);
}

TEST(GeometricMedian, DownWeightsAnOutlier) {
  const Rows rows = {{1, 1}, {1.5f, 1}, {1, 1.5f}, {1.5f, 1.5f}, {1000, -1000}};
  const Outcome outcome = test::run(geometric_median(50), rows);
  EXPECT_EQ(outcome.verdicts[4].effect, UpdateEffect::kDownWeighted);
  EXPECT_LT(outcome.verdicts[4].weight, 1e-3);
  double total = 0.0;
  for (const UpdateVerdict& verdict : outcome.verdicts) total += verdict.weight;
  EXPECT_NEAR(total, 1.0, 1e-12);
  // The mean is (201, -199); the geometric median stays among the four (pulled to their corner
  // nearest the outlier, whose unit vector the four must balance).
  for (float x : outcome.out) {
    EXPECT_GE(x, 1.0f);
    EXPECT_LE(x, 1.5f);
  }
}

}  // namespace
}  // namespace fedgan::aggregation
