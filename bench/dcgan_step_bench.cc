// fedgan-bench-step: seconds per reference DCGAN training step (one D and one G update, batch 64,
// Adam, BCE with logits) through the C++ trainer. bench/step_vs_python.sh runs it beside the
// Python front end on the same LibTorch; --profile writes a chrome trace of a few steps to show
// where the time goes.

#include "gan/batch_source.h"
#include "gan/device.h"
#include "gan/models/dcgan.h"
#include "gan/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <numeric>

namespace gan = fedgan::gan;

int main(int argc, char** argv) {
  CLI::App app{"Seconds per reference DCGAN step through the C++ trainer"};
  int threads = 1;
  int steps = 30;
  int warmup = 5;
  std::string device_name = "cpu";
  std::string profile_path;
  app.add_option("--threads", threads, "LibTorch intra-op threads");
  app.add_option("--steps", steps, "Timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Untimed steps first");
  app.add_option("--device", device_name, "auto, cpu or cuda");
  app.add_option("--profile", profile_path, "Write a chrome trace of 3 extra steps here");
  CLI11_PARSE(app, argc, argv);
  try {
    gan::set_torch_threads(threads);
    const auto device = gan::resolve_device(device_name);
    gan::TrainerOptions options;  // reference settings: batch 64, Adam(2e-4, 0.5, 0.999), NS loss
    gan::LocalTrainer trainer(gan::make_dcgan(gan::DcganOptions{}, 1), options, device);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
    gan::BatchSource data(torch::rand({640, 1, 28, 28}, gen) * 2 - 1, device, 3);
    for (int i = 0; i < warmup; ++i) trainer.step(data);
    std::vector<double> seconds;
    for (int i = 0; i < steps; ++i) seconds.push_back(trainer.step(data).seconds);
    if (!profile_path.empty()) {
      torch::autograd::profiler::RecordProfile guard(profile_path);
      for (int i = 0; i < 3; ++i) trainer.step(data);
    }
    std::sort(seconds.begin(), seconds.end());
    const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / seconds.size();
    std::cout << fmt::format("threads={} device={} steps={} mean={:.5f} min={:.5f}\n",
                             at::get_num_threads(), device.str(), steps, mean, seconds.front());
    std::cout << fmt::format("step_seconds={:.5f}\n", seconds[seconds.size() / 2]);
  } catch (const std::exception& e) {
    std::cerr << "fedgan-bench-step: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
