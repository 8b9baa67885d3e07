#include "gan/error.h"
#include "gan/models/model_factory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace fedgan::gan {
namespace {

bool same_state(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  auto ba = a.named_buffers(), bb = b.named_buffers();
  if (pa.size() != pb.size() || ba.size() != bb.size()) return false;
  for (const auto& item : pa) {
    if (!torch::equal(item.value(), pb[item.key()])) return false;
  }
  for (const auto& item : ba) {
    if (!torch::equal(item.value(), bb[item.key()])) return false;
  }
  return true;
}

TEST(Dcgan, ReferenceArchitectureHas966978TrainableParameters) {
  const auto model = make_dcgan(DcganOptions{}, 0);
  // G: 64*9408+9408 (linear) + 2*9408 (bn1d) + 192*64*16+64 (convT) + 2*64 (bn2d) + 64*16+1
  EXPECT_EQ(count_parameters(*model.generator), 828161);
  // D: 16*64+64 + 64*128*16+128 + 2*128 + 6272+1
  EXPECT_EQ(count_parameters(*model.discriminator), 138817);
  EXPECT_EQ(count_parameters(*model.generator) + count_parameters(*model.discriminator), 966978);
}

TEST(Dcgan, MapsLatentsToImagesInTanhRangeAndImagesToOneLogitEach) {
  auto model = make_dcgan(DcganOptions{}, 3);
  const auto images = model.generator->forward(torch::randn({5, 64}));
  EXPECT_EQ(images.sizes(), torch::IntArrayRef({5, 1, 28, 28}));
  EXPECT_LE(images.abs().max().item<float>(), 1.0f);
  EXPECT_EQ(model.discriminator->forward(images).sizes(), torch::IntArrayRef({5}));
}

TEST(Dcgan, BatchNormRunningStatisticsArePartOfTheModelState) {
  const auto model = make_dcgan(DcganOptions{}, 0);
  const auto buffers = model.generator->named_buffers();
  EXPECT_TRUE(buffers.contains("project_norm.running_mean"));
  EXPECT_TRUE(buffers.contains("up1_norm.running_var"));
  EXPECT_TRUE(model.discriminator->named_buffers().contains("down2_norm.running_mean"));
}

TEST(Dcgan, InitialisationIsDcganStyleAndDeterministicBySeed) {
  auto a = make_dcgan(DcganOptions{}, 11), b = make_dcgan(DcganOptions{}, 11);
  auto c = make_dcgan(DcganOptions{}, 12);
  EXPECT_TRUE(same_state(*a.generator, *b.generator));
  EXPECT_TRUE(same_state(*a.discriminator, *b.discriminator));
  EXPECT_FALSE(same_state(*a.generator, *c.generator));
  const auto conv = a.generator->named_parameters()["up1.weight"];
  EXPECT_NEAR(conv.std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(conv.mean().item<double>(), 0.0, 0.001);
  EXPECT_TRUE(torch::equal(a.generator->named_parameters()["up1_norm.bias"], torch::zeros({64})));
}

TEST(Dcgan, RejectsImageSidesThatAreNotMultiplesOfFour) {
  DcganOptions options;
  options.image_size = 30;
  EXPECT_THROW(make_dcgan(options, 0), GanError);
}

TEST(MlpGan, ShapesAndMaxoutParameterCount) {
  MlpGanOptions options;  // PacGAN 2-D architecture
  auto model = make_mlp_gan(options, 0);
  EXPECT_EQ(model.generator->forward(torch::randn({7, 2})).sizes(), torch::IntArrayRef({7, 2}));
  EXPECT_EQ(model.discriminator->forward(torch::randn({7, 2})).sizes(), torch::IntArrayRef({7}));
  // Maxout layers hold width * pieces linear units: (2*1000+1000) + 2*(200*1000+1000) + 201.
  EXPECT_EQ(count_parameters(*model.discriminator), 3000 + 2 * 201000 + 201);
  options.maxout_pieces = 0;
  EXPECT_EQ(count_parameters(*make_mlp_gan(options, 0).discriminator), 600 + 2 * 40200 + 201);
}

TEST(MlpGan, PackedDiscriminatorJudgesConsecutiveSamplesJointly) {
  MlpGanOptions options;
  options.pack = 3;
  auto model = make_mlp_gan(options, 0);
  // The first layer reads 3 samples of 2 values: (6*1000+1000) inputs, the rest as unpacked.
  EXPECT_EQ(count_parameters(*model.discriminator), 7000 + 2 * 201000 + 201);
  const auto samples = torch::randn({6, 2});
  const auto logits = model.discriminator->forward(samples);
  ASSERT_EQ(logits.sizes(), torch::IntArrayRef({2}));
  // Pack i is samples 3i..3i+2: the second pack alone gives the second logit.
  const auto second = model.discriminator->forward(samples.narrow(0, 3, 3));
  EXPECT_TRUE(torch::allclose(second, logits.narrow(0, 1, 1)));
  // Changing a sample of the first pack changes only the first logit.
  auto changed = samples.clone();
  changed[2][0] += 1.0;
  const auto after = model.discriminator->forward(changed);
  EXPECT_FALSE(torch::allclose(after[0], logits[0]));
  EXPECT_TRUE(torch::equal(after[1], logits[1]));
  EXPECT_THROW(model.discriminator->forward(torch::randn({7, 2})), GanError);
  options.pack = 0;
  EXPECT_THROW(make_mlp_gan(options, 0), GanError);
}

TEST(ModelFactory, BuildsByNameAndRejectsUnknownArchitectures) {
  ModelSpec spec;
  spec.architecture = "mlp";
  EXPECT_EQ(make_model(spec, 0).architecture, "mlp");
  spec.architecture = "resnet";
  EXPECT_THROW(make_model(spec, 0), GanError);
}

}  // namespace
}  // namespace fedgan::gan
