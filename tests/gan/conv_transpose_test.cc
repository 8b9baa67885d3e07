#include "gan/models/conv_transpose.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

namespace fedgan::gan {
namespace {

struct Case {
  int64_t in, out, kernel, stride, padding, side;
};

// gtest and ctest name a case by its shape ("in192_out64_k4_s2_p1_side7"), not its bytes.
std::string name_of(const Case& c) {
  return "in" + std::to_string(c.in) + "_out" + std::to_string(c.out) + "_k" +
         std::to_string(c.kernel) + "_s" + std::to_string(c.stride) + "_p" +
         std::to_string(c.padding) + "_side" + std::to_string(c.side);
}

void PrintTo(const Case& c, std::ostream* os) {
  *os << name_of(c);
}

class ConvTransposeOneDnn : public ::testing::TestWithParam<Case> {};

TEST_P(ConvTransposeOneDnn, MatchesLibTorchValuesAndGradients) {
  const Case c = GetParam();
  ASSERT_TRUE(onednn_conv_transpose_available(torch::zeros({1}))) << "LibTorch without oneDNN";
  auto gen = at::make_generator<at::CPUGeneratorImpl>(c.in * 100 + c.out);
  const auto x0 = torch::randn({5, c.in, c.side, c.side}, gen);
  const auto w0 = torch::randn({c.in, c.out, c.kernel, c.kernel}, gen) * 0.1;
  const auto b0 = torch::randn({c.out}, gen);

  auto x1 = x0.clone().requires_grad_(), w1 = w0.clone().requires_grad_();
  auto b1 = b0.clone().requires_grad_();
  auto x2 = x0.clone().requires_grad_(), w2 = w0.clone().requires_grad_();
  auto b2 = b0.clone().requires_grad_();
  const auto expected = torch::conv_transpose2d(x1, w1, b1, c.stride, c.padding);
  const auto actual = conv_transpose2d_onednn(x2, w2, b2, c.stride, c.padding);
  ASSERT_EQ(actual.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-4, 1e-4));

  const auto upstream = torch::randn(expected.sizes(), gen);
  expected.backward(upstream);
  actual.backward(upstream);
  EXPECT_TRUE(torch::allclose(x2.grad(), x1.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(w2.grad(), w1.grad(), 1e-4, 1e-3));
  EXPECT_TRUE(torch::allclose(b2.grad(), b1.grad(), 1e-4, 1e-3));
}

INSTANTIATE_TEST_SUITE_P(DcganLayersAndOthers, ConvTransposeOneDnn,
                         ::testing::Values(Case{192, 64, 4, 2, 1, 7}, Case{64, 1, 4, 2, 1, 14},
                                           Case{3, 5, 3, 1, 0, 6}, Case{4, 2, 5, 3, 2, 4}),
                         [](const auto& info) { return name_of(info.param); });

TEST(ConvTransposeOneDnn, WorksWithoutBiasAndWithFrozenWeights) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto x = torch::randn({2, 4, 5, 5}, gen).requires_grad_();
  const auto w = torch::randn({4, 3, 4, 4}, gen);  // no gradient wanted
  const auto y = conv_transpose2d_onednn(x, w, torch::Tensor(), 2, 1);
  EXPECT_TRUE(torch::allclose(y, torch::conv_transpose2d(x, w, {}, 2, 1), 1e-4, 1e-4));
  y.sum().backward();
  EXPECT_TRUE(x.grad().defined());
}

}  // namespace
}  // namespace fedgan::gan
