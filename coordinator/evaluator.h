#pragma once

#include "coordinator/options.h"
#include "gan/data/mixtures.h"
#include "gan/eval/classifier.h"
#include "gan/eval/fid.h"
#include "gan/models/gan_model.h"
#include "storage/records.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace fedgan::coordinator {

/// The periodic evaluation of the global generator ([evaluation] options), with the same metrics
/// and conventions as `fedgan-train --evaluate`, so a federated run compares with its centralized
/// anchor at the same sample count:
/// - "fashion-mnist" (architecture dcgan): `samples` generated images against the first `samples`
///   images of the real test split: classifier-FID, and class coverage (classes with >= 1% of the
///   predictions, KL of the class histogram to uniform).
/// - "grid" / "ring" (architecture mlp): `samples` generated points against the mixture: modes
///   captured, fraction of high-quality samples, reverse KL of the mode histogram to uniform.
///
/// The classifier (trained on first use and cached in `cache_dir`, see load_or_train_classifier),
/// the test split and the real images' feature statistics are loaded by the first evaluate() and
/// kept. Not thread-safe; the model must not be trained or aggregated into while it runs.
class Evaluator {
 public:
  /// Throws CoordinatorError naming the option for `samples` below 2, `threads` below 0, or (when
  /// evaluation is enabled, every_rounds > 0) a dataset the architecture cannot produce.
  Evaluator(const EvaluationOptions& options, Architecture architecture);

  /// Whether round `committed_round` is evaluated: every_rounds > 0 and the round a multiple of it.
  bool due(int64_t committed_round) const;

  /// Draws `samples` outputs of `model`'s generator from latents seeded with `seed`, in eval mode
  /// (BatchNorm running statistics; the previous mode is restored), without gradients, and
  /// returns the dataset's figures. Writes the sample picture to `grid_png` (parents created,
  /// atomically): the first 64 images as an 8x8 grid, or every point as a scatter plot with the
  /// mixture's centers. `threads` > 0 sets LibTorch's intra-op thread count for the evaluation
  /// only; the previous count is restored, because the coordinator shares the process with its
  /// network threads (fedgan-train instead sets its count once for the whole run). Throws GanError
  /// for data or classifier failures (missing files, a classifier below its accuracy bound,
  /// non-finite samples) and CoordinatorError when `model` is not the configured architecture.
  storage::Evaluation evaluate(gan::GanModel& model, const std::filesystem::path& grid_png,
                               uint64_t seed);

  const EvaluationOptions& options() const { return options_; }
  bool images() const { return options_.dataset == EvaluationDataset::kFashionMnist; }

 private:
  storage::Evaluation evaluate_images(const torch::Tensor& generated);
  storage::Evaluation evaluate_points(const torch::Tensor& generated) const;
  void load_image_reference();

  EvaluationOptions options_;
  Architecture architecture_;
  std::optional<gan::GaussianMixture2d> mixture_;  // set for grid / ring
  // Loaded by the first image evaluation.
  gan::ImageClassifier classifier_{nullptr};
  std::optional<gan::GaussianStats> real_stats_;
};

/// One line of figures for logs, e.g. "FID 41.20, classes covered 10, KL to uniform 0.0312" or
/// "modes captured 23, high quality 91.2%, KL to uniform 0.0800"; "no figures" when empty.
std::string describe(const storage::Evaluation& evaluation);

}  // namespace fedgan::coordinator
