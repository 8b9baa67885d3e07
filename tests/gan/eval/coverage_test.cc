// Fast checks of the evaluation classifier's shapes and of class coverage; the tests that train
// the classifier for real are in classifier_test.cc (labelled slow).
#include "gan/error.h"
#include "gan/eval/classifier.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace fedgan::gan {
namespace {

TEST(ClassCoverage, CountsCoveredClassesAndKl) {
  // 100 predictions: class 0 x 50, class 1 x 49, class 2 x 1 (exactly 1%: covered), class 3 x 0.
  std::vector<int64_t> values(50, 0);
  values.insert(values.end(), 49, 1);
  values.push_back(2);
  const ClassCoverage coverage = class_coverage(torch::tensor(values), 4);
  EXPECT_EQ(coverage.counts, (std::vector<int64_t>{50, 49, 1, 0}));
  EXPECT_EQ(coverage.classes_covered, 3);
  const double expected =
      0.5 * std::log(0.5 * 4) + 0.49 * std::log(0.49 * 4) + 0.01 * std::log(0.01 * 4);
  EXPECT_NEAR(coverage.kl_to_uniform, expected, 1e-12);

  const ClassCoverage balanced = class_coverage(torch::arange(20) % 10, 10);
  EXPECT_EQ(balanced.classes_covered, 10);
  EXPECT_EQ(balanced.kl_to_uniform, 0.0);

  const ClassCoverage collapsed = class_coverage(torch::full({30}, 3, torch::kLong), 10);
  EXPECT_EQ(collapsed.classes_covered, 1);
  EXPECT_DOUBLE_EQ(collapsed.kl_to_uniform, std::log(10.0));
}

TEST(ClassCoverage, RejectsBadPredictions) {
  EXPECT_THROW(class_coverage(torch::tensor({0, 10}), 10), GanError);
  EXPECT_THROW(class_coverage(torch::tensor({-1}), 10), GanError);
  EXPECT_THROW(class_coverage(torch::zeros({0}, torch::kLong), 10), GanError);
  EXPECT_THROW(class_coverage(torch::zeros({2, 2}, torch::kLong), 10), GanError);
}

TEST(ImageClassifier, ShapesAndInputChecks) {
  ImageClassifier model;
  const torch::Tensor images = torch::zeros({3, 1, 28, 28});
  EXPECT_EQ(model->features(images).sizes(),
            (std::vector<int64_t>{3, ImageClassifierImpl::kFeatureDim}));
  EXPECT_EQ(model->forward(images).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(model->num_classes(), 10);
  EXPECT_THROW(model->forward(torch::zeros({3, 28, 28})), GanError);
  EXPECT_THROW(model->forward(torch::zeros({3, 3, 28, 28})), GanError);
}

}  // namespace
}  // namespace fedgan::gan
