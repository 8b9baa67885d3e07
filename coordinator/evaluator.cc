#include "coordinator/evaluator.h"

#include "coordinator/error.h"
#include "gan/data/fashion_mnist.h"
#include "gan/eval/image_grid.h"
#include "gan/eval/modes.h"
#include "gan/eval_mode_guard.h"

#include <ATen/Parallel.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace fedgan::coordinator {
namespace {

// The sample picture, as fedgan-train draws it: an 8x8 grid of images, or a scatter plot over a
// square that holds the whole mixture with a margin.
constexpr int64_t kGridImages = 64;
constexpr int64_t kGridColumns = 8;
constexpr double kScatterExtentGrid = 6.0;
constexpr double kScatterExtentRing = 1.5;
// Latents are drawn and pushed through the generator this many at a time (bounds activations).
constexpr int64_t kGenerateChunk = 1000;
constexpr const char* kClassifierFile = "fmnist_classifier.pt";

// Sets LibTorch's intra-op thread count for one evaluation and restores the previous one.
class ThreadCountGuard {
 public:
  explicit ThreadCountGuard(int64_t threads) : previous_(at::get_num_threads()) {
    if (threads > 0) at::set_num_threads(static_cast<int>(threads));
  }
  ~ThreadCountGuard() {
    if (at::get_num_threads() != previous_) at::set_num_threads(previous_);
  }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int previous_;
};

// `count` generator outputs on the CPU, as LocalTrainer::generate draws them (same latents for the
// same seed): eval mode, no gradients, latents from a CPU generator seeded with `seed`.
torch::Tensor generate(gan::GeneratorImpl& generator, int64_t count, uint64_t seed) {
  torch::NoGradGuard no_grad;
  gan::EvalModeGuard eval_mode(generator);
  const auto parameters = generator.parameters();
  const torch::Device device =
      parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<torch::Tensor> parts;
  for (int64_t done = 0; done < count; done += kGenerateChunk) {
    const int64_t n = std::min(kGenerateChunk, count - done);
    const auto latent = torch::randn({n, generator.latent_dim()}, gen, torch::kFloat32).to(device);
    parts.push_back(generator.forward(latent).to(torch::kCPU));
  }
  return torch::cat(parts);
}

// The architecture that produces the dataset's samples.
Architecture architecture_for(EvaluationDataset dataset) {
  return dataset == EvaluationDataset::kFashionMnist ? Architecture::kDcgan : Architecture::kMlp;
}

}  // namespace

Evaluator::Evaluator(const EvaluationOptions& options, Architecture architecture)
    : options_(options), architecture_(architecture) {
  check(options_.every_rounds >= 0, "evaluation.every_rounds must be >= 0, got {}",
        options_.every_rounds);
  check(options_.samples >= 2,
        "evaluation.samples must be at least 2 (feature statistics need two samples), got {}",
        options_.samples);
  check(options_.threads >= 0, "evaluation.threads must be >= 0 (0: leave as is), got {}",
        options_.threads);
  const EvaluationDataset dataset = options_.dataset;
  if (!images()) mixture_ = gan::mixture_by_name(std::string(config::enum_name(dataset)));
  // A run with evaluation off may leave the dataset at its default whatever the model.
  check(options_.every_rounds == 0 || architecture_for(dataset) == architecture_,
        "evaluation.dataset '{}' needs the {} architecture, but model.architecture is '{}'",
        config::enum_name(dataset), config::enum_name(architecture_for(dataset)),
        config::enum_name(architecture_));
}

bool Evaluator::due(int64_t committed_round) const {
  return options_.every_rounds > 0 && committed_round % options_.every_rounds == 0;
}

storage::Evaluation Evaluator::evaluate(gan::GanModel& model, const std::filesystem::path& grid_png,
                                        uint64_t seed) {
  const std::string_view needed = config::enum_name(architecture_for(options_.dataset));
  check(model.architecture == needed,
        "cannot evaluate a {} model on evaluation.dataset '{}' (it needs {})", model.architecture,
        config::enum_name(options_.dataset), needed);
  check(model.generator != nullptr, "cannot evaluate a model without a generator");
  ThreadCountGuard threads(options_.threads);
  const torch::Tensor generated = generate(*model.generator, options_.samples, seed);
  // The picture goes first: when the figures cannot be computed (non-finite samples), it shows why.
  if (images()) {
    const int64_t tiles = std::min(kGridImages, generated.size(0));
    gan::write_image_grid(generated.narrow(0, 0, tiles), grid_png.string(), kGridColumns);
    return evaluate_images(generated);
  }
  const double extent =
      options_.dataset == EvaluationDataset::kGrid ? kScatterExtentGrid : kScatterExtentRing;
  gan::write_scatter_png(generated, mixture_->centers, grid_png.string(), extent);
  return evaluate_points(generated);
}

void Evaluator::load_image_reference() {
  if (real_stats_) return;
  const auto cache = (options_.cache_dir / kClassifierFile).string();
  classifier_ = gan::load_or_train_classifier(cache, options_.data_dir.string());
  const auto test = gan::load_mnist_format(options_.data_dir.string(), gan::Split::kTest);
  check(options_.samples <= test.images.size(0),
        "evaluation.samples is {} but the test split of {} has only {} images", options_.samples,
        options_.data_dir.string(), test.images.size(0));
  // The first `samples` test images, as fedgan-train uses, so the figures compare.
  const auto real = test.images.narrow(0, 0, options_.samples);
  real_stats_ = gan::feature_stats(gan::classifier_features(classifier_, real));
}

storage::Evaluation Evaluator::evaluate_images(const torch::Tensor& generated) {
  load_image_reference();
  const torch::Tensor features = gan::classifier_features(classifier_, generated);
  storage::Evaluation result;
  result.fid = gan::frechet_distance(*real_stats_, gan::feature_stats(features));
  torch::Tensor predictions;
  {
    // The head is one linear layer (no batch norm), so the predictions come from the features
    // already computed instead of a second pass through the convolutions.
    torch::NoGradGuard no_grad;
    predictions = classifier_->logits(features).argmax(1);
  }
  const auto coverage = gan::class_coverage(predictions, classifier_->num_classes());
  result.classes_covered = coverage.classes_covered;
  result.kl_to_uniform = coverage.kl_to_uniform;
  return result;
}

storage::Evaluation Evaluator::evaluate_points(const torch::Tensor& generated) const {
  const auto stats = gan::evaluate_modes(generated, *mixture_);
  storage::Evaluation result;
  result.modes_captured = stats.modes_captured;
  result.high_quality_fraction = stats.high_quality_fraction;
  result.kl_to_uniform = stats.reverse_kl;
  return result;
}

std::string describe(const storage::Evaluation& e) {
  std::vector<std::string> parts;
  if (e.fid) parts.push_back(fmt::format("FID {:.2f}", *e.fid));
  if (e.classes_covered) parts.push_back(fmt::format("classes covered {}", *e.classes_covered));
  if (e.modes_captured) parts.push_back(fmt::format("modes captured {}", *e.modes_captured));
  if (e.high_quality_fraction) {
    parts.push_back(fmt::format("high quality {:.1f}%", 100 * *e.high_quality_fraction));
  }
  if (e.kl_to_uniform) parts.push_back(fmt::format("KL to uniform {:.4f}", *e.kl_to_uniform));
  return parts.empty() ? "no figures" : fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace fedgan::coordinator
