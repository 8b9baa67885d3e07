// libFuzzer entry of the coordinator's stateful fuzz target (round_harness.h). Built with clang by
// scripts/fuzz.sh round; fuzz_driver_main.cc runs the same target without libFuzzer.

#include "tests/fuzz/round_harness.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  // The coordinator prints a line per round and per rejection: millions of them while fuzzing
  // (FEDGAN_FUZZ_TRACE keeps them, with the script's actions, to replay one input).
  if (std::getenv("FEDGAN_FUZZ_TRACE") != nullptr) return 0;
  if (std::freopen("/dev/null", "w", stdout) == nullptr) return 0;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fedgan::testing::play_round_script(data, size);
  return 0;
}
