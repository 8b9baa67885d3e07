#pragma once

#include "gan/models/model_factory.h"
#include "gan/trainer.h"

#include <iosfwd>
#include <string>

namespace fedgan::gan {

/// Everything one centralized training run needs; filled from the command line by fedgan-train.
struct TrainRunOptions {
  std::string dataset = "fashion-mnist";  // fashion-mnist | ring | grid
  std::string data_dir;                   // IDX directory for fashion-mnist
  /// Train on one client's share only: a partition spec ("iid", "classes:K", "dirichlet:A") with
  /// `clients` and `client_index`. Empty: the whole training set.
  std::string partition;
  int clients = 1;
  int client_index = 0;
  int64_t mixture_rows = 100000;  // training set size drawn from a 2-D mixture
  ModelSpec model;                // architecture chosen from the dataset when empty
  TrainerOptions trainer;
  int64_t steps = 1000;
  /// "none": constant learning rates; "linear": both decay linearly over the run, step i of n
  /// (from 0) training at lr * (1 - i / n), so the last step takes lr / n.
  std::string lr_decay = "none";
  /// Decay of an exponential moving average of the generator's weights over the steps
  /// (WeightAverage); 0 = off. With it the run also evaluates the averaged generator ("eval_ema"
  /// in summary.json) and writes its samples (samples_final_ema.png).
  double ema = 0;
  uint64_t seed = 1;
  std::string device = "auto";
  int threads = 0;
  std::string out_dir = "out/train";
  int64_t log_every = 100;
  int64_t sample_every = 0;  // 0: only the final sample image
  bool evaluate = false;
  int64_t eval_samples = 0;  // 0: 10,000 images or 2,500 points
  std::string cache_dir;     // where the evaluation classifier is cached
};

/// Final figures of a run, also written to <out_dir>/summary.json.
struct TrainRunResult {
  int64_t steps = 0;
  double seconds = 0;
  double samples_per_second = 0;  // real samples per second over the whole run
  std::string summary_json;
};

/// Loads the data, trains, logs every `log_every` steps to `log` and <out_dir>/metrics.csv,
/// writes sample images and, with `evaluate`, mode statistics (2-D) or classifier-FID and class
/// coverage (images). Throws GanError on invalid options or data.
TrainRunResult run_training(const TrainRunOptions& options, std::ostream& log);

}  // namespace fedgan::gan
