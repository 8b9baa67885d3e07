#include "client/local_round.h"

#include "client/error.h"
#include "client/local_state.h"
#include "config/enum_names.h"
#include "tests/client/test_support.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <tuple>

namespace fedgan::client {
namespace {

using gan::FederationScope;
using testing::make_task;

void generator_only_task(wire::TrainingHyperparameters& h) {
  h.set_federate(wire::FEDERATION_SCOPE_GENERATOR);
}

// Appends field `field` = `value` as a varint to `h`'s bytes and parses them back: what a newer
// coordinator's message (a field or an enum value this build does not know) looks like here.
void with_varint(wire::TrainingHyperparameters& h, uint32_t field, uint64_t value) {
  std::string bytes = h.SerializeAsString();
  for (uint64_t v : {uint64_t{field} << 3, value}) {
    for (; v >= 0x80; v >>= 7) bytes += static_cast<char>((v & 0x7f) | 0x80);
    bytes += static_cast<char>(v);
  }
  ASSERT_TRUE(h.ParseFromString(bytes));
}

class LocalRoundTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    options_ = testing::mixture_options(dir_);
    data_ = load_data(options_.data);
  }

  // The ClientError message plan_task throws for the task, or "" when it is accepted.
  std::string refusal(LocalRound& round, const wire::Task& task) {
    try {
      round.plan_task(task);
    } catch (const ClientError& error) {
      return error.what();
    }
    return "";
  }

  // Fills the download buffers with the site's own federated values shifted by `shift`: a
  // "global model" that differs from the local one.
  void receive_global(LocalRound& round, FederationScope scope, float shift) {
    const auto federated = gan::federated_tensors(round.model(), scope);
    const auto destinations = round.global_destinations();
    ASSERT_EQ(destinations.size(), federated.size());
    for (size_t i = 0; i < federated.size(); ++i) {
      const auto values = (federated[i].tensor.detach().to(torch::kCPU) + shift).contiguous();
      std::memcpy(destinations[i].data, values.data_ptr(), values.nbytes());
    }
  }

  // The delta of a round trained on site `identity` with options_ from a zero-shift global model.
  std::vector<torch::Tensor> delta_of_a_round(const std::string& identity) {
    LocalRound round(options_, data_, identity);
    const auto manifest =
        round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
    const TaskPlan plan = round.plan_task(make_task(3, manifest));
    receive_global(round, plan.scope, 0.0f);
    EXPECT_TRUE(round.train(plan, {}).completed);
    std::vector<torch::Tensor> delta;
    for (const auto& view : round.delta_views()) {
      const std::vector<int64_t> shape(view.spec.shape().begin(), view.spec.shape().end());
      delta.push_back(
          torch::from_blob(const_cast<void*>(view.data), shape, torch::kFloat32).clone());
    }
    return delta;
  }

  std::vector<torch::Tensor> copies(const std::vector<protocol::MutableTensorView>& views) {
    std::vector<torch::Tensor> result;
    for (const auto& view : views) {
      std::vector<int64_t> shape(view.spec.shape().begin(), view.spec.shape().end());
      result.push_back(torch::from_blob(view.data, shape, torch::kFloat32).clone());
    }
    return result;
  }

  ClientOptions options_;
  LoadedData data_;
};

TEST_F(LocalRoundTest, DeltaIsLocalMinusGlobalForTheFederatedTensors) {
  LocalRound round(options_, data_, "site-1");
  EXPECT_FALSE(round.state_loaded());
  EXPECT_EQ(round.architecture(), "mlp");
  EXPECT_EQ(round.num_samples(), 512);
  const auto manifest =
      round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
  const TaskPlan plan = round.plan_task(make_task(4, manifest));
  EXPECT_EQ(plan.round, 4u);
  EXPECT_EQ(plan.nonce, "nonce-4");
  EXPECT_EQ(plan.local_steps, 3);
  EXPECT_EQ(plan.trainer.batch_size, 64);
  receive_global(round, plan.scope, 0.01f);
  const auto global = copies(round.global_destinations());

  int64_t steps_seen = 0;
  TrainHooks hooks;
  hooks.on_step = [&](const gan::StepStats&, int64_t total) {
    ++steps_seen;
    EXPECT_EQ(total, 3);
  };
  const RoundReport report = round.train(plan, hooks);
  EXPECT_TRUE(report.completed);
  EXPECT_EQ(report.steps, 3);
  EXPECT_EQ(steps_seen, 3);
  EXPECT_GT(report.samples_per_second, 0);
  EXPECT_TRUE(std::isfinite(report.generator_loss) && std::isfinite(report.discriminator_loss));

  const auto local = gan::federated_tensors(round.model(), plan.scope);
  const auto delta = round.delta_views();
  ASSERT_EQ(delta.size(), local.size());
  bool any_change = false;
  for (size_t i = 0; i < delta.size(); ++i) {
    EXPECT_EQ(delta[i].spec.name(), local[i].name);
    EXPECT_EQ(delta[i].spec.name(), manifest.tensors(static_cast<int>(i)).name());
    const auto values = torch::from_blob(const_cast<void*>(delta[i].data), local[i].tensor.sizes(),
                                         torch::kFloat32);
    const auto expected = local[i].tensor.detach().to(torch::kCPU) - global[i];
    EXPECT_TRUE(torch::equal(values, expected)) << local[i].name;
    any_change |= values.abs().max().item<float>() > 0;
  }
  EXPECT_TRUE(any_change);
}

TEST_F(LocalRoundTest, AOneNetworkTaskLeavesTheOtherNetworksWeightDeltasAtZero) {
  LocalRound round(options_, data_, "site-1");
  const auto manifest =
      round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
  for (const auto& [wire_networks, networks, frozen_prefix] :
       {std::tuple{wire::TRAINED_NETWORKS_DISCRIMINATOR, std::string("discriminator"),
                   std::string(gan::kGeneratorPrefix)},
        std::tuple{wire::TRAINED_NETWORKS_GENERATOR, std::string("generator"),
                   std::string(gan::kDiscriminatorPrefix)}}) {
    const TaskPlan plan = round.plan_task(
        make_task(2, manifest, [n = wire_networks](auto& h) { h.set_networks(n); }));
    EXPECT_EQ(gan::trained_networks_name(plan.networks), networks);
    receive_global(round, plan.scope, 0.0f);
    const RoundReport report = round.train(plan, {});
    ASSERT_TRUE(report.completed) << networks;
    EXPECT_GT(report.generator_loss, 0) << networks;
    EXPECT_GT(report.discriminator_loss, 0) << networks;
    // BatchNorm running statistics change whichever network trains; weights only with theirs.
    double frozen = 0, trained = 0;
    for (const auto& view : round.delta_views()) {
      const std::string& name = view.spec.name();
      if (name.find(".running_") != std::string::npos) continue;
      const std::vector<int64_t> shape(view.spec.shape().begin(), view.spec.shape().end());
      const double size = torch::from_blob(const_cast<void*>(view.data), shape, torch::kFloat32)
                              .abs()
                              .sum()
                              .item<double>();
      (name.rfind(frozen_prefix, 0) == 0 ? frozen : trained) += size;
    }
    EXPECT_EQ(frozen, 0.0) << networks;
    EXPECT_GT(trained, 0.0) << networks;
  }
}

TEST_F(LocalRoundTest, SitesWithOneSeedDrawTheirOwnLatentsAndBatches) {
  // Same options, data and global model: only the identity differs.
  const auto delta_of = [&](const std::string& identity) {
    options_.state.dir = dir_ / identity;
    return delta_of_a_round(identity);
  };
  const auto equal = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!torch::equal(a[i], b[i])) return false;
    }
    return true;
  };
  const auto first = delta_of("site-1");
  EXPECT_TRUE(equal(first, delta_of("site-1")));
  EXPECT_FALSE(equal(first, delta_of("site-2")));
}

// An attacking site trains honestly and uploads what its attack makes of the delta: with the same
// seed, data and global model, the sign-flipping site's delta is the honest site's, negated.
TEST_F(LocalRoundTest, AnAttackChangesTheUploadedDeltaNotTheTraining) {
  const auto delta_of = [&](AttackKind kind) {
    options_.state.dir = dir_ / config::enum_name(kind);
    options_.attack.kind = kind;
    return delta_of_a_round("site-1");
  };
  const auto honest = delta_of(AttackKind::kNone);
  const auto flipped = delta_of(AttackKind::kSignFlip);
  ASSERT_EQ(honest.size(), flipped.size());
  double trained = 0;
  for (size_t i = 0; i < honest.size(); ++i) {
    EXPECT_TRUE(torch::equal(flipped[i], honest[i].neg())) << i;
    trained += honest[i].abs().sum().item<double>();
  }
  EXPECT_GT(trained, 0.0);
}

TEST_F(LocalRoundTest, PrivateDiscriminatorSurvivesARestart) {
  std::vector<gan::NamedTensor> saved;
  {
    LocalRound round(options_, data_, "site-1");
    const auto manifest = round.manifest(FederationScope::kGeneratorOnly, wire::CODEC_FP16);
    EXPECT_EQ(manifest.tensors(0).name().rfind("generator.", 0), 0u);
    for (const auto& spec : manifest.tensors()) {
      EXPECT_EQ(spec.name().rfind("discriminator.", 0), std::string::npos) << spec.name();
    }
    const TaskPlan plan = round.plan_task(make_task(1, manifest, generator_only_task));
    EXPECT_EQ(plan.scope, FederationScope::kGeneratorOnly);
    EXPECT_EQ(plan.codec, wire::CODEC_FP16);
    receive_global(round, plan.scope, 0.0f);
    ASSERT_TRUE(round.train(plan).completed);
    // Saving is the caller's step (after its upload): nothing is on disk before it.
    EXPECT_FALSE(std::filesystem::exists(options_.state.dir / "local_state_mlp.pt"));
    round.save_state();
    for (const auto& entry : gan::local_tensors(round.model(), FederationScope::kGeneratorOnly)) {
      saved.push_back({entry.name, entry.tensor.detach().to(torch::kCPU).clone()});
    }
  }
  ASSERT_TRUE(std::filesystem::exists(options_.state.dir / "local_state_mlp.pt"));
  // Owner-only: the model is derived from the site's private data.
  EXPECT_EQ(std::filesystem::status(options_.state.dir / "local_state_mlp.pt").permissions() &
                std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  LocalRound restarted(options_, data_, "site-1");
  EXPECT_TRUE(restarted.state_loaded());
  const auto state = gan::local_tensors(restarted.model(), FederationScope::kGeneratorOnly);
  ASSERT_EQ(state.size(), saved.size());
  bool discriminator_checked = false;
  for (size_t i = 0; i < state.size(); ++i) {
    EXPECT_EQ(state[i].name, saved[i].name);
    EXPECT_TRUE(torch::equal(state[i].tensor.to(torch::kCPU), saved[i].tensor)) << saved[i].name;
    discriminator_checked |= saved[i].name.rfind("discriminator.", 0) == 0;
  }
  EXPECT_TRUE(discriminator_checked);

  // A fresh site (no state) starts from other private weights: the restart did load something.
  options_.state.dir = dir_ / "other-state";
  LocalRound fresh(options_, data_, "site-1");
  const auto fresh_state = gan::local_tensors(fresh.model(), FederationScope::kGeneratorOnly);
  bool differs = false;
  for (size_t i = 0; i < fresh_state.size(); ++i) {
    if (saved[i].tensor.is_floating_point()) {
      differs |= !torch::equal(fresh_state[i].tensor.to(torch::kCPU), saved[i].tensor);
    }
  }
  EXPECT_TRUE(differs);
}

TEST_F(LocalRoundTest, TheStateFileHoldsOnlyWhatTheTaskDidNotFederate) {
  LocalRound round(options_, data_, "site-1");
  const auto manifest =
      round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
  const TaskPlan plan = round.plan_task(make_task(1, manifest));
  receive_global(round, plan.scope, 0.0f);
  ASSERT_TRUE(round.train(plan).completed);
  round.save_state();
  std::ifstream in(round.state_path(), std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  std::vector<std::string> names;
  for (const auto& entry : torch::pickle_load(bytes).toGenericDict()) {
    names.push_back(entry.key().toStringRef());
    EXPECT_EQ(entry.value().toTensor().scalar_type(), torch::kInt64) << names.back();
  }
  // The step counters of the generator's four BatchNorm layers: everything else comes with the
  // next task.
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "generator.net.1.num_batches_tracked", "generator.net.4.num_batches_tracked",
                "generator.net.7.num_batches_tracked", "generator.net.10.num_batches_tracked"}));
}

TEST_F(LocalRoundTest, ADivergedRoundRestoresTheSavedLocalTensorsAndTheGlobalValues) {
  LocalRound round(options_, data_, "site-1");
  const auto manifest = round.manifest(FederationScope::kGeneratorOnly, wire::CODEC_FP32);
  TaskPlan plan = round.plan_task(make_task(1, manifest, generator_only_task));
  receive_global(round, plan.scope, 0.0f);
  ASSERT_TRUE(round.train(plan).completed);
  round.save_state();
  std::vector<torch::Tensor> saved;
  for (const auto& entry : gan::local_tensors(round.model(), plan.scope)) {
    saved.push_back(entry.tensor.detach().to(torch::kCPU).clone());
  }

  plan = round.plan_task(make_task(2, manifest, generator_only_task));
  // A generator whose weights overflow in its first forward pass: the losses are not finite.
  receive_global(round, plan.scope, 1e38f);
  const auto global = copies(round.global_destinations());
  const RoundReport report = round.train(plan);
  EXPECT_TRUE(report.diverged);
  EXPECT_FALSE(report.completed);
  EXPECT_THROW(round.delta_views(), ClientError);
  const auto local = gan::local_tensors(round.model(), plan.scope);
  ASSERT_EQ(local.size(), saved.size());
  for (size_t i = 0; i < local.size(); ++i) {
    EXPECT_TRUE(torch::equal(local[i].tensor.to(torch::kCPU), saved[i])) << local[i].name;
  }
  const auto federated = gan::federated_tensors(round.model(), plan.scope);
  ASSERT_EQ(federated.size(), global.size());
  for (size_t i = 0; i < federated.size(); ++i) {
    EXPECT_TRUE(torch::equal(federated[i].tensor.to(torch::kCPU), global[i])) << federated[i].name;
  }
}

TEST_F(LocalRoundTest, RefusesTasksBeyondItsLimits) {
  options_.limits.max_local_steps = 100;
  options_.limits.max_batch_size = 128;
  options_.limits.max_learning_rate = 1e-3;
  LocalRound round(options_, data_, "site-1");
  const auto manifest =
      round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
  const auto refused = [&](const testing::HyperparameterChange& change) {
    return refusal(round, make_task(1, manifest, change));
  };
  EXPECT_EQ(refused({}), "");
  EXPECT_EQ(refused([](auto& h) { h.set_local_steps(100); }), "");
  EXPECT_NE(refused([](auto& h) {
              h.set_local_steps(101);
            }).find("local_steps is 101, beyond this site's limits.max_local_steps = 100"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.set_batch_size(256); }).find("limits.max_batch_size = 128"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.set_n_critic(11); }).find("limits.max_n_critic = 10"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.set_lr_generator(0.01); }).find("limits.max_learning_rate"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) {
              h.set_lr_discriminator(std::nan(""));
            }).find("lr_discriminator is nan, not a finite number"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.set_beta2(1); }).find("beta2 is 1"), std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.set_local_steps(0); }).find("at least 1"), std::string::npos);
  // An enum value of a newer protocol, as a newer coordinator's bytes would carry it.
  EXPECT_NE(refused([](auto& h) {
              with_varint(h, 11, 9);
            }).find("hyperparameter loss is 9, a value this client does not know"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { with_varint(h, 6, 7); }).find("optimizer is 7"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.clear_optimizer(); }).find("no hyperparameter 'optimizer'"),
            std::string::npos);
  EXPECT_EQ(
      round.plan_task(make_task(1, manifest, [](auto& h) { h.set_optimizer(wire::OPTIMIZER_SGD); }))
          .trainer.optimizer,
      gan::OptimizerKind::kSgd);
  EXPECT_NE(refused([](auto& h) { with_varint(h, 2, 4); }).find("networks is 4"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.clear_networks(); }).find("no hyperparameter 'networks'"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.clear_federate(); }).find("no hyperparameter 'federate'"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.clear_loss(); }).find("no hyperparameter 'loss'"),
            std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.set_architecture("dcgan"); }).find("this site trains mlp"),
            std::string::npos);
  EXPECT_NE(
      refused([](auto& h) { h.clear_architecture(); }).find("no hyperparameter 'architecture'"),
      std::string::npos);
  EXPECT_NE(refused([](auto& h) { h.clear_n_critic(); }).find("n_critic is 0"), std::string::npos);
  // A field this client does not know (a newer coordinator's "augment", say) is refused rather
  // than ignored.
  EXPECT_NE(refused([](auto& h) {
              with_varint(h, 99, 1);
            }).find("hyperparameter field 99, which this client does not know"),
            std::string::npos);
  auto untyped = make_task(1, manifest);
  untyped.clear_training();  // what a coordinator of protocol 1.2 sends
  EXPECT_NE(refusal(round, untyped).find("carries no hyperparameters"), std::string::npos);

  // The batch must fit the site's 512 samples.
  options_.limits.max_batch_size = 1024;
  LocalRound roomy(options_, data_, "site-1");
  EXPECT_NE(refusal(roomy, make_task(1, manifest, [](auto& h) { h.set_batch_size(513); }))
                .find("holds only 512 samples"),
            std::string::npos);

  // The model may not be larger than the site accepts.
  options_.limits.max_model_bytes = 1000;
  LocalRound small(options_, data_, "site-1");
  EXPECT_NE(refusal(small, make_task(1, manifest)).find("limits.max_model_bytes = 1000"),
            std::string::npos);
}

TEST_F(LocalRoundTest, RefusesAModelThatIsNotItsOwn) {
  LocalRound round(options_, data_, "site-1");
  const auto manifest =
      round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
  auto wrong_shape = manifest;
  wrong_shape.mutable_tensors(0)->set_shape(0, 3);
  const auto message = refusal(round, make_task(1, wrong_shape));
  EXPECT_NE(message.find("does not match this site's mlp model"), std::string::npos) << message;
  EXPECT_NE(message.find("MANIFEST"), std::string::npos) << message;

  auto missing = manifest;
  missing.mutable_tensors()->RemoveLast();
  EXPECT_NE(refusal(round, make_task(1, missing)).find("STATUS_MANIFEST"), std::string::npos);

  // The generator-only manifest does not describe a task that federates both networks.
  const auto generator_only = round.manifest(FederationScope::kGeneratorOnly, wire::CODEC_FP32);
  EXPECT_NE(refusal(round, make_task(1, generator_only)).find("does not match"), std::string::npos);

  auto no_model = make_task(1, manifest);
  no_model.set_model_follows(false);
  EXPECT_NE(refusal(round, no_model).find("does not send the model"), std::string::npos);
}

// Two rounds on three identical sites that receive the same global models: the first round is
// the same everywhere; in the second the sites that kept their Adam moments agree with each other
// and differ from the site that started with fresh optimizers.
TEST_F(LocalRoundTest, OptimizerStateCarriesOverToTheNextRoundUnlessReset) {
  const auto site = [&](const std::string& name, const std::string& optimizer_state) {
    ClientOptions options = options_;
    options.state.dir = dir_ / name;
    options.training.optimizer_state = config::enum_value<OptimizerState>(optimizer_state).value();
    return std::make_unique<LocalRound>(options, data_, "site-1");
  };
  std::vector<std::unique_ptr<LocalRound>> sites;
  sites.push_back(site("keep-a", "keep"));
  sites.push_back(site("keep-b", "keep"));
  sites.push_back(site("reset", "reset"));
  const auto scope = FederationScope::kGeneratorAndDiscriminator;
  const auto manifest = sites[0]->manifest(scope, wire::CODEC_FP32);

  std::vector<std::vector<std::vector<torch::Tensor>>> deltas(sites.size());
  std::vector<torch::Tensor> global;
  for (const auto& entry : gan::federated_tensors(sites[0]->model(), scope)) {
    global.push_back(entry.tensor.detach().to(torch::kCPU).clone());
  }
  for (uint64_t round = 1; round <= 2; ++round) {
    for (size_t s = 0; s < sites.size(); ++s) {
      const TaskPlan plan = sites[s]->plan_task(make_task(round, manifest));
      const auto destinations = sites[s]->global_destinations();
      for (size_t i = 0; i < global.size(); ++i) {
        std::memcpy(destinations[i].data, global[i].data_ptr(), global[i].nbytes());
      }
      ASSERT_TRUE(sites[s]->train(plan).completed);
      std::vector<torch::Tensor> delta;
      for (const auto& view : sites[s]->delta_views()) {
        std::vector<int64_t> shape(view.spec.shape().begin(), view.spec.shape().end());
        delta.push_back(
            torch::from_blob(const_cast<void*>(view.data), shape, torch::kFloat32).clone());
      }
      deltas[s].push_back(std::move(delta));
    }
    for (size_t i = 0; i < global.size(); ++i) global[i] += deltas[0].back()[i];
  }
  const auto all_equal = [](const std::vector<torch::Tensor>& a,
                            const std::vector<torch::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i) {
      if (!torch::equal(a[i], b[i])) return false;
    }
    return true;
  };
  EXPECT_TRUE(all_equal(deltas[0][0], deltas[1][0]));
  EXPECT_TRUE(all_equal(deltas[0][0], deltas[2][0]));
  EXPECT_TRUE(all_equal(deltas[0][1], deltas[1][1]));
  EXPECT_FALSE(all_equal(deltas[0][1], deltas[2][1]));
}

TEST_F(LocalRoundTest, AnInterruptedRoundHasNoDelta) {
  LocalRound round(options_, data_, "site-1");
  const auto manifest =
      round.manifest(FederationScope::kGeneratorAndDiscriminator, wire::CODEC_FP32);
  const TaskPlan plan =
      round.plan_task(make_task(1, manifest, [](auto& h) { h.set_local_steps(10); }));
  receive_global(round, plan.scope, 0.0f);
  int asked = 0;
  TrainHooks hooks;
  hooks.interrupted = [&] { return ++asked > 2; };
  const RoundReport report = round.train(plan, hooks);
  EXPECT_FALSE(report.completed);
  EXPECT_FALSE(report.diverged);
  EXPECT_EQ(report.steps, 2);
  EXPECT_THROW(round.delta_views(), ClientError);
}

// fedgan-simulate runs a site's round a few steps at a time; a site interrupted after k steps keeps
// what those steps did (Adam moments, batch order) into its next round. Both must compute what
// fedgan-client's one train() call computes: bit for bit.
TEST_F(LocalRoundTest, ARoundRunInPartsComputesWhatOneTrainCallComputes) {
  const auto site = [&](const std::string& name) {
    ClientOptions options = options_;
    options.state.dir = dir_ / name;
    return std::make_unique<LocalRound>(options, data_, "site-1");
  };
  const auto scope = FederationScope::kGeneratorAndDiscriminator;
  const auto five_steps = [](auto& h) { h.set_local_steps(5); };
  auto whole = site("whole");
  auto parts = site("parts");
  const auto manifest = whole->manifest(scope, wire::CODEC_FP32);
  const auto delta_of = [](LocalRound& round) {
    std::vector<torch::Tensor> delta;
    for (const auto& view : round.delta_views()) {
      std::vector<int64_t> shape(view.spec.shape().begin(), view.spec.shape().end());
      delta.push_back(
          torch::from_blob(const_cast<void*>(view.data), shape, torch::kFloat32).clone());
    }
    return delta;
  };

  // Round 1 is interrupted after 2 of its 5 steps: by the hook in one train() call, and by simply
  // not running the rest in parts.
  TaskPlan plan = whole->plan_task(make_task(1, manifest, five_steps));
  receive_global(*whole, scope, 0.01f);
  int asked = 0;
  TrainHooks stop_after_two;
  stop_after_two.interrupted = [&] { return ++asked > 2; };
  EXPECT_EQ(whole->train(plan, stop_after_two).steps, 2);
  plan = parts->plan_task(make_task(1, manifest, five_steps));
  receive_global(*parts, scope, 0.01f);
  parts->begin_training(plan);
  EXPECT_EQ(parts->train_steps(1), 1);
  EXPECT_EQ(parts->train_steps(1), 1);
  EXPECT_EQ(parts->steps_done(), 2);
  const RoundReport cut = parts->finish_training();
  EXPECT_FALSE(cut.completed);
  EXPECT_EQ(cut.steps, 2);

  // Round 2 runs to the end: in one call, and in parts of 2, 0, 2 and 7 (capped at the 1 left).
  plan = whole->plan_task(make_task(2, manifest, five_steps));
  receive_global(*whole, scope, 0.02f);
  ASSERT_TRUE(whole->train(plan).completed);
  plan = parts->plan_task(make_task(2, manifest, five_steps));
  receive_global(*parts, scope, 0.02f);
  parts->begin_training(plan);
  EXPECT_EQ(parts->train_steps(2), 2);
  EXPECT_EQ(parts->train_steps(0), 0);
  EXPECT_EQ(parts->train_steps(2), 2);
  EXPECT_EQ(parts->train_steps(7), 1);
  const RoundReport report = parts->finish_training();
  ASSERT_TRUE(report.completed);
  EXPECT_EQ(report.steps, 5);
  const auto expected = delta_of(*whole);
  const auto actual = delta_of(*parts);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_TRUE(torch::equal(actual[i], expected[i])) << i;
  EXPECT_THROW(parts->train_steps(1), ClientError) << "no round has begun";
}

TEST_F(LocalRoundTest, ArchitectureMustFitTheData) {
  options_.model.architecture = Architecture::kDcgan;
  try {
    LocalRound round(options_, data_, "site-1");
    FAIL() << "expected a ClientError";
  } catch (const ClientError& error) {
    EXPECT_NE(std::string(error.what()).find("dcgan architecture trains on 28x28 grayscale"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(LocalRoundTest, RefusesAStateFileOfAnotherModel) {
  {
    LocalRound round(options_, data_, "site-1");
    save_named_tensors(gan::full_state(round.model()), round.state_path());
  }
  // Three columns make an mlp with data_dim 3: the saved 2-D model does not fit it.
  LoadedData wide = data_;
  wide.rows = torch::cat({data_.rows, data_.rows.narrow(1, 0, 1)}, 1);
  try {
    LocalRound round(options_, wide, "site-1");
    FAIL() << "expected a ClientError";
  } catch (const ClientError& error) {
    EXPECT_NE(std::string(error.what()).find("does not fit this site's model"), std::string::npos)
        << error.what();
  }
  std::ofstream(options_.state.dir / "local_state_mlp.pt") << "not a pickle";
  EXPECT_THROW(LocalRound(options_, data_, "site-1"), ClientError);
}

}  // namespace
}  // namespace fedgan::client
