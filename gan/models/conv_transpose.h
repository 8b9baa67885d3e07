#pragma once

#include <torch/types.h>

namespace fedgan::gan {

/// True when conv_transpose2d_onednn can run on `input`: a float32 CPU tensor with oneDNN
/// (MKL-DNN) compiled into LibTorch and enabled.
bool onednn_conv_transpose_available(const torch::Tensor& input);

/// A 2-D transposed convolution (dilation 1, groups 1, no output padding) computed as the
/// input-gradient of the matching regular convolution, which LibTorch 1.13 runs on oneDNN, while
/// its own CPU conv_transpose2d falls back to im2col + BLAS. Backward uses a regular convolution
/// for the input gradient and the convolution's weight gradient for the weight: both oneDNN too.
/// Same results as torch::conv_transpose2d up to float rounding, same weight layout
/// (in x out x k x k), so a ConvTranspose2d module's parameters are used as they are. Supports one
/// backward pass (not double backward).
torch::Tensor conv_transpose2d_onednn(const torch::Tensor& input, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride, int64_t padding);

}  // namespace fedgan::gan
