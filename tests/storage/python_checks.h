#pragma once

// Runs the Python checks of tests/storage on state dict files, for the storage and client tests:
// torch_load_listing.py (Python's torch.load, weights_only=True) and weights_only_allowlist.py
// (the pickle's globals against current PyTorch's allowlist).

#include "storage/state_dict_file.h"

#include <filesystem>
#include <string>

namespace fedgan::storage::testing {

/// The Python the checks run with.
inline constexpr const char* kPython = "/usr/bin/python3";

/// What a command printed and its exit status (-1 when it did not exit normally).
struct CommandResult {
  int exit_code = -1;
  std::string output;  // standard output
  std::string errors;  // standard error (Python's traceback, warnings)
};

/// Whether kPython imports torch; tests that load files in Python are skipped otherwise.
bool python_has_torch();

/// torch_load_listing.py on `file`: one line per entry, "<name> <dtype> <shape> <sha256>".
CommandResult torch_load_listing(const std::filesystem::path& file);

/// What torch_load_listing.py prints for a file that holds exactly `tensors` (their values as
/// CPU tensors, bit for bit).
std::string expected_listing(const StateDict& tensors);

/// weights_only_allowlist.py on `file` (standard library only): exit 0 when the pickle names only
/// allowed globals and uses only opcodes the weights-only unpickler implements.
CommandResult weights_only_allowlist_check(const std::filesystem::path& file);

/// Tensors of every dtype fedgan can store, with awkward finite values (-0.0, subnormals, extremes)
/// and layouts (0-d, empty, transposed, a view into a larger storage, a conjugate view, autograd
/// history).
StateDict assorted_tensors();

}  // namespace fedgan::storage::testing
