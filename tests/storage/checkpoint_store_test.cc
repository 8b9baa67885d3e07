#include "storage/checkpoint_store.h"
#include "files/durable_file.h"
#include "storage/error.h"
#include "storage/sha256.h"
#include "tests/storage/python_checks.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

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
    files::write_file_atomically(path, bytes.data(), bytes.size());
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

// What the docs tell users to run: torch.load(path, weights_only=True) (PyTorch's default since
// 2.6) gives back every tensor bit for bit, as does a plain torch.load(path).
TEST_F(CheckpointStoreTest, PythonLoadsACheckpointWithWeightsOnlyBitForBit) {
  if (!testing::python_has_torch()) GTEST_SKIP() << testing::kPython << " cannot import torch";
  CheckpointStore store(dir_.path());
  const StateDict tensors = testing::assorted_tensors();
  const CheckpointFile file = store.write(42, tensors);
  const testing::CommandResult listing = testing::torch_load_listing(file.path);
  ASSERT_EQ(listing.exit_code, 0) << listing.errors;
  EXPECT_EQ(listing.output, testing::expected_listing(tensors));
}

// Checked without PyTorch against the allowlist of current PyTorch's weights-only unpickler
// (tests/storage/weights_only_allowlist.py names the commit it was copied from).
TEST_F(CheckpointStoreTest, ACheckpointNamesOnlyGlobalsCurrentPyTorchAllows) {
  CheckpointStore store(dir_.path());
  const CheckpointFile file = store.write(7, testing::assorted_tensors());
  const testing::CommandResult check = testing::weights_only_allowlist_check(file.path);
  EXPECT_EQ(check.exit_code, 0) << check.errors;
  EXPECT_NE(check.output.find("torch._utils._rebuild_tensor_v2\n"), std::string::npos)
      << check.output;
}

// Runs resume from checkpoints written before the format changed: torch::pickle_save's dict
// wrapped in a type tag.
TEST_F(CheckpointStoreTest, LoadsACheckpointInTheTaggedFormatOfEarlierVersions) {
  CheckpointStore store(dir_.path());
  const StateDict tensors = sample_tensors();
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& item : tensors) dict.insert(item.key(), item.value().contiguous());
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  ASSERT_NE(std::string(bytes.begin(), bytes.end()).find("restore_type_tag"), std::string::npos);
  files::write_file_atomically(store.checkpoint_path(3), bytes.data(), bytes.size());

  const StateDict loaded =
      CheckpointStore::load(store.checkpoint_path(3), sha256_hex(bytes.data(), bytes.size()));
  ASSERT_EQ(loaded.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded[i].key(), tensors[i].key());
    EXPECT_EQ(loaded[i].value().dtype(), tensors[i].value().dtype()) << tensors[i].key();
    EXPECT_TRUE(torch::equal(loaded[i].value(), tensors[i].value())) << tensors[i].key();
  }
}

}  // namespace
}  // namespace fedgan::storage
