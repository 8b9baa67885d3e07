#include "gan/augment.h"
#include "gan/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace fedgan::gan {
namespace {

// Zero-filled shift of one C x H x W image by (dy, dx): out[y][x] = in[y + dy][x + dx].
torch::Tensor shifted(const torch::Tensor& image, int64_t dy, int64_t dx) {
  const int64_t h = image.size(1), w = image.size(2);
  auto out = torch::zeros_like(image);
  for (int64_t y = 0; y < h; ++y) {
    for (int64_t x = 0; x < w; ++x) {
      if (y + dy >= 0 && y + dy < h && x + dx >= 0 && x + dx < w) {
        out.select(1, y).select(1, x).copy_(image.select(1, y + dy).select(1, x + dx));
      }
    }
  }
  return out;
}

TEST(DiffAugment, DisabledAugmentationIsTheIdentity) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto x = torch::randn({3, 1, 8, 8});
  EXPECT_TRUE(torch::equal(diff_augment(x, {false, 0.0}, gen), x));
}

TEST(DiffAugment, FlipEitherKeepsOrMirrorsEachImageAndDoesBothInABatch) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  const auto x = torch::randn({64, 1, 6, 6});
  const auto y = diff_augment(x, {true, 0.0}, gen);
  int mirrored = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const bool same = torch::equal(y[i], x[i]);
    const bool flipped = torch::equal(y[i], x[i].flip({2}));
    EXPECT_TRUE(same || flipped);
    mirrored += flipped;
  }
  EXPECT_GT(mirrored, 10);
  EXPECT_LT(mirrored, 54);
}

TEST(DiffAugment, TranslationShiftsEachImageWithinBoundWithZeroFill) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto x = torch::rand({16, 2, 8, 8}) + 1.0;     // strictly positive: zero fill is visible
  const auto y = diff_augment(x, {false, 0.25}, gen);  // up to 2 pixels
  int moved = 0;
  for (int64_t i = 0; i < 16; ++i) {
    bool found = false;
    for (int64_t dy = -2; dy <= 2 && !found; ++dy) {
      for (int64_t dx = -2; dx <= 2 && !found; ++dx) {
        if (torch::equal(y[i], shifted(x[i], dy, dx))) {
          found = true;
          moved += (dy != 0 || dx != 0);
        }
      }
    }
    EXPECT_TRUE(found) << "image " << i << " is no zero-filled shift of its input";
  }
  EXPECT_GT(moved, 8);
}

TEST(DiffAugment, GradientsFlowBackToTheImages) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const auto x = torch::rand({4, 1, 8, 8}).requires_grad_(true);
  diff_augment(x, {true, 0.125}, gen).sum().backward();
  // Every output pixel comes from one input pixel or from zero fill: gradients are 0 or 1.
  const auto g = x.grad();
  EXPECT_TRUE(torch::logical_or(g == 0, g == 1).all().item<bool>());
  EXPECT_GT(g.sum().item<double>(), 4 * 64 / 2);
}

TEST(DiffAugment, IsDeterministicForAGeneratorSeed) {
  const auto x = torch::randn({8, 1, 8, 8});
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(9),
       g2 = at::make_generator<at::CPUGeneratorImpl>(9);
  EXPECT_TRUE(torch::equal(diff_augment(x, {}, g1), diff_augment(x, {}, g2)));
}

TEST(DiffAugment, RejectsNonImageBatches) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_THROW(diff_augment(torch::zeros({4, 2}), {}, gen), GanError);
}

}  // namespace
}  // namespace fedgan::gan
