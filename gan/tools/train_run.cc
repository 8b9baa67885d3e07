#include "gan/tools/train_run.h"

#include "gan/data/fashion_mnist.h"
#include "gan/data/mixtures.h"
#include "gan/data/partition.h"
#include "gan/device.h"
#include "gan/error.h"
#include "gan/eval/classifier.h"
#include "gan/eval/image_grid.h"
#include "gan/eval/modes.h"
#include "gan/weight_average.h"

#include "files/durable_file.h"
#include "files/error.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>

namespace fedgan::gan {
namespace {

constexpr int64_t kImageEvalSamples = 10000;
constexpr int64_t kPointEvalSamples = 2500;
constexpr double kScatterExtentGrid = 6.0;
constexpr double kScatterExtentRing = 1.5;
constexpr uint64_t kEvalLatentSeed = 0xE7A1;

// The training rows and their labels (class or mixture mode), before any partitioning.
struct TrainingData {
  torch::Tensor rows;
  torch::Tensor labels;
  int64_t num_classes = 0;
  bool images = false;
};

TrainingData load_training_data(const TrainRunOptions& o) {
  if (o.dataset == "fashion-mnist") {
    auto train = load_mnist_format(o.data_dir, Split::kTrain);
    return {train.images, train.labels, train.num_classes, true};
  }
  check(o.mixture_rows > 0, "mixture_rows must be positive, got {}", o.mixture_rows);
  const auto mixture = mixture_by_name(o.dataset);
  auto samples = sample_mixture(mixture, o.mixture_rows, o.seed);
  return {samples.points, samples.modes, mixture.num_modes(), false};
}

// Keeps only the rows of client `client_index` under the requested partition.
void apply_partition(const TrainRunOptions& o, TrainingData& data, std::ostream& log) {
  if (o.partition.empty()) return;
  check(o.client_index >= 0 && o.client_index < o.clients,
        "client index {} is outside [0, {}) clients", o.client_index, o.clients);
  const auto labels = data.labels.contiguous();
  std::vector<int64_t> label_list(labels.data_ptr<int64_t>(),
                                  labels.data_ptr<int64_t>() + labels.numel());
  const auto parts = partition_by_spec(o.partition, label_list, static_cast<int>(data.num_classes),
                                       o.clients, o.seed);
  const auto& mine = parts[o.client_index];
  const auto index = torch::tensor(mine, torch::kLong);
  data.rows = data.rows.index_select(0, index);
  data.labels = data.labels.index_select(0, index);
  log << fmt::format("partition {} over {} clients: client {} holds {} rows\n", o.partition,
                     o.clients, o.client_index, mine.size());
}

ModelSpec model_for(const TrainRunOptions& o, const TrainingData& data) {
  ModelSpec spec = o.model;
  if (spec.architecture.empty()) spec.architecture = data.images ? "dcgan" : "mlp";
  if (spec.architecture == "mlp") spec.mlp.data_dim = data.rows.size(1);
  return spec;
}

void write_samples(LocalTrainer& trainer, const TrainRunOptions& o, const std::string& path) {
  if (o.dataset == "fashion-mnist") {
    write_image_grid(trainer.generate(64, kEvalLatentSeed), path, 8);
  } else {
    const auto mixture = mixture_by_name(o.dataset);
    const double extent = o.dataset == "grid" ? kScatterExtentGrid : kScatterExtentRing;
    write_scatter_png(trainer.generate(kPointEvalSamples, kEvalLatentSeed), mixture.centers, path,
                      extent);
  }
}

using Json = nlohmann::ordered_json;

// A figure for summary.json: six significant digits, as it is printed in the log (more would be
// noise), and null when not finite (JSON has no infinities).
Json figure(double v) {
  return std::isfinite(v) ? Json(std::stod(fmt::format("{:.6g}", v))) : Json(nullptr);
}

// summary.json on one line with a space after every ':' and ',' (`{"steps": 200, ...}`), the
// layout scripts grep for; the values are nlohmann-json's.
std::string one_line(const Json& json) {
  const auto dump = [](const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
  };
  std::string text;
  if (json.is_object()) {
    for (const auto& [key, value] : json.items()) {
      text += fmt::format("{}{}: {}", text.empty() ? "" : ", ", dump(Json(key)), one_line(value));
    }
    return "{" + text + "}";
  }
  if (json.is_array()) {
    for (const auto& value : json) text += (text.empty() ? "" : ", ") + one_line(value);
    return "[" + text + "]";
  }
  return dump(json);
}

// The evaluation's figures for summary.json.
Json evaluate(LocalTrainer& trainer, const TrainRunOptions& o, std::ostream& log) {
  if (o.dataset == "fashion-mnist") {
    const int64_t n = o.eval_samples > 0 ? o.eval_samples : kImageEvalSamples;
    const auto cache = (std::filesystem::path(o.cache_dir) / "fmnist_classifier.pt").string();
    auto classifier = load_or_train_classifier(cache, o.data_dir);
    auto test = load_mnist_format(o.data_dir, Split::kTest);
    check(n <= test.images.size(0), "eval_samples {} exceeds the {} test images", n,
          test.images.size(0));
    const auto quality = evaluate_images(classifier, test.images.narrow(0, 0, n),
                                         trainer.generate(n, kEvalLatentSeed));
    log << fmt::format("eval: classifier-FID {:.2f} over {} real test vs {} generated images\n",
                       quality.fid, n, n);
    log << fmt::format("eval: class coverage {} (classes >= 1%: {}, KL to uniform {:.4f})\n",
                       quality.coverage.counts, quality.coverage.classes_covered,
                       quality.coverage.kl_to_uniform);
    return Json{{"samples", n},
                {"fid", figure(quality.fid)},
                {"class_counts", quality.coverage.counts},
                {"classes_covered", quality.coverage.classes_covered},
                {"class_kl_to_uniform", figure(quality.coverage.kl_to_uniform)}};
  }
  const int64_t n = o.eval_samples > 0 ? o.eval_samples : kPointEvalSamples;
  const auto stats =
      evaluate_modes(trainer.generate(n, kEvalLatentSeed), mixture_by_name(o.dataset));
  log << fmt::format("eval: modes captured {}/{}, high-quality {:.1f}%, reverse KL {:.4f}\n",
                     stats.modes_captured, stats.num_modes, 100 * stats.high_quality_fraction,
                     stats.reverse_kl);
  return Json{{"samples", n},
              {"modes_captured", stats.modes_captured},
              {"num_modes", stats.num_modes},
              {"high_quality_fraction", figure(stats.high_quality_fraction)},
              {"reverse_kl", figure(stats.reverse_kl)}};
}

}  // namespace

TrainRunResult run_training(const TrainRunOptions& o, std::ostream& log) {
  check(o.steps > 0, "steps must be positive, got {}", o.steps);
  check(o.lr_decay == "none" || o.lr_decay == "linear",
        "unknown lr_decay '{}': expected none or linear", o.lr_decay);
  check(o.ema >= 0 && o.ema < 1, "ema must be in [0, 1), got {}", o.ema);
  check(o.log_every > 0, "log_every must be positive, got {}", o.log_every);
  check(o.sample_every >= 0, "sample_every must be >= 0, got {}", o.sample_every);
  check(o.dataset == "fashion-mnist" || o.dataset == "ring" || o.dataset == "grid",
        "unknown dataset '{}': expected fashion-mnist, ring or grid", o.dataset);
  set_torch_threads(o.threads);
  const auto device = resolve_device(o.device);
  const std::filesystem::path out_dir(o.out_dir);
  std::filesystem::create_directories(out_dir);

  auto data = load_training_data(o);
  apply_partition(o, data, log);
  const auto spec = model_for(o, data);
  TrainerOptions trainer_options = o.trainer;
  trainer_options.seed = o.seed;
  if (trainer_options.augment) {
    check(data.images, "--augment applies to image datasets only, not '{}'", o.dataset);
  }
  LocalTrainer trainer(make_model(spec, o.seed), trainer_options, device);
  std::optional<WeightAverage> generator_average;
  if (o.ema > 0) generator_average.emplace(*trainer.model().generator, o.ema);
  BatchSource batches(data.rows, device, o.seed + 1);
  log << fmt::format(
      "fedgan-train: {} ({} rows), {} G {} + D {} params, loss {}, batch {}, {} steps, device {}, "
      "{} threads\n",
      o.dataset, data.rows.size(0), spec.architecture, count_parameters(*trainer.model().generator),
      count_parameters(*trainer.model().discriminator), loss_kind_name(trainer_options.loss),
      trainer_options.batch_size, o.steps, device.str(), at::get_num_threads());

  std::ofstream csv(out_dir / "metrics.csv", std::ios::trunc);
  check(static_cast<bool>(csv), "cannot write {}", (out_dir / "metrics.csv").string());
  csv << "step,discriminator_loss,generator_loss,gradient_penalty,samples_per_second,elapsed_s\n";
  const auto start = std::chrono::steady_clock::now();
  double window_seconds = 0;
  int64_t window_steps = 0;
  for (int64_t i = 0; i < o.steps; ++i) {
    if (o.lr_decay == "linear") {
      const double factor = 1.0 - static_cast<double>(i) / static_cast<double>(o.steps);
      trainer.set_learning_rates(trainer_options.generator_lr * factor,
                                 trainer_options.discriminator_lr * factor);
    }
    const auto stats = trainer.step(batches);
    if (generator_average) generator_average->update(*trainer.model().generator);
    window_seconds += stats.seconds;
    ++window_steps;
    check(std::isfinite(stats.discriminator_loss) && std::isfinite(stats.generator_loss),
          "training diverged at step {}: non-finite loss (D {}, G {})", stats.step,
          stats.discriminator_loss, stats.generator_loss);
    if (stats.step % o.log_every == 0 || stats.step == o.steps) {
      const double rate = window_steps * trainer_options.n_critic * trainer_options.batch_size /
                          std::max(window_seconds, 1e-9);
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      log << fmt::format("step {:>6}/{}  D {:8.4f}  G {:8.4f}  {:8.1f} samples/s  {:7.1f} s\n",
                         stats.step, o.steps, stats.discriminator_loss, stats.generator_loss, rate,
                         elapsed);
      log.flush();  // progress must reach a redirected log as it happens
      csv << fmt::format("{},{:.6g},{:.6g},{:.6g},{:.1f},{:.2f}\n", stats.step,
                         stats.discriminator_loss, stats.generator_loss, stats.gradient_penalty,
                         rate, elapsed);
      csv.flush();
      window_seconds = 0;
      window_steps = 0;
    }
    // The last step's samples are samples_final.png.
    if (o.sample_every > 0 && stats.step % o.sample_every == 0 && stats.step != o.steps) {
      write_samples(trainer, o, (out_dir / fmt::format("samples_{:06d}.png", stats.step)).string());
    }
  }
  TrainRunResult result;
  result.steps = o.steps;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.samples_per_second = static_cast<double>(o.steps) * trainer_options.n_critic *
                              trainer_options.batch_size / result.seconds;
  const auto final_png = (out_dir / "samples_final.png").string();
  write_samples(trainer, o, final_png);
  log << fmt::format("trained {} steps in {:.1f} s ({:.1f} samples/s); samples: {}\n", o.steps,
                     result.seconds, result.samples_per_second, final_png);

  Json summary{{"dataset", o.dataset},
               {"architecture", spec.architecture},
               {"loss", loss_kind_name(trainer_options.loss)},
               {"steps", o.steps},
               {"lr_decay", o.lr_decay},
               {"ema", o.ema},
               {"batch_size", trainer_options.batch_size},
               {"seed", o.seed},
               {"threads", at::get_num_threads()},
               {"partition", o.partition},
               {"train_rows", data.rows.size(0)},
               {"seconds", figure(result.seconds)},
               {"samples_per_second", figure(result.samples_per_second)},
               {"eval", o.evaluate ? evaluate(trainer, o, log) : Json(nullptr)}};
  if (generator_average) {
    AveragedWeightsGuard averaged(*trainer.model().generator, *generator_average);
    const auto ema_png = (out_dir / "samples_final_ema.png").string();
    write_samples(trainer, o, ema_png);
    log << fmt::format("averaged generator (decay {}): samples: {}\n", o.ema, ema_png);
    if (o.evaluate) summary["eval_ema"] = evaluate(trainer, o, log);
  }
  result.summary_json = one_line(summary) + "\n";
  try {
    files::write_file_atomically(out_dir / "summary.json", std::string_view(result.summary_json));
  } catch (const files::FileError& e) {
    throw GanError(e.what());
  }
  log << "summary: " << (out_dir / "summary.json").string() << "\n";
  return result;
}

}  // namespace fedgan::gan
