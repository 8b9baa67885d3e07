#pragma once

// Shared by the client tests: a fresh directory per test, options for a small 2-D site, and the
// hyperparameters and Task a coordinator would send.

#include "client/local_round.h"
#include "client/options.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

namespace fedgan::client::testing {

/// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           (std::string("fedgan_client_") + info->test_suite_name() + "_" +
            std::to_string(getpid()) + "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

/// A site with 512 points of the ring mixture, training an mlp on the CPU, its state under
/// `dir`/state. The TLS files are named (not created): enough for validate().
inline ClientOptions mixture_options(const std::filesystem::path& dir) {
  ClientOptions options;
  options.tls.ca_file = dir / "ca.pem";
  options.tls.certificate_file = dir / "site.pem";
  options.tls.private_key_file = dir / "site.key";
  options.data.format = DataFormat::kMixture;
  options.data.mixture = Mixture::kRing;
  options.data.mixture_rows = 512;
  options.training.device = "cpu";
  options.training.seed = 7;
  options.state.dir = dir / "state";
  return options;
}

/// What the coordinator sends with its defaults (coordinator/round_task.cc), for an mlp and a
/// few local steps.
inline wire::TrainingHyperparameters default_hyperparameters() {
  wire::TrainingHyperparameters h;
  h.set_architecture("mlp");
  h.set_federate(wire::FEDERATION_SCOPE_BOTH);
  h.set_local_steps(3);
  h.set_batch_size(64);
  h.set_optimizer(wire::OPTIMIZER_ADAM);
  h.set_networks(wire::TRAINED_NETWORKS_BOTH);
  h.set_lr_generator(0.0002);
  h.set_lr_discriminator(0.0002);
  h.set_beta1(0.5);
  h.set_beta2(0.999);
  h.set_loss(wire::LOSS_NON_SATURATING);
  h.set_n_critic(1);
  return h;
}

/// Changes a test makes to the default hyperparameters.
using HyperparameterChange = std::function<void(wire::TrainingHyperparameters&)>;

/// A task for `round` whose model manifest is `manifest`, with the default hyperparameters as
/// `change` leaves them.
inline wire::Task make_task(uint64_t round, const wire::Manifest& manifest,
                            const HyperparameterChange& change = nullptr) {
  wire::Task task;
  task.set_run_id("run");
  task.set_round(round);
  task.set_nonce("nonce-" + std::to_string(round));
  task.set_deadline_unix_ms(0);
  *task.mutable_training() = default_hyperparameters();
  if (change) change(*task.mutable_training());
  *task.mutable_model() = manifest;
  task.set_model_follows(true);
  return task;
}

}  // namespace fedgan::client::testing
