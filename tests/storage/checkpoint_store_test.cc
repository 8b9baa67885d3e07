#include "storage/checkpoint_store.h"
#include "storage/durable_file.h"
#include "storage/error.h"
#include "storage/sha256.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace fedgan::storage {
namespace {

namespace fs = std::filesystem;

class CheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(1234); }

  // A small model's worth of tensors of several dtypes, some of them views.
  StateDict sample_tensors() {
    StateDict tensors;
    tensors.insert("generator.net.0.weight", torch::randn({4, 3}));
    tensors.insert("generator.net.0.bias", torch::randn({4}).to(torch::kFloat64));
    tensors.insert("discriminator.bn.num_batches_tracked", torch::tensor(int64_t{17}));
    tensors.insert("discriminator.transposed", torch::randn({3, 5}).t());         // not contiguous
    tensors.insert("discriminator.slice", torch::arange(1000).slice(0, 10, 14));  // a view
    tensors.insert("half", torch::randn({2, 2}).to(torch::kHalf));
    return tensors;
  }

  testing::TempDir dir_;
};

TEST_F(CheckpointStoreTest, NamesFilesByRoundInAnAbsoluteDirectory) {
  CheckpointStore store(dir_ / "ckpt" / "nested");
  EXPECT_TRUE(fs::is_directory(dir_ / "ckpt" / "nested"));
  EXPECT_TRUE(store.directory().is_absolute());
  EXPECT_EQ(store.checkpoint_path(42).filename(), "round_000042.pt");
  EXPECT_EQ(store.sample_grid_path(42).filename(), "round_000042.png");
  EXPECT_EQ(store.checkpoint_path(1234567).filename(), "round_1234567.pt");
  EXPECT_THROW(store.checkpoint_path(-1), StorageError);
}

TEST_F(CheckpointStoreTest, RoundTripIsExactAndKeepsOrder) {
  CheckpointStore store(dir_.path());
  const StateDict tensors = sample_tensors();
  const CheckpointFile file = store.write(42, tensors);
  EXPECT_EQ(file.path, store.checkpoint_path(42));
  EXPECT_EQ(file.bytes, fs::file_size(file.path));
  EXPECT_EQ(file.sha256_hex, sha256_file_hex(file.path));
  EXPECT_LT(file.bytes, 4000u);  // the slice's view did not drag its 8 kB storage along

  const StateDict loaded = CheckpointStore::load(file.path, file.sha256_hex);
  ASSERT_EQ(loaded.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded[i].key(), tensors[i].key());
    EXPECT_EQ(loaded[i].value().dtype(), tensors[i].value().dtype()) << tensors[i].key();
    EXPECT_TRUE(torch::equal(loaded[i].value(), tensors[i].value())) << tensors[i].key();
  }
}

TEST_F(CheckpointStoreTest, SavesWithoutAutogradHistory) {
  CheckpointStore store(dir_.path());
  StateDict tensors;
  tensors.insert("w", torch::randn({3}, torch::requires_grad()) * 2);
  const CheckpointFile file = store.write(1, tensors);
  const StateDict loaded = CheckpointStore::load(file.path, file.sha256_hex);
  EXPECT_FALSE(loaded[0].value().requires_grad());
  EXPECT_TRUE(torch::equal(loaded[0].value(), tensors[0].value().detach()));
}

TEST_F(CheckpointStoreTest, RefusesUndefinedTensorsAndEmptyNames) {
  CheckpointStore store(dir_.path());
  StateDict undefined;
  undefined.insert("w", torch::Tensor());
  EXPECT_THROW(store.write(1, undefined), StorageError);
  StateDict unnamed;
  unnamed.insert("", torch::zeros({1}));
  EXPECT_THROW(store.write(1, unnamed), StorageError);
  EXPECT_TRUE(store.rounds().empty());
}

TEST_F(CheckpointStoreTest, DetectsAHashMismatch) {
  CheckpointStore store(dir_.path());
  const CheckpointFile file = store.write(3, sample_tensors());
  {
    std::fstream f(file.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(file.bytes / 2));
    f.put('\x5a');
  }
  try {
    CheckpointStore::load(file.path, file.sha256_hex);
    FAIL() << "a damaged checkpoint was loaded";
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find("changed or damaged"), std::string::npos);
  }
  EXPECT_THROW(CheckpointStore::load(dir_ / "missing.pt", file.sha256_hex), StorageError);
}

TEST_F(CheckpointStoreTest, RefusesAFileThatIsNotADictOfTensors) {
  const auto write = [&](const fs::path& path, const c10::IValue& value) {
    const std::vector<char> bytes = torch::pickle_save(value);
    write_file_atomically(path, bytes.data(), bytes.size());
    return sha256_hex(bytes.data(), bytes.size());
  };
  const std::string list_hash = write(dir_ / "list.pt", c10::IValue(std::vector<int64_t>{1, 2}));
  EXPECT_THROW(CheckpointStore::load(dir_ / "list.pt", list_hash), StorageError);
  c10::Dict<std::string, int64_t> numbers;
  numbers.insert("lr", 3);
  const std::string dict_hash = write(dir_ / "dict.pt", c10::IValue(numbers));
  try {
    CheckpointStore::load(dir_ / "dict.pt", dict_hash);
    FAIL();
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find("entry 'lr'"), std::string::npos) << error.what();
  }
  std::ofstream(dir_ / "text.pt") << "not a pickle";
  EXPECT_THROW(CheckpointStore::load(dir_ / "text.pt", sha256_file_hex(dir_ / "text.pt")),
               StorageError);
}

TEST_F(CheckpointStoreTest, LeftoverTemporaryFromACrashIsRemovedAndIgnored) {
  std::ofstream(dir_ / ".round_000005.pt.tmp") << "half a checkpoint";
  std::ofstream(dir_ / "notes.txt") << "not ours";
  std::ofstream(dir_ / "round_00x.pt") << "not a round number";
  {
    CheckpointStore first(dir_.path());
    EXPECT_TRUE(first.rounds().empty());
  }
  EXPECT_FALSE(fs::exists(dir_ / ".round_000005.pt.tmp"));
  EXPECT_TRUE(fs::exists(dir_ / "notes.txt"));
  EXPECT_TRUE(fs::exists(dir_ / "round_00x.pt"));
  CheckpointStore store(dir_.path());
  std::ofstream(dir_ / ".round_000006.pt.tmp") << "another";
  EXPECT_EQ(store.remove_temporaries(), 1u);
  const CheckpointFile file = store.write(5, sample_tensors());
  EXPECT_EQ(store.rounds(), std::vector<int64_t>{5});
  EXPECT_NO_THROW(CheckpointStore::load(file.path, file.sha256_hex));
}

TEST_F(CheckpointStoreTest, RetentionKeepsTheLastNEveryKthAndReferencedFiles) {
  CheckpointStore store(dir_.path());
  StateDict tensors;
  tensors.insert("w", torch::zeros({1}));
  for (int64_t round = 1; round <= 25; ++round) store.write(round, tensors);
  const auto deleted = store.prune({3, 10}, {store.checkpoint_path(7)});
  EXPECT_EQ(deleted.size(), 19u);
  EXPECT_EQ(store.rounds(), (std::vector<int64_t>{7, 10, 20, 23, 24, 25}));
  // Once no longer referenced, round 7 goes too.
  EXPECT_EQ(store.prune({3, 10}), std::vector<fs::path>{store.checkpoint_path(7)});

  // keep_last 0 and no milestones still keep the newest.
  store.prune({0, 0});
  EXPECT_EQ(store.rounds(), std::vector<int64_t>{25});
  EXPECT_THROW(store.prune({-1, 0}), StorageError);
}

TEST_F(CheckpointStoreTest, PythonTorchLoadReadsTheStateDict) {
  const char* python = "/usr/bin/python3";
  if (std::system(fmt::format("{} -c 'import torch' >/dev/null 2>&1", python).c_str()) != 0) {
    GTEST_SKIP() << python << " cannot import torch";
  }
  CheckpointStore store(dir_.path());
  StateDict tensors;
  tensors.insert("generator.fc.weight", torch::arange(6, torch::kFloat32).reshape({2, 3}) / 4);
  tensors.insert("generator.fc.bias", torch::full({2}, -1.5, torch::kFloat64));
  tensors.insert("steps", torch::tensor(int64_t{123456789012}));
  const CheckpointFile file = store.write(42, tensors);
  const std::string script =
      "import sys, torch\n"
      "sd = torch.load(sys.argv[1])\n"
      "assert isinstance(sd, dict), type(sd)\n"
      "assert list(sd) == ['generator.fc.weight', 'generator.fc.bias', 'steps'], list(sd)\n"
      "assert sd['generator.fc.weight'].shape == (2, 3)\n"
      "assert sd['generator.fc.weight'].dtype == torch.float32\n"
      "assert sd['generator.fc.weight'][1, 2].item() == 1.25\n"
      "assert sd['generator.fc.bias'].dtype == torch.float64\n"
      "assert sd['generator.fc.bias'].tolist() == [-1.5, -1.5]\n"
      "assert sd['steps'].item() == 123456789012\n";
  const std::string command = fmt::format("{} -c \"{}\" '{}'", python, script, file.path.string());
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "python's torch.load disagreed; see its output above";
}

}  // namespace
}  // namespace fedgan::storage
