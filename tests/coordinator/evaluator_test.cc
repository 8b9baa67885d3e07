#include "coordinator/evaluator.h"

#include "coordinator/error.h"
#include "gan/models/model_factory.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    std::random_device device;
    dir_ = fs::temp_directory_path() / ("fedgan_evaluator_" + std::to_string(device()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static EvaluationOptions options(const std::string& dataset, int64_t every_rounds = 1,
                                   int64_t samples = 500) {
    EvaluationOptions o;
    o.dataset = config::enum_value<EvaluationDataset>(dataset).value();
    o.every_rounds = every_rounds;
    o.samples = samples;
    o.threads = 1;
    return o;
  }

  fs::path dir_;
};

std::string coordinator_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CoordinatorError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a CoordinatorError";
  return "";
}

bool is_png(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char signature[8] = {};
  in.read(signature, sizeof(signature));
  return in && std::string(signature, 8) == std::string("\x89PNG\r\n\x1a\n", 8);
}

gan::GanModel model_of(const std::string& architecture, uint64_t seed) {
  gan::ModelSpec spec;
  spec.architecture = architecture;
  return gan::make_model(spec, seed);
}

TEST_F(EvaluatorTest, DueEveryKCommittedRounds) {
  const Evaluator never(options("grid", 0), Architecture::kMlp);
  for (int64_t round : {0, 1, 5, 10}) EXPECT_FALSE(never.due(round)) << round;
  const Evaluator every5(options("grid", 5), Architecture::kMlp);
  EXPECT_TRUE(every5.due(5));
  EXPECT_TRUE(every5.due(10));
  EXPECT_FALSE(every5.due(1));
  EXPECT_FALSE(every5.due(7));
  const Evaluator every1(options("ring", 1), Architecture::kMlp);
  for (int64_t round : {1, 2, 3}) EXPECT_TRUE(every1.due(round)) << round;
}

TEST_F(EvaluatorTest, GridEvaluationOfAnUntrainedGeneratorGivesFiguresInRangeAndAScatterPng) {
  Evaluator evaluator(options("grid"), Architecture::kMlp);
  auto model = model_of("mlp", 3);
  model.generator->train();
  const int previous_threads = at::get_num_threads();
  const auto png = dir_ / "rounds" / "round_000001.png";
  const auto figures = evaluator.evaluate(model, png, 17);

  EXPECT_TRUE(is_png(png));
  EXPECT_TRUE(model.generator->is_training());  // the mode it had before
  EXPECT_EQ(at::get_num_threads(), previous_threads);
  ASSERT_TRUE(figures.modes_captured && figures.high_quality_fraction && figures.kl_to_uniform);
  EXPECT_FALSE(figures.fid || figures.classes_covered);
  EXPECT_GE(*figures.modes_captured, 0);
  EXPECT_LE(*figures.modes_captured, 25);
  EXPECT_GE(*figures.high_quality_fraction, 0.0);
  EXPECT_LE(*figures.high_quality_fraction, 1.0);
  // No high-quality sample at all makes the reverse KL infinite; otherwise it is finite and >= 0.
  EXPECT_TRUE(std::isinf(*figures.kl_to_uniform) || *figures.kl_to_uniform >= 0.0);
  EXPECT_FALSE(describe(figures).empty());

  // Same model, same seed: same figures; the eval-mode model is left in eval mode.
  model.generator->eval();
  const auto again = evaluator.evaluate(model, dir_ / "again.png", 17);
  EXPECT_FALSE(model.generator->is_training());
  EXPECT_EQ(*again.modes_captured, *figures.modes_captured);
  EXPECT_EQ(*again.high_quality_fraction, *figures.high_quality_fraction);
}

TEST_F(EvaluatorTest, SetsTheThreadCountOnlyForTheEvaluation) {
  const int previous_threads = at::get_num_threads();
  auto o = options("ring", 1, 100);
  o.threads = previous_threads + 1;
  Evaluator evaluator(o, Architecture::kMlp);
  auto model = model_of("mlp", 4);
  const auto figures = evaluator.evaluate(model, dir_ / "ring.png", 1);
  EXPECT_EQ(at::get_num_threads(), previous_threads);
  EXPECT_LE(*figures.modes_captured, 8);
}

TEST_F(EvaluatorTest, RefusesInvalidOptionsAndMismatchedArchitectures) {
  EXPECT_NE(coordinator_error_of([] {
              Evaluator e(options("grid", 1, 1), Architecture::kMlp);
            }).find("evaluation.samples"),
            std::string::npos);
  EXPECT_NE(coordinator_error_of([] {
              Evaluator e(options("grid", 1), Architecture::kDcgan);
            }).find("model.architecture"),
            std::string::npos);
  // Evaluation off: the default dataset may stay whatever the architecture.
  EXPECT_NO_THROW(Evaluator(options("fashion-mnist", 0), Architecture::kMlp));
  Evaluator off(options("fashion-mnist", 0), Architecture::kMlp);
  auto model = model_of("mlp", 1);
  EXPECT_THROW(off.evaluate(model, dir_ / "x.png", 1), CoordinatorError);
}

TEST(DescribeEvaluation, ListsTheFiguresPresent) {
  storage::Evaluation images;
  images.fid = 41.2;
  images.classes_covered = 10;
  images.kl_to_uniform = 0.03125;
  EXPECT_EQ(describe(images), "FID 41.20, classes covered 10, KL to uniform 0.0312");
  storage::Evaluation points;
  points.modes_captured = 23;
  points.high_quality_fraction = 0.912;
  EXPECT_EQ(describe(points), "modes captured 23, high quality 91.2%");
  EXPECT_EQ(describe(storage::Evaluation{}), "no figures");
}

// Needs the evaluation classifier cached by an earlier build (training it takes minutes), and the
// Fashion-MNIST files.
TEST_F(EvaluatorTest, FashionMnistEvaluationWithTheCachedClassifier) {
  const fs::path cache_dir = FEDGAN_TEST_CACHE_DIR;
  const fs::path data_dir = FEDGAN_TEST_FASHION_MNIST_DIR;
  if (!fs::exists(cache_dir / "fmnist_classifier.pt")) {
    GTEST_SKIP() << "no cached classifier at " << (cache_dir / "fmnist_classifier.pt");
  }
  auto o = options("fashion-mnist", 1, 200);
  o.cache_dir = cache_dir;
  o.data_dir = data_dir;
  Evaluator evaluator(o, Architecture::kDcgan);
  auto model = model_of("dcgan", 5);
  const auto png = dir_ / "grid.png";
  const auto figures = evaluator.evaluate(model, png, 3);
  EXPECT_TRUE(is_png(png));
  ASSERT_TRUE(figures.fid && figures.classes_covered && figures.kl_to_uniform);
  EXPECT_FALSE(figures.modes_captured || figures.high_quality_fraction);
  EXPECT_TRUE(std::isfinite(*figures.fid));
  EXPECT_GT(*figures.fid, 0.0);
  EXPECT_GE(*figures.classes_covered, 0);
  EXPECT_LE(*figures.classes_covered, 10);
  EXPECT_GE(*figures.kl_to_uniform, 0.0);
  // The reference statistics are cached: a second evaluation gives the same figures.
  const auto again = evaluator.evaluate(model, png, 3);
  EXPECT_DOUBLE_EQ(*again.fid, *figures.fid);
}

}  // namespace
}  // namespace fedgan::coordinator
