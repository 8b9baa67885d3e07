#include "gan/models/conv_transpose.h"

#include "gan/error.h"

#include <ATen/Context.h>
#include <torch/torch.h>

namespace fedgan::gan {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// y = conv_transpose(x, W) is dL/dy' of y' = conv2d(y_shape, W) at dL/dy' = x: ask LibTorch's
// convolution backward for the input gradient only.
torch::Tensor transposed_forward(const torch::Tensor& x, const torch::Tensor& weight,
                                 int64_t stride, int64_t padding) {
  const int64_t out_h = (x.size(2) - 1) * stride - 2 * padding + weight.size(2);
  const int64_t out_w = (x.size(3) - 1) * stride - 2 * padding + weight.size(3);
  // Only the shape of this tensor is read: it stands for the regular convolution's input.
  const auto shape_only = torch::empty({x.size(0), weight.size(1), out_h, out_w}, x.options());
  return std::get<0>(at::convolution_backward(x, shape_only, weight, c10::nullopt, {stride, stride},
                                              {padding, padding}, {1, 1}, false, {0, 0}, 1,
                                              {true, false, false}));
}

class OneDnnConvTranspose2d : public torch::autograd::Function<OneDnnConvTranspose2d> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, int64_t stride, int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    return transposed_forward(x, weight, stride, padding);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    const int64_t padding = ctx->saved_data["padding"].toInt();
    const auto grad = grads[0].contiguous();
    torch::Tensor grad_x, grad_weight;
    if (ctx->needs_input_grad(0)) grad_x = torch::conv2d(grad, weight, {}, stride, padding);
    if (ctx->needs_input_grad(1)) {
      // The regular convolution this transposes has input `grad` and output gradient `x`.
      grad_weight = std::get<1>(at::convolution_backward(
          x, grad, weight, c10::nullopt, {stride, stride}, {padding, padding}, {1, 1}, false,
          {0, 0}, 1, {false, true, false}));
    }
    return {grad_x, grad_weight, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool onednn_conv_transpose_available(const torch::Tensor& input) {
  return input.device().is_cpu() && input.scalar_type() == torch::kFloat32 && at::hasMKLDNN() &&
         at::globalContext().userEnabledMkldnn();
}

torch::Tensor conv_transpose2d_onednn(const torch::Tensor& input, const torch::Tensor& weight,
                                      const torch::Tensor& bias, int64_t stride, int64_t padding) {
  check(input.dim() == 4 && weight.dim() == 4 && input.size(1) == weight.size(0),
        "transposed convolution: input {} does not match weight {} (in x out x kh x kw)",
        input.sizes(), weight.sizes());
  check(stride >= 1 && padding >= 0, "transposed convolution: stride {} / padding {} invalid",
        stride, padding);
  // The bias is added outside the custom function: ordinary autograd differentiates it, and an
  // undefined bias never becomes a function input.
  auto y = OneDnnConvTranspose2d::apply(input.contiguous(), weight, stride, padding);
  return bias.defined() ? y + bias.view({1, -1, 1, 1}) : y;
}

}  // namespace fedgan::gan
