// Trains the evaluation classifier for real on Fashion-MNIST (minutes on two cores; the result is
// cached under FEDGAN_TEST_CACHE_DIR, so later runs only load it). Labelled `slow`.
#include "gan/eval/classifier.h"

#include "gan/data/fashion_mnist.h"
#include "gan/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace fedgan::gan {
namespace {

namespace fs = std::filesystem;

constexpr double kMinAccuracy = 0.89;
constexpr int kThreads = 2;

std::string cache_path() {
  return std::string(FEDGAN_TEST_CACHE_DIR) + "/fmnist_classifier.pt";
}

ClassifierTrainingOptions test_options() {
  ClassifierTrainingOptions options;
  options.threads = kThreads;
  return options;
}

// One trained classifier and the test split, shared by the tests of this file.
class ClassifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = std::make_unique<ImageClassifier>(load_or_train_classifier(
        cache_path(), FEDGAN_TEST_FASHION_MNIST_DIR, kMinAccuracy, test_options()));
    test_ = std::make_unique<ImageDataset>(
        load_mnist_format(FEDGAN_TEST_FASHION_MNIST_DIR, Split::kTest));
  }
  static void TearDownTestSuite() {
    model_.reset();
    test_.reset();
  }

  static inline std::unique_ptr<ImageClassifier> model_;
  static inline std::unique_ptr<ImageDataset> test_;
};

TEST_F(ClassifierTest, CachedModelReachesRequiredAccuracy) {
  // Load the file back, so what is verified is the cached model and not the one in memory.
  const auto written = fs::last_write_time(cache_path());
  ImageClassifier cached = load_or_train_classifier(cache_path(), FEDGAN_TEST_FASHION_MNIST_DIR,
                                                    kMinAccuracy, test_options());
  EXPECT_EQ(fs::last_write_time(cache_path()), written)
      << "a valid cache must be loaded, not retrained and rewritten";
  const double accuracy = classifier_accuracy(cached, *test_);
  std::cerr << "cached classifier test accuracy " << accuracy << "\n";
  EXPECT_GE(accuracy, kMinAccuracy);
  // The fixture's model (trained now or loaded earlier) and the reloaded one are the same.
  const auto expected = (*model_)->named_parameters();
  for (const auto& item : cached->named_parameters()) {
    EXPECT_TRUE(item.value().equal(expected[item.key()])) << item.key();
  }
}

TEST_F(ClassifierTest, FeaturesAndPredictionsHaveDocumentedShapes) {
  const torch::Tensor images = test_->images.slice(0, 0, 37);
  const torch::Tensor features = classifier_features(*model_, images, /*chunk=*/10);
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{37, ImageClassifierImpl::kFeatureDim}));
  EXPECT_GE(features.min().item<float>(), 0.0f);  // after ReLU
  const torch::Tensor predictions = classifier_predictions(*model_, images, /*chunk=*/10);
  EXPECT_EQ(predictions.sizes(), (std::vector<int64_t>{37}));
  EXPECT_TRUE(predictions.equal(classifier_predictions(*model_, images)));  // chunking is invisible
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(predictions.equal((*model_)->logits(features).argmax(1)));
  EXPECT_THROW(classifier_features(*model_, torch::zeros({2, 1, 32, 32})), GanError);
}

TEST_F(ClassifierTest, FidSeparatesRealFromNoise) {
  const int64_t half = test_->images.size(0) / 2;
  const torch::Tensor first = test_->images.slice(0, 0, half);
  const torch::Tensor second = test_->images.slice(0, half);
  const ImageQuality real = evaluate_images(*model_, first, second);
  std::cerr << "FID real vs real " << real.fid << "\n";
  EXPECT_LT(real.fid, 5.0);

  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  const torch::Tensor noise = torch::empty({half, 1, 28, 28}).uniform_(-1.0, 1.0, gen);
  const ImageQuality fake = evaluate_images(*model_, first, noise);
  std::cerr << "FID real vs uniform noise " << fake.fid << "\n";
  EXPECT_GT(fake.fid, 100.0);
  EXPECT_GT(fake.fid, 20.0 * real.fid);
}

TEST_F(ClassifierTest, RealTestSplitCoversAllClasses) {
  const ClassCoverage coverage = class_coverage(classifier_predictions(*model_, test_->images), 10);
  EXPECT_EQ(coverage.classes_covered, 10);
  EXPECT_LT(coverage.kl_to_uniform, 0.05);
  std::cerr << "class coverage KL of the real test split " << coverage.kl_to_uniform << "\n";
}

TEST(LoadOrTrainClassifier, RetrainsOverACorruptCache) {
  const fs::path dir =
      fs::temp_directory_path() / ("fedgan_classifier_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "corrupt.pt").string();
  std::ofstream(path) << "this is not a torch archive";
  // One epoch is enough to show the retraining; the accuracy bar is lowered to match.
  ClassifierTrainingOptions options = test_options();
  options.epochs = 1;
  ImageClassifier model =
      load_or_train_classifier(path, FEDGAN_TEST_FASHION_MNIST_DIR, /*min_accuracy=*/0.8, options);
  EXPECT_GT(fs::file_size(path), 100000u);
  // The rewritten cache loads as is.
  ImageClassifier reloaded =
      load_or_train_classifier(path, FEDGAN_TEST_FASHION_MNIST_DIR, 0.8, options);
  const torch::Tensor images = torch::zeros({4, 1, 28, 28});
  EXPECT_TRUE(classifier_features(model, images).equal(classifier_features(reloaded, images)));
  fs::remove_all(dir);
}

TEST(LoadOrTrainClassifier, ReportsMissingData) {
  const fs::path dir =
      fs::temp_directory_path() / ("fedgan_classifier_nodata_" + std::to_string(::getpid()));
  EXPECT_THROW(load_or_train_classifier((dir / "c.pt").string(), (dir / "none").string()),
               GanError);
  EXPECT_FALSE(fs::exists(dir / "c.pt"));
}

}  // namespace
}  // namespace fedgan::gan
