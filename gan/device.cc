#include "gan/device.h"

#include "gan/error.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

namespace fedgan::gan {

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (name == "auto") return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    check(cuda,
          "device '{}' requested, but this LibTorch has no CUDA support or no GPU is visible; "
          "use --device cpu or build against a CUDA LibTorch (CMAKE_PREFIX_PATH)",
          name);
    torch::Device device(name);
    check(device.index() < static_cast<int>(torch::cuda::device_count()),
          "device '{}' requested, but only {} CUDA device(s) are visible", name,
          torch::cuda::device_count());
    return device;
  }
  throw GanError(fmt::format("unknown device '{}': expected auto, cpu, cuda or cuda:N", name));
}

void set_torch_threads(int threads) {
  check(threads >= 0, "thread count must be >= 0, got {}", threads);
  if (threads > 0) at::set_num_threads(threads);
}

}  // namespace fedgan::gan
