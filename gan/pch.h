// Precompiled header for the torch-heavy targets: LibTorch's headers dominate compile time, so
// every target that includes them parses them once.
#pragma once

#include <torch/torch.h>

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>
