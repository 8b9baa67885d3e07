#include "client/local_state.h"

#include "client/error.h"
#include "gan/models/mlp_gan.h"
#include "files/durable_file.h"
#include "tests/client/test_support.h"
#include "tests/storage/python_checks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace fedgan::client {
namespace {

using gan::FederationScope;
namespace checks = storage::testing;

storage::StateDict as_state_dict(const std::vector<gan::NamedTensor>& tensors) {
  storage::StateDict state;
  for (const auto& entry : tensors) state.insert(entry.name, entry.tensor);
  return state;
}

class LocalStateTest : public testing::TempDirTest {};

// A site's state file opens in Python the way a checkpoint does:
// torch.load(path, weights_only=True) gives back every tensor bit for bit.
TEST_F(LocalStateTest, PythonLoadsTheStateFileWithWeightsOnlyBitForBit) {
  if (!checks::python_has_torch()) GTEST_SKIP() << checks::kPython << " cannot import torch";
  const storage::StateDict tensors = checks::assorted_tensors();
  std::vector<gan::NamedTensor> named;
  for (const auto& item : tensors) named.push_back({item.key(), item.value()});
  save_named_tensors(named, dir_ / "state" / "named.pt");
  const checks::CommandResult listing = checks::torch_load_listing(dir_ / "state" / "named.pt");
  ASSERT_EQ(listing.exit_code, 0) << listing.errors;
  EXPECT_EQ(listing.output, checks::expected_listing(tensors));
}

TEST_F(LocalStateTest, ASitesStateOfARealModelLoadsWithWeightsOnly) {
  const gan::GanModel model = gan::make_mlp_gan(gan::MlpGanOptions{}, 11);
  const auto path = dir_ / "state" / "local_state_mlp.pt";
  save_local_state(model, FederationScope::kGeneratorOnly, path);

  const checks::CommandResult allowlist = checks::weights_only_allowlist_check(path);
  EXPECT_EQ(allowlist.exit_code, 0) << allowlist.errors;

  if (!checks::python_has_torch()) GTEST_SKIP() << checks::kPython << " cannot import torch";
  const checks::CommandResult listing = checks::torch_load_listing(path);
  ASSERT_EQ(listing.exit_code, 0) << listing.errors;
  EXPECT_EQ(listing.output, checks::expected_listing(as_state_dict(
                                gan::local_tensors(model, FederationScope::kGeneratorOnly))));
}

// A site resumes from a state file written before the format changed (torch::pickle_save's dict
// wrapped in a type tag).
TEST_F(LocalStateTest, LoadsAStateFileInTheTaggedFormatOfEarlierVersions) {
  const gan::GanModel saved = gan::make_mlp_gan(gan::MlpGanOptions{}, 11);
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& entry : gan::local_tensors(saved, FederationScope::kGeneratorOnly)) {
    dict.insert(entry.name, entry.tensor.detach().clone());
  }
  dict.insert_or_assign("generator.net.1.num_batches_tracked", torch::tensor(int64_t{42}));
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  const auto path = dir_ / "tagged.pt";
  files::write_file_atomically(path, bytes.data(), bytes.size());

  const gan::GanModel restarted = gan::make_mlp_gan(gan::MlpGanOptions{}, 12);
  ASSERT_TRUE(load_local_state(restarted, path));
  const auto state = gan::local_tensors(restarted, FederationScope::kGeneratorOnly);
  ASSERT_EQ(state.size(), dict.size());
  for (const auto& entry : state) {
    ASSERT_TRUE(dict.contains(entry.name)) << entry.name;
    EXPECT_TRUE(torch::equal(entry.tensor, dict.at(entry.name))) << entry.name;
  }
}

TEST_F(LocalStateTest, RefusesAFileThatIsNotAStateDict) {
  const auto path = dir_ / "broken.pt";
  const std::string text = "not a pickle";
  files::write_file_atomically(path, text.data(), text.size());
  const gan::GanModel model = gan::make_mlp_gan(gan::MlpGanOptions{}, 11);
  try {
    load_local_state(model, path);
    FAIL() << "a broken state file was loaded";
  } catch (const ClientError& error) {
    EXPECT_NE(std::string(error.what()).find("local state " + path.string()), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace fedgan::client
