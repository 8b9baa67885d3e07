// Runs a libFuzzer target without libFuzzer (any compiler, no instrumentation): each file named on
// the command line (or in a directory named there), then random inputs until the time is up. It
// finds what random scripts find, not what coverage guidance does (scripts/fuzz.sh runs the target
// under libFuzzer for that); the test suite runs it for seconds as a check that the target and its
// invariants hold.
//   usage: fedgan-fuzz-round-driver [--seconds N] [--seed S] [--max-len L] [FILE|DIR...]

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The input being run, for the abort handler: a failing input is written to crash-round-input,
// where the driver (or libFuzzer's build) can run it again.
const std::vector<uint8_t>* running = nullptr;

extern "C" void save_running_input(int signal) {
  if (running != nullptr) {
    const int fd = ::open("crash-round-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      [[maybe_unused]] const auto written = ::write(fd, running->data(), running->size());
      ::close(fd);
    }
  }
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  uint64_t seed = 1;
  size_t max_len = 2048;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--max-len" && i + 1 < argc) {
      max_len = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path().string());
      }
    } else {
      files.push_back(arg);
    }
  }
  LLVMFuzzerInitialize(&argc, &argv);
  std::signal(SIGABRT, save_running_input);
  std::signal(SIGSEGV, save_running_input);
  const auto start = std::chrono::steady_clock::now();
  size_t executed = 0;
  for (const auto& path : files) {
    std::ifstream file(path, std::ios::binary);
    const std::vector<uint8_t> input((std::istreambuf_iterator<char>(file)), {});
    running = &input;
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++executed;
  }
  std::mt19937_64 random(seed);
  std::vector<uint8_t> input;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() <
         seconds) {
    input.resize(random() % (max_len + 1));
    for (auto& byte : input) byte = static_cast<uint8_t>(random());
    running = &input;
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++executed;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "executed %zu inputs (%zu files, seed %llu) in %.1f s\n", executed,
               files.size(), static_cast<unsigned long long>(seed), elapsed);
  return 0;
}
