#pragma once

#include <torch/types.h>

#include <string>

namespace fedgan::gan {

/// Resolves a device name: "cpu", "cuda", "cuda:N", or "auto" (CUDA when the LibTorch this
/// program was built with has CUDA support and a GPU is visible, CPU otherwise). Throws GanError
/// for an unknown name or for "cuda" when no CUDA device is available.
torch::Device resolve_device(const std::string& name);

/// Sets LibTorch's intra-op thread count when `threads` > 0. LibTorch here defaults to one thread
/// when OMP_NUM_THREADS is unset, so every program sets it explicitly.
void set_torch_threads(int threads);

}  // namespace fedgan::gan
