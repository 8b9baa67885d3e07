#include "storage/state_dict_file.h"

#include "files/durable_file.h"
#include "storage/error.h"
#include "tests/storage/python_checks.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

namespace fedgan::storage {
namespace {

void expect_same_tensors(const StateDict& actual, const StateDict& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i].key(), expected[i].key());
    const at::Tensor want = expected[i].value().detach().resolve_conj().resolve_neg();
    EXPECT_EQ(actual[i].value().dtype(), want.dtype()) << expected[i].key();
    EXPECT_FALSE(actual[i].value().requires_grad()) << expected[i].key();
    EXPECT_TRUE(torch::equal(actual[i].value(), want)) << expected[i].key();
  }
}

// The bytes torch::pickle_save makes of `tensors`: the format fedgan wrote before, a dict wrapped
// in torch.jit._pickle.restore_type_tag.
std::vector<char> tagged_format(const StateDict& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& item : tensors) {
    dict.insert(item.key(), item.value().detach().resolve_conj().contiguous().clone());
  }
  return torch::pickle_save(c10::IValue(dict));
}

bool contains(const std::vector<char>& bytes, const std::string& text) {
  return std::search(bytes.begin(), bytes.end(), text.begin(), text.end()) != bytes.end();
}

TEST(StateDictFile, RoundTripIsExactForEveryStorableDtype) {
  const StateDict tensors = testing::assorted_tensors();
  expect_same_tensors(decode_state_dict(encode_state_dict(tensors), "test bytes"), tensors);
}

TEST(StateDictFile, WritesNoTypeTag) {
  const std::vector<char> bytes = encode_state_dict(testing::assorted_tensors());
  EXPECT_FALSE(contains(bytes, "restore_type_tag"));
  EXPECT_TRUE(contains(bytes, "_rebuild_tensor_v2"));
  EXPECT_TRUE(contains(tagged_format(testing::assorted_tensors()), "restore_type_tag"));
}

TEST(StateDictFile, DecodesTheTaggedFormatOfTorchPickleSave) {
  const StateDict tensors = testing::assorted_tensors();
  expect_same_tensors(decode_state_dict(tagged_format(tensors), "test bytes"), tensors);
}

TEST(StateDictFile, AViewDoesNotDragItsStorageAlong) {
  StateDict tensors;
  tensors.insert("slice", torch::arange(100000).slice(0, 10, 14));
  EXPECT_LT(encode_state_dict(tensors).size(), 4000u);
}

TEST(StateDictFile, RefusesWhatPyTorchCannotLoadAsWeights) {
  const auto refusal = [](const std::string& name, const at::Tensor& tensor) {
    StateDict tensors;
    tensors.insert(name, tensor);
    try {
      encode_state_dict(tensors);
    } catch (const StorageError& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal("", torch::zeros({1})).find("empty name"), std::string::npos);
  EXPECT_NE(refusal("w", at::Tensor()).find("'w' is undefined"), std::string::npos);
  EXPECT_NE(refusal("c", torch::zeros({2}, torch::kComplexHalf)).find("no storage class"),
            std::string::npos);
  EXPECT_NE(refusal("s", torch::eye(3).to_sparse()).find("sparse or quantized"), std::string::npos);
  EXPECT_NE(refusal("q", torch::quantize_per_tensor(torch::ones({2}), 0.1, 0, torch::kQInt8))
                .find("sparse or quantized"),
            std::string::npos);
}

TEST(StateDictFile, RefusesBytesThatAreNotADictOfTensors) {
  const auto refusal = [](const std::vector<char>& bytes) {
    try {
      decode_state_dict(bytes, "checkpoint x.pt");
    } catch (const StorageError& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refusal(torch::pickle_save(c10::IValue(std::vector<int64_t>{1, 2})))
                .find("checkpoint x.pt holds a"),
            std::string::npos);
  c10::Dict<std::string, int64_t> numbers;
  numbers.insert("lr", 3);
  EXPECT_NE(refusal(torch::pickle_save(c10::IValue(numbers))).find("entry 'lr'"),
            std::string::npos);
  const std::string text = "not a pickle";
  EXPECT_NE(refusal(std::vector<char>(text.begin(), text.end()))
                .find("checkpoint x.pt cannot be read as a PyTorch pickle"),
            std::string::npos);
}

// The Python checks the checkpoint and client tests rely on fail where they should: on the format
// torch::pickle_save writes (these are the checks that caught the defect).
TEST(StateDictFile, PythonChecksRefuseTheTaggedFormat) {
  testing::TempDir dir;
  const std::vector<char> bytes = tagged_format(testing::assorted_tensors());
  files::write_file_atomically(dir / "tagged.pt", bytes.data(), bytes.size());

  const testing::CommandResult allowlist = testing::weights_only_allowlist_check(dir / "tagged.pt");
  EXPECT_EQ(allowlist.exit_code, 1) << allowlist.errors;
  EXPECT_NE(allowlist.errors.find("global torch.jit._pickle.restore_type_tag"), std::string::npos)
      << allowlist.errors;

  if (!testing::python_has_torch()) GTEST_SKIP() << testing::kPython << " cannot import torch";
  const testing::CommandResult load = testing::torch_load_listing(dir / "tagged.pt");
  EXPECT_NE(load.exit_code, 0) << load.output;
  EXPECT_NE(load.errors.find("restore_type_tag"), std::string::npos) << load.errors;
}

TEST(StateDictFile, NamesOnlyGlobalsCurrentPyTorchAllowsAsWeights) {
  testing::TempDir dir;
  const std::vector<char> bytes = encode_state_dict(testing::assorted_tensors());
  files::write_file_atomically(dir / "state.pt", bytes.data(), bytes.size());
  const testing::CommandResult check = testing::weights_only_allowlist_check(dir / "state.pt");
  EXPECT_EQ(check.exit_code, 0) << check.errors;
  // Every storage class the assorted dtypes need, and nothing but the allowlist's names.
  for (const char* name :
       {"torch._utils._rebuild_tensor_v2", "collections.OrderedDict", "torch.FloatStorage",
        "torch.DoubleStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.LongStorage",
        "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
        "torch.BoolStorage", "torch.ComplexFloatStorage", "torch.ComplexDoubleStorage"}) {
    EXPECT_NE(check.output.find(std::string(name) + "\n"), std::string::npos)
        << name << " missing from\n"
        << check.output;
  }
}

TEST(StateDictFile, PythonLoadsItWithWeightsOnlyBitForBit) {
  if (!testing::python_has_torch()) GTEST_SKIP() << testing::kPython << " cannot import torch";
  testing::TempDir dir;
  const StateDict tensors = testing::assorted_tensors();
  const std::vector<char> bytes = encode_state_dict(tensors);
  files::write_file_atomically(dir / "state.pt", bytes.data(), bytes.size());
  const testing::CommandResult listing = testing::torch_load_listing(dir / "state.pt");
  ASSERT_EQ(listing.exit_code, 0) << listing.errors;
  EXPECT_EQ(listing.output, testing::expected_listing(tensors));
}

}  // namespace
}  // namespace fedgan::storage
