#include "gan/models/dcgan.h"

#include "gan/error.h"
#include "gan/models/conv_transpose.h"
#include "gan/models/init.h"

#include <torch/torch.h>

namespace fedgan::gan {
namespace {

constexpr double kLeakySlope = 0.2;
constexpr int64_t kKernel = 4;
constexpr int64_t kStride = 2;
constexpr int64_t kPadding = 1;

int64_t base_side(const DcganOptions& o) {
  check(o.image_size > 0 && o.image_size % 4 == 0,
        "DCGAN: image_size must be a positive multiple of 4, got {}", o.image_size);
  check(o.latent_dim > 0 && o.image_channels > 0 && o.generator_width > 0 &&
            o.generator_width2 > 0 && o.discriminator_width > 0 && o.discriminator_width2 > 0,
        "DCGAN: latent_dim, image_channels and all widths must be positive");
  return o.image_size / 4;
}

// LibTorch 1.13 runs CPU transposed convolutions through im2col and BLAS at about half the speed
// of its oneDNN convolutions; on the CPU the same layer is computed through oneDNN instead.
torch::Tensor upsample(torch::nn::ConvTranspose2d& layer, const torch::Tensor& x) {
  if (!onednn_conv_transpose_available(x)) return layer->forward(x);
  return conv_transpose2d_onednn(x, layer->weight, layer->bias, kStride, kPadding);
}

}  // namespace

DcganGeneratorImpl::DcganGeneratorImpl(const DcganOptions& o) : options_(o) {
  const int64_t side = base_side(o);
  const int64_t projected = o.generator_width * side * side;
  project_ = register_module("project", torch::nn::Linear(o.latent_dim, projected));
  project_norm_ = register_module("project_norm", torch::nn::BatchNorm1d(projected));
  up1_ = register_module(
      "up1", torch::nn::ConvTranspose2d(
                 torch::nn::ConvTranspose2dOptions(o.generator_width, o.generator_width2, kKernel)
                     .stride(kStride)
                     .padding(kPadding)));
  up1_norm_ = register_module("up1_norm", torch::nn::BatchNorm2d(o.generator_width2));
  up2_ = register_module(
      "up2", torch::nn::ConvTranspose2d(
                 torch::nn::ConvTranspose2dOptions(o.generator_width2, o.image_channels, kKernel)
                     .stride(kStride)
                     .padding(kPadding)));
}

torch::Tensor DcganGeneratorImpl::forward(const torch::Tensor& latent) {
  const int64_t side = options_.image_size / 4;
  // Activations run in place: neither BatchNorm's nor a convolution's backward pass needs the
  // tensor they overwrite, and skipping the extra buffers measurably shortens a CPU step.
  auto x = project_norm_->forward(project_->forward(latent)).relu_();
  x = x.view({-1, options_.generator_width, side, side});
  x = up1_norm_->forward(upsample(up1_, x)).relu_();
  return torch::tanh(upsample(up2_, x));
}

DcganDiscriminatorImpl::DcganDiscriminatorImpl(const DcganOptions& o) {
  const int64_t side = base_side(o);
  down1_ = register_module(
      "down1",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(o.image_channels, o.discriminator_width, kKernel)
                            .stride(kStride)
                            .padding(kPadding)));
  down2_ = register_module(
      "down2", torch::nn::Conv2d(
                   torch::nn::Conv2dOptions(o.discriminator_width, o.discriminator_width2, kKernel)
                       .stride(kStride)
                       .padding(kPadding)));
  down2_norm_ = register_module("down2_norm", torch::nn::BatchNorm2d(o.discriminator_width2));
  classify_ =
      register_module("classify", torch::nn::Linear(o.discriminator_width2 * side * side, 1));
}

torch::Tensor DcganDiscriminatorImpl::forward(const torch::Tensor& images) {
  // channels_last lets oneDNN convolve without reordering activations to and from its blocked
  // layout on every call; values are the same, only the memory order differs.
  auto x = down1_->forward(images.contiguous(torch::MemoryFormat::ChannelsLast));
  torch::leaky_relu_(x, kLeakySlope);
  x = down2_norm_->forward(down2_->forward(x));
  torch::leaky_relu_(x, kLeakySlope);
  return classify_->forward(x.flatten(1)).view({-1});
}

GanModel make_dcgan(const DcganOptions& options, uint64_t seed) {
  GanModel model{"dcgan", std::make_shared<DcganGeneratorImpl>(options),
                 std::make_shared<DcganDiscriminatorImpl>(options)};
  init_weights(*model.generator, WeightInit::kDcgan, seed);
  init_weights(*model.discriminator, WeightInit::kDcgan, seed + 1);
  return model;
}

}  // namespace fedgan::gan
