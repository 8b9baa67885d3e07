#include "gan/federated_state.h"

#include "gan/error.h"
#include "gan/models/model_factory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace fedgan::gan {
namespace {

class FederatedState : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

std::vector<std::string> names_of(const std::vector<NamedTensor>& tensors) {
  std::vector<std::string> names;
  for (const auto& entry : tensors) names.push_back(entry.name);
  return names;
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// The message of the GanError `fn` throws ("" and a test failure when it throws none).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const GanError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a GanError";
  return "";
}

// Clones of every tensor of the model's full state, detached (what a checkpoint holds).
std::vector<NamedTensor> cloned_state(const GanModel& model) {
  auto state = full_state(model);
  for (auto& entry : state) entry.tensor = entry.tensor.detach().clone();
  return state;
}

bool same_full_state(const GanModel& a, const GanModel& b) {
  const auto sa = full_state(a), sb = full_state(b);
  if (sa.size() != sb.size()) return false;
  for (size_t i = 0; i < sa.size(); ++i) {
    if (sa[i].name != sb[i].name || !torch::equal(sa[i].tensor, sb[i].tensor)) return false;
  }
  return true;
}

// One training-mode forward pass, so BatchNorm running statistics and counters leave their
// initial values.
void touch_running_stats(GanModel& model, int64_t batch) {
  torch::NoGradGuard no_grad;
  model.generator->train();
  model.discriminator->train();
  const auto samples =
      model.generator->forward(torch::randn({batch, model.generator->latent_dim()}));
  model.discriminator->forward(samples);
}

TEST_F(FederatedState, DcganBothListsGeneratorThenDiscriminatorParametersThenFloatBuffers) {
  const auto model = make_dcgan(DcganOptions{}, 1);
  const std::vector<std::string> expected = {"generator.project.weight",
                                             "generator.project.bias",
                                             "generator.project_norm.weight",
                                             "generator.project_norm.bias",
                                             "generator.up1.weight",
                                             "generator.up1.bias",
                                             "generator.up1_norm.weight",
                                             "generator.up1_norm.bias",
                                             "generator.up2.weight",
                                             "generator.up2.bias",
                                             "generator.project_norm.running_mean",
                                             "generator.project_norm.running_var",
                                             "generator.up1_norm.running_mean",
                                             "generator.up1_norm.running_var",
                                             "discriminator.down1.weight",
                                             "discriminator.down1.bias",
                                             "discriminator.down2.weight",
                                             "discriminator.down2.bias",
                                             "discriminator.down2_norm.weight",
                                             "discriminator.down2_norm.bias",
                                             "discriminator.classify.weight",
                                             "discriminator.classify.bias",
                                             "discriminator.down2_norm.running_mean",
                                             "discriminator.down2_norm.running_var"};
  const auto tensors = federated_tensors(model, FederationScope::kGeneratorAndDiscriminator);
  EXPECT_EQ(names_of(tensors), expected);
  int64_t parameters = 0;
  for (const auto& entry : tensors) {
    EXPECT_EQ(entry.tensor.scalar_type(), torch::kFloat32) << entry.name;
    if (entry.name.find("running_") == std::string::npos) parameters += entry.tensor.numel();
  }
  EXPECT_EQ(parameters, 966978);  // every trainable parameter of the reference DCGAN
}

TEST_F(FederatedState, GeneratorOnlyScopeIsThePrefixOfTheBothList) {
  for (const char* architecture : {"dcgan", "mlp"}) {
    ModelSpec spec;
    spec.architecture = architecture;
    const auto model = make_model(spec, 2);
    const auto both =
        names_of(federated_tensors(model, FederationScope::kGeneratorAndDiscriminator));
    const auto generator = names_of(federated_tensors(model, FederationScope::kGeneratorOnly));
    ASSERT_LT(generator.size(), both.size()) << architecture;
    EXPECT_EQ(generator, std::vector<std::string>(both.begin(), both.begin() + generator.size()));
    for (const auto& name : generator) EXPECT_TRUE(starts_with(name, kGeneratorPrefix)) << name;
    for (size_t i = generator.size(); i < both.size(); ++i) {
      EXPECT_TRUE(starts_with(both[i], kDiscriminatorPrefix)) << both[i];
    }
  }
}

TEST_F(FederatedState, MlpOrderFollowsRegistrationAndIncludesGeneratorBatchNormStatistics) {
  const auto model = make_mlp_gan(MlpGanOptions{}, 3);
  const auto names =
      names_of(federated_tensors(model, FederationScope::kGeneratorAndDiscriminator));
  std::vector<std::string> expected;
  for (const auto& item : model.generator->named_parameters()) {
    expected.push_back("generator." + item.key());
  }
  for (const auto& item : model.generator->named_buffers()) {
    if (item.value().is_floating_point()) expected.push_back("generator." + item.key());
  }
  for (const auto& item : model.discriminator->named_parameters()) {
    expected.push_back("discriminator." + item.key());
  }
  EXPECT_EQ(names, expected);
  EXPECT_EQ(names.front(), "generator.net.0.weight");
  EXPECT_EQ(names.back(), "discriminator.output.bias");
  int running = 0;
  for (const auto& name : names) running += name.find(".running_") != std::string::npos;
  EXPECT_EQ(running, 2 * 4);  // mean and variance of the generator's four BatchNorm layers
}

TEST_F(FederatedState, IntegerBuffersNeverTravelButAreInTheFullState) {
  const auto model = make_dcgan(DcganOptions{}, 4);
  for (const auto& entry : federated_tensors(model, FederationScope::kGeneratorAndDiscriminator)) {
    EXPECT_EQ(entry.name.find("num_batches_tracked"), std::string::npos) << entry.name;
  }
  const auto state = full_state(model);
  int counters = 0;
  for (const auto& entry : state) {
    if (entry.name.find("num_batches_tracked") == std::string::npos) continue;
    ++counters;
    EXPECT_EQ(entry.tensor.scalar_type(), torch::kInt64);
  }
  EXPECT_EQ(counters, 3);  // project_norm, up1_norm, down2_norm
  EXPECT_EQ(state.front().name, "generator.project.weight");
  EXPECT_EQ(state.back().name, "discriminator.down2_norm.num_batches_tracked");
}

TEST_F(FederatedState, TensorsAliasTheModelsMemory) {
  auto model = make_dcgan(DcganOptions{}, 5);
  const auto tensors = federated_tensors(model, FederationScope::kGeneratorAndDiscriminator);
  {
    torch::NoGradGuard no_grad;
    tensors.front().tensor.fill_(0.25f);
    tensors.back().tensor.fill_(3.0f);
  }
  const auto weight = model.generator->named_parameters()["project.weight"];
  EXPECT_EQ(weight.data_ptr(), tensors.front().tensor.data_ptr());
  EXPECT_TRUE(torch::all(weight == 0.25f).item<bool>());
  EXPECT_TRUE(torch::all(model.discriminator->named_buffers()["down2_norm.running_var"] == 3.0f)
                  .item<bool>());
}

TEST_F(FederatedState, FullStateRoundTripsThroughLoadFullState) {
  for (const char* architecture : {"dcgan", "mlp"}) {
    ModelSpec spec;
    spec.architecture = architecture;
    auto source = make_model(spec, 6);
    touch_running_stats(source, 8);
    auto target = make_model(spec, 7);
    ASSERT_FALSE(same_full_state(source, target));
    const auto weight_ptr = full_state(target).front().tensor.data_ptr();
    load_full_state(target, cloned_state(source));
    EXPECT_TRUE(same_full_state(source, target)) << architecture;
    // Copied in place: views taken before the load still see the model.
    EXPECT_EQ(full_state(target).front().tensor.data_ptr(), weight_ptr);
    EXPECT_TRUE(full_state(target).front().tensor.requires_grad());
  }
}

TEST_F(FederatedState, LoadsFromAnOrderedDictInAnyOrder) {
  auto source = make_mlp_gan(MlpGanOptions{}, 8);
  touch_running_stats(source, 16);
  auto target = make_mlp_gan(MlpGanOptions{}, 9);
  const auto state = cloned_state(source);
  torch::OrderedDict<std::string, torch::Tensor> dict;
  for (auto it = state.rbegin(); it != state.rend(); ++it) dict.insert(it->name, it->tensor);
  load_full_state(target, dict);
  EXPECT_TRUE(same_full_state(source, target));
}

TEST_F(FederatedState, MismatchedStatesAreRefusedNamingTheTensorAndLeaveTheModelUnchanged) {
  auto model = make_dcgan(DcganOptions{}, 10);
  const auto before = cloned_state(model);
  const auto good = cloned_state(make_dcgan(DcganOptions{}, 11));
  auto find = [](std::vector<NamedTensor>& state, const std::string& name) -> torch::Tensor& {
    for (auto& entry : state) {
      if (entry.name == name) return entry.tensor;
    }
    throw std::logic_error("no tensor " + name);
  };

  auto missing = good;
  missing.erase(missing.begin() + 3);
  EXPECT_NE(error_of([&] { load_full_state(model, missing); }).find("'" + good[3].name + "'"),
            std::string::npos);

  auto extra = good;
  extra.push_back({"generator.bogus", torch::zeros({2})});
  EXPECT_NE(error_of([&] { load_full_state(model, extra); }).find("'generator.bogus'"),
            std::string::npos);

  auto duplicated = good;
  duplicated.push_back(good[0]);
  EXPECT_NE(error_of([&] { load_full_state(model, duplicated); }).find("twice"), std::string::npos);

  auto shape = good;
  find(shape, "generator.up1.weight") = torch::zeros({3, 3});
  const auto shape_message = error_of([&] { load_full_state(model, shape); });
  EXPECT_NE(shape_message.find("'generator.up1.weight'"), std::string::npos) << shape_message;
  EXPECT_NE(shape_message.find("[3, 3]"), std::string::npos) << shape_message;

  auto dtype = good;
  auto& counter = find(dtype, "generator.project_norm.num_batches_tracked");
  counter = counter.to(torch::kFloat32);
  EXPECT_NE(error_of([&] {
              load_full_state(model, dtype);
            }).find("'generator.project_norm.num_batches_tracked'"),
            std::string::npos);

  auto non_finite = good;
  auto& bias = find(non_finite, "discriminator.classify.bias");
  bias = bias.clone();
  bias[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(
      error_of([&] { load_full_state(model, non_finite); }).find("'discriminator.classify.bias'"),
      std::string::npos);

  // Every state was checked in full before any copy: the model is as it was.
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_TRUE(torch::equal(full_state(model)[i].tensor, before[i].tensor)) << before[i].name;
  }
}

TEST_F(FederatedState, LocalTensorsAreTheFullStateLessTheFederatedOnes) {
  const auto model = make_dcgan(DcganOptions{}, 13);
  // Both networks federated: only the three integer step counters stay at the site.
  EXPECT_EQ(names_of(local_tensors(model, FederationScope::kGeneratorAndDiscriminator)),
            (std::vector<std::string>{"generator.project_norm.num_batches_tracked",
                                      "generator.up1_norm.num_batches_tracked",
                                      "discriminator.down2_norm.num_batches_tracked"}));
  // Generator only: the whole discriminator too, in full_state order.
  const auto local = local_tensors(model, FederationScope::kGeneratorOnly);
  const auto federated = federated_tensors(model, FederationScope::kGeneratorOnly);
  EXPECT_EQ(local.size() + federated.size(), full_state(model).size());
  std::vector<std::string> discriminator;
  for (const auto& entry : full_state(model)) {
    if (starts_with(entry.name, kDiscriminatorPrefix)) discriminator.push_back(entry.name);
  }
  auto expected = std::vector<std::string>{"generator.project_norm.num_batches_tracked",
                                           "generator.up1_norm.num_batches_tracked"};
  expected.insert(expected.end(), discriminator.begin(), discriminator.end());
  EXPECT_EQ(names_of(local), expected);
  EXPECT_EQ(local.back().tensor.data_ptr(), full_state(model).back().tensor.data_ptr());
}

TEST_F(FederatedState, PartialStateLoadsOnlyItsTensors) {
  auto source = make_dcgan(DcganOptions{}, 14);
  touch_running_stats(source, 8);
  auto target = make_dcgan(DcganOptions{}, 15);
  const auto target_before = cloned_state(target);
  std::vector<NamedTensor> local = local_tensors(source, FederationScope::kGeneratorOnly);
  for (auto& entry : local) entry.tensor = entry.tensor.detach().clone();
  load_partial_state(target, local);
  const auto source_state = full_state(source);
  const auto after = full_state(target);
  for (size_t i = 0; i < after.size(); ++i) {
    // The discriminator and the counters come from the source; the generator's weights stay.
    const bool loaded = starts_with(after[i].name, kDiscriminatorPrefix) ||
                        after[i].name.find("num_batches_tracked") != std::string::npos;
    const auto& expected = loaded ? source_state[i].tensor : target_before[i].tensor;
    EXPECT_TRUE(torch::equal(after[i].tensor, expected)) << after[i].name;
  }
  EXPECT_FALSE(torch::equal(source_state.front().tensor, after.front().tensor));

  // A name the model lacks or a mismatched shape is refused before anything is copied.
  auto unknown = local;
  unknown.push_back({"discriminator.bogus", torch::zeros({1})});
  const auto changed = cloned_state(target);
  EXPECT_NE(error_of([&] { load_partial_state(target, unknown); }).find("'discriminator.bogus'"),
            std::string::npos);
  auto reshaped = local;
  for (auto& entry : reshaped) {
    if (entry.tensor.is_floating_point()) entry.tensor = torch::zeros({5});
  }
  EXPECT_NE(error_of([&] { load_partial_state(target, reshaped); }).find("[5]"), std::string::npos);
  for (size_t i = 0; i < changed.size(); ++i) {
    EXPECT_TRUE(torch::equal(full_state(target)[i].tensor, changed[i].tensor)) << changed[i].name;
  }
}

TEST_F(FederatedState, RefusesFederatingNonFloat32Parameters) {
  auto model = make_mlp_gan(MlpGanOptions{}, 12);
  model.discriminator->to(torch::kFloat64);
  EXPECT_NO_THROW(federated_tensors(model, FederationScope::kGeneratorOnly));
  EXPECT_NE(error_of([&] {
              federated_tensors(model, FederationScope::kGeneratorAndDiscriminator);
            }).find("float32"),
            std::string::npos);
}

TEST(FederationScopeNames, ParseAndName) {
  EXPECT_EQ(parse_federation_scope("both"), FederationScope::kGeneratorAndDiscriminator);
  EXPECT_EQ(parse_federation_scope("generator"), FederationScope::kGeneratorOnly);
  EXPECT_EQ(federation_scope_name(FederationScope::kGeneratorOnly), "generator");
  EXPECT_EQ(federation_scope_name(FederationScope::kGeneratorAndDiscriminator), "both");
  EXPECT_THROW(parse_federation_scope("discriminator"), GanError);
  EXPECT_THROW(parse_federation_scope(""), GanError);
}

TEST(AllFinite, FindsANanOrInfinityAnywhereAndNeverOverflows) {
  const auto big = torch::full({1000}, std::numeric_limits<float>::max());
  EXPECT_TRUE(
      all_finite({torch::zeros({3}), big, torch::empty({0}), torch::ones({2}, torch::kLong)}));
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    auto tensor = torch::randn({7, 5});
    tensor[6][4] = bad;
    EXPECT_FALSE(all_finite({torch::zeros({3}), tensor})) << bad;
  }
}

}  // namespace
}  // namespace fedgan::gan
