#include "client/attack.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

namespace fedgan::client {
namespace {

// An honest delta of two tensors with exactly representable values.
std::vector<torch::Tensor> honest() {
  return {torch::tensor({0.5f, -1.0f, 2.0f}), torch::tensor({0.25f, -4.0f})};
}

AttackOptions attack(AttackKind kind) {
  AttackOptions options;
  options.kind = kind;
  return options;
}

TEST(Attack, EachKindUploadsWhatItSays) {
  auto delta = honest();
  apply_attack(attack(AttackKind::kNone), "site-1", 1, delta);
  EXPECT_TRUE(torch::equal(delta[0], honest()[0]));
  EXPECT_TRUE(describe(attack(AttackKind::kNone)).empty());

  apply_attack(attack(AttackKind::kSignFlip), "site-1", 1, delta);
  EXPECT_TRUE(torch::equal(delta[0], torch::tensor({-0.5f, 1.0f, -2.0f})));
  EXPECT_TRUE(torch::equal(delta[1], torch::tensor({-0.25f, 4.0f})));

  delta = honest();
  AttackOptions scale = attack(AttackKind::kScale);
  scale.scale = -3.0;
  apply_attack(scale, "site-1", 1, delta);
  EXPECT_TRUE(torch::equal(delta[0], torch::tensor({-1.5f, 3.0f, -6.0f})));
  EXPECT_NE(describe(scale).find("-3 * delta"), std::string::npos) << describe(scale);

  delta = honest();
  apply_attack(attack(AttackKind::kZero), "site-1", 1, delta);
  EXPECT_EQ(delta[0].abs().sum().item<float>() + delta[1].abs().sum().item<float>(), 0.0f);
}

TEST(Attack, NoiseIsGaussianOfTheGivenSpreadAndReproducible) {
  AttackOptions noise = attack(AttackKind::kNoise);
  noise.noise_std = 0.5;
  noise.seed = 7;
  const auto draw = [&](const std::string& identity, uint64_t round) {
    std::vector<torch::Tensor> delta = {torch::zeros({100000}), torch::zeros({10})};
    apply_attack(noise, identity, round, delta);
    return delta;
  };
  const auto a = draw("site-1", 3);
  EXPECT_TRUE(torch::equal(a[0], draw("site-1", 3)[0]));  // a rerun uploads the same vector
  EXPECT_FALSE(torch::equal(a[0], draw("site-1", 4)[0]));
  EXPECT_FALSE(torch::equal(a[0], draw("site-2", 3)[0]));
  EXPECT_NEAR(a[0].mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(a[0].std().item<double>(), 0.5, 0.01);
}

}  // namespace
}  // namespace fedgan::client
