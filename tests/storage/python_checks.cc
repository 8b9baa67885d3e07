#include "tests/storage/python_checks.h"

#include "storage/sha256.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>

namespace fedgan::storage::testing {
namespace {

namespace fs = std::filesystem;

CommandResult run(const std::string& command) {
  static int calls = 0;
  const fs::path errors_file =
      fs::temp_directory_path() / fmt::format("fedgan_python_check_{}_{}.err", getpid(), ++calls);
  CommandResult result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(
      popen(fmt::format("{} 2>'{}'", command, errors_file.string()).c_str(), "r"), pclose);
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::array<char, 4096> buffer;
  size_t read = 0;
  while ((read = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
    result.output.append(buffer.data(), read);
  }
  const int status = pclose(pipe.release());
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  std::ifstream errors(errors_file);
  result.errors.assign(std::istreambuf_iterator<char>(errors), std::istreambuf_iterator<char>());
  errors.close();
  std::error_code ignored;
  fs::remove(errors_file, ignored);
  return result;
}

std::string script(const char* name) {
  return fmt::format("'{}/tests/storage/{}'", FEDGAN_SOURCE_DIR, name);
}

// str(dtype) in Python.
std::string python_dtype(at::ScalarType type) {
  switch (type) {
    case at::kByte:
      return "torch.uint8";
    case at::kChar:
      return "torch.int8";
    case at::kShort:
      return "torch.int16";
    case at::kInt:
      return "torch.int32";
    case at::kLong:
      return "torch.int64";
    case at::kHalf:
      return "torch.float16";
    case at::kFloat:
      return "torch.float32";
    case at::kDouble:
      return "torch.float64";
    case at::kBFloat16:
      return "torch.bfloat16";
    case at::kComplexFloat:
      return "torch.complex64";
    case at::kComplexDouble:
      return "torch.complex128";
    case at::kBool:
      return "torch.bool";
    default:
      throw std::invalid_argument(std::string("no listing for ") + c10::toString(type));
  }
}

}  // namespace

bool python_has_torch() {
  return run(fmt::format("{} -c 'import torch'", kPython)).exit_code == 0;
}

CommandResult torch_load_listing(const fs::path& file) {
  return run(fmt::format("{} {} '{}'", kPython, script("torch_load_listing.py"), file.string()));
}

CommandResult weights_only_allowlist_check(const fs::path& file) {
  return run(
      fmt::format("{} {} '{}'", kPython, script("weights_only_allowlist.py"), file.string()));
}

std::string expected_listing(const StateDict& tensors) {
  std::string listing;
  for (const auto& item : tensors) {
    // The tensor's values (conjugation applied) in row-major order.
    const at::Tensor values =
        item.value().detach().to(at::kCPU).resolve_conj().resolve_neg().contiguous();
    listing += fmt::format("{} {} [{}] {}\n", item.key(), python_dtype(values.scalar_type()),
                           fmt::join(values.sizes().begin(), values.sizes().end(), ", "),
                           sha256_hex(values.data_ptr(), values.nbytes()));
  }
  return listing;
}

StateDict assorted_tensors() {
  torch::manual_seed(20240607);
  const float kFloatMax = std::numeric_limits<float>::max();
  const float kSubnormal = std::numeric_limits<float>::denorm_min();
  StateDict tensors;
  tensors.insert("generator.fc.weight", torch::randn({4, 3}));
  tensors.insert("generator.fc.bias",
                 torch::tensor({-0.0f, 0.0f, kSubnormal, -kFloatMax, kFloatMax, 1.0f / 3}));
  tensors.insert("float64", torch::randn({2, 2}, torch::kFloat64) * 1e300);
  tensors.insert("float16", torch::randn({5}).to(torch::kHalf));
  tensors.insert("bfloat16", torch::randn({5}).to(torch::kBFloat16));
  tensors.insert("discriminator.bn.num_batches_tracked", torch::tensor(int64_t{123456789012}));
  // torch::tensor makes int64 of C++ ints, as Python does; the dtype is spelled out.
  tensors.insert("int32", torch::tensor({std::numeric_limits<int32_t>::min(), int32_t{0},
                                         std::numeric_limits<int32_t>::max()},
                                        torch::kInt32));
  tensors.insert("int16", torch::arange(-3, 3, torch::kInt16));
  tensors.insert("int8", torch::arange(-128, 128, 17, torch::kInt8));
  tensors.insert("uint8", torch::arange(0, 256, 51, torch::kUInt8));
  tensors.insert("bool", torch::tensor({true, false, true}));
  tensors.insert("complex64", torch::randn({3}, torch::kComplexFloat));
  tensors.insert("complex128.conjugate_view", torch::randn({2}, torch::kComplexDouble).conj());
  tensors.insert("scalar", torch::tensor(2.5f));
  tensors.insert("empty", torch::zeros({0, 3}));
  tensors.insert("transposed", torch::randn({3, 5}).t());
  tensors.insert("slice_of_a_larger_storage", torch::arange(1000).slice(0, 10, 14));
  tensors.insert("with_autograd_history", torch::randn({3}, torch::requires_grad()) * 2);
  return tensors;
}

}  // namespace fedgan::storage::testing
