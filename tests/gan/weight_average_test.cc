#include "gan/weight_average.h"
#include "gan/error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace fedgan::gan {
namespace {

// Linear(2 -> 1) then BatchNorm1d(1): parameters and both kinds of buffer.
struct TinyNet : torch::nn::Module {
  TinyNet() {
    linear = register_module("linear", torch::nn::Linear(2, 1));
    norm = register_module("norm", torch::nn::BatchNorm1d(1));
  }
  torch::nn::Linear linear{nullptr};
  torch::nn::BatchNorm1d norm{nullptr};
};

void set_linear(TinyNet& net, std::vector<float> weight, float bias) {
  torch::NoGradGuard no_grad;
  net.linear->weight.copy_(torch::tensor(weight).view({1, 2}));
  net.linear->bias.fill_(bias);
}

std::vector<float> linear_values(TinyNet& net) {
  auto w = net.linear->weight.view({-1});
  return {w[0].item<float>(), w[1].item<float>(), net.linear->bias[0].item<float>()};
}

TEST(WeightAverage, EachUpdateMovesTheAverageByOneMinusDecayTowardTheWeights) {
  TinyNet net;
  set_linear(net, {1, 2}, 3);
  WeightAverage average(net, 0.75);
  set_linear(net, {5, 6}, 7);
  average.update(net);
  // 0.75 * 1 + 0.25 * 5 = 2, 0.75 * 2 + 0.25 * 6 = 3, 0.75 * 3 + 0.25 * 7 = 4
  TinyNet out;
  average.copy_to(out);
  EXPECT_EQ(linear_values(out), (std::vector<float>{2, 3, 4}));
  set_linear(net, {9, 10}, 11);
  average.update(net);
  // 0.75 * 2 + 0.25 * 9 = 3.75, 0.75 * 3 + 0.25 * 10 = 4.75, 0.75 * 4 + 0.25 * 11 = 5.75
  average.copy_to(out);
  EXPECT_EQ(linear_values(out), (std::vector<float>{3.75f, 4.75f, 5.75f}));
  EXPECT_EQ(average.updates(), 2);
  EXPECT_EQ(linear_values(net), (std::vector<float>{9, 10, 11}));  // the module is not touched
}

TEST(WeightAverage, AveragesRunningStatisticsAndCopiesTheStepCount) {
  TinyNet net;
  WeightAverage average(net, 0.5);  // running_mean 0, running_var 1, num_batches_tracked 0
  {
    torch::NoGradGuard no_grad;
    net.norm->running_mean.fill_(4);
    net.norm->running_var.fill_(3);
    net.norm->num_batches_tracked.fill_(7);
  }
  average.update(net);
  TinyNet out;
  average.copy_to(out);
  EXPECT_EQ(out.norm->running_mean[0].item<float>(), 2.0f);
  EXPECT_EQ(out.norm->running_var[0].item<float>(), 2.0f);
  EXPECT_EQ(out.norm->num_batches_tracked.item<int64_t>(), 7);
}

TEST(WeightAverage, GuardSwapsTheAverageInAndRestoresTheWeights) {
  TinyNet net;
  set_linear(net, {1, 1}, 1);
  WeightAverage average(net, 0.5);
  set_linear(net, {3, 5}, 7);
  average.update(net);  // (2, 3, 4)
  {
    AveragedWeightsGuard averaged(net, average);
    EXPECT_EQ(linear_values(net), (std::vector<float>{2, 3, 4}));
    // The forward pass uses the average: 2 * 1 + 3 * 1 + 4 = 9 before BatchNorm's eval transform.
    EXPECT_FLOAT_EQ(net.linear->forward(torch::ones({1, 2}))[0][0].item<float>(), 9.0f);
  }
  EXPECT_EQ(linear_values(net), (std::vector<float>{3, 5, 7}));
}

TEST(WeightAverage, RefusesAnotherArchitectureAndBadDecay) {
  TinyNet net;
  WeightAverage average(net, 0.9);
  torch::nn::Linear other(3, 1);
  try {
    average.update(*other);
    FAIL() << "expected GanError";
  } catch (const GanError& e) {
    EXPECT_NE(std::string(e.what()).find("parameters and buffers"), std::string::npos) << e.what();
  }
  EXPECT_THROW(WeightAverage(net, 1.0), GanError);
  EXPECT_THROW(WeightAverage(net, -0.1), GanError);
}

}  // namespace
}  // namespace fedgan::gan
