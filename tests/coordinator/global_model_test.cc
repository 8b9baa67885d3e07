#include "coordinator/global_model.h"

#include "aggregation/layout.h"
#include "coordinator/error.h"
#include "protocol/codec.h"
#include "protocol/tensor_records.h"
#include "protocol/tensor_stream.h"
#include "storage/checkpoint_store.h"
#include "storage/error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;
namespace wire = protocol::wire;

constexpr uint32_t kFp32AndFp16 = (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16);

class GlobalModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    std::random_device device;
    dir_ = fs::temp_directory_path() / ("fedgan_global_model_" + std::to_string(device()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static ModelOptions options(const std::string& architecture, uint64_t seed = 1,
                              const std::string& federate = "both",
                              const std::string& codec = "fp32") {
    ModelOptions o;
    // The names a configuration file holds (.value(): a test names only valid ones).
    o.architecture = config::enum_value<Architecture>(architecture).value();
    o.init_seed = seed;
    o.federate = config::enum_value<Federate>(federate).value();
    o.codec = config::enum_value<ModelCodec>(codec).value();
    return o;
  }

  fs::path dir_;
};

std::string coordinator_error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CoordinatorError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a CoordinatorError";
  return "";
}

bool same_federated_values(const GlobalModel& a, const GlobalModel& b) {
  if (a.federated().size() != b.federated().size()) return false;
  for (size_t i = 0; i < a.federated().size(); ++i) {
    if (!torch::equal(a.federated()[i].tensor, b.federated()[i].tensor)) return false;
  }
  return true;
}

bool same_state_dict(const storage::StateDict& a, const storage::StateDict& b) {
  if (a.keys() != b.keys()) return false;
  for (const auto& item : a) {
    if (!torch::equal(item.value(), b[item.key()])) return false;
  }
  return true;
}

// A training-mode forward pass, so BatchNorm running statistics and counters change.
void touch_running_stats(GlobalModel& global) {
  torch::NoGradGuard no_grad;
  auto& model = global.model();
  model.generator->train();
  model.generator->forward(torch::randn({16, model.generator->latent_dim()}));
}

TEST_F(GlobalModelTest, ManifestDescribesTheFederatedTensorsUnderEitherCodec) {
  for (const char* architecture : {"mlp", "dcgan"}) {
    for (const char* federate : {"both", "generator"}) {
      const GlobalModel fp32(options(architecture, 1, federate, "fp32"));
      const GlobalModel fp16(options(architecture, 1, federate, "fp16"));
      const auto& manifest = fp32.manifest();
      ASSERT_EQ(static_cast<size_t>(manifest.tensors_size()), fp32.federated().size());
      uint64_t elements = 0;
      for (int i = 0; i < manifest.tensors_size(); ++i) {
        const auto& spec = manifest.tensors(i);
        const auto& tensor = fp32.federated()[i].tensor;
        EXPECT_EQ(spec.name(), fp32.federated()[i].name);
        EXPECT_EQ(spec.dtype(), wire::DTYPE_FLOAT32);
        EXPECT_EQ(std::vector<int64_t>(spec.shape().begin(), spec.shape().end()),
                  tensor.sizes().vec());
        elements += tensor.numel();
      }
      EXPECT_EQ(manifest.codec(), wire::CODEC_FP32);
      EXPECT_EQ(manifest.total_bytes(), 4 * elements);
      EXPECT_EQ(fp16.manifest().codec(), wire::CODEC_FP16);
      EXPECT_EQ(fp16.manifest().total_bytes(), 2 * elements);
      EXPECT_EQ(fp32.federated_bytes(), 4 * elements);
      EXPECT_EQ(fp32.scope(), gan::parse_federation_scope(federate));
    }
  }
  // The reference DCGAN: 966,978 parameters plus 2 * (9,408 + 64 + 128) BatchNorm statistics.
  EXPECT_EQ(GlobalModel(options("dcgan")).layout().num_parameters(), 966978u + 2 * 9600);
}

// Sites with vectors of another width (CSV rows) get a model of their width.
TEST_F(GlobalModelTest, MlpTakesTheConfiguredDataWidth) {
  ModelOptions o = options("mlp");
  o.data_dim = 5;
  const GlobalModel model(o);
  EXPECT_EQ(model.model().generator->forward(torch::zeros({3, 2})).sizes().vec(),
            (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(model.model().discriminator->forward(torch::zeros({3, 5})).size(0), 3);
  EXPECT_NE(model.manifest().SerializeAsString(),
            GlobalModel(options("mlp")).manifest().SerializeAsString());
}

TEST_F(GlobalModelTest, ViewsAndLayoutPointAtTheModelsMemory) {
  GlobalModel global(options("mlp"));
  const auto views = global.views();
  const auto& layout = global.layout();
  const auto const_views = global.const_views();
  const auto mutable_views = global.mutable_views();
  ASSERT_EQ(views.size(), global.federated().size());
  ASSERT_EQ(layout.num_tensors(), views.size());
  aggregation::check_views(layout, const_views, "global");
  aggregation::check_views(layout, mutable_views, "global");
  for (size_t i = 0; i < views.size(); ++i) {
    const auto& tensor = global.federated()[i].tensor;
    EXPECT_EQ(views[i].spec.name(), global.manifest().tensors(static_cast<int>(i)).name());
    EXPECT_EQ(layout.tensors[i].name, global.federated()[i].name);
    EXPECT_EQ(layout.tensors[i].size, static_cast<size_t>(tensor.numel()));
    EXPECT_EQ(views[i].data, tensor.data_ptr());
    EXPECT_EQ(const_views[i], tensor.data_ptr<float>());
    EXPECT_EQ(mutable_views[i], tensor.data_ptr<float>());
  }
  // Writing through a view changes the generator itself.
  mutable_views[0][0] = 42.0f;
  EXPECT_EQ(global.model().generator->named_parameters()["net.0.weight"][0][0].item<float>(),
            42.0f);
  // Loading a checkpoint copies in place: the views stay valid.
  global.load_state(GlobalModel(options("mlp", 9)).state_dict(), "seed 9");
  EXPECT_EQ(global.views()[0].data, views[0].data);
  EXPECT_NE(mutable_views[0][0], 42.0f);
}

TEST_F(GlobalModelTest, SameSeedGivesIdenticalModels) {
  const GlobalModel a(options("dcgan", 5)), b(options("dcgan", 5)), c(options("dcgan", 6));
  EXPECT_TRUE(same_federated_values(a, b));
  EXPECT_TRUE(same_state_dict(a.state_dict(), b.state_dict()));
  EXPECT_FALSE(same_federated_values(a, c));
}

TEST_F(GlobalModelTest, CheckpointWrittenByTheStoreLoadsBackIdentically) {
  GlobalModel source(options("dcgan", 1));
  touch_running_stats(source);
  const storage::CheckpointStore store(dir_ / "checkpoints");
  const auto file = store.write(7, source.state_dict());

  GlobalModel resumed(options("dcgan", 2));
  ASSERT_FALSE(same_federated_values(source, resumed));
  resumed.load_checkpoint(file.path, file.sha256_hex);
  EXPECT_TRUE(same_federated_values(source, resumed));
  EXPECT_TRUE(same_state_dict(source.state_dict(), resumed.state_dict()));

  // The same file as an initial checkpoint: no hash is recorded for it.
  auto init = options("dcgan", 3);
  init.init_checkpoint = file.path;
  EXPECT_TRUE(same_federated_values(source, GlobalModel(init)));

  EXPECT_THROW(resumed.load_checkpoint(file.path, std::string(64, '0')), storage::StorageError);
}

TEST_F(GlobalModelTest, InitCheckpointWithAWrongShapeIsRefusedNamingTheTensor) {
  const GlobalModel source(options("mlp", 1));
  auto state = source.state_dict();
  state["discriminator.output.weight"] = torch::zeros({1, 7});
  const storage::CheckpointStore store(dir_);
  auto init = options("mlp", 1);
  init.init_checkpoint = store.write(1, state).path;
  const auto message = coordinator_error_of([&] { GlobalModel global(init); });
  EXPECT_NE(message.find("'discriminator.output.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 7]"), std::string::npos) << message;

  // A checkpoint of another architecture names the first tensor it lacks.
  init.init_checkpoint = store.write(2, GlobalModel(options("dcgan")).state_dict()).path;
  const auto other = coordinator_error_of([&] { GlobalModel global(init); });
  EXPECT_NE(other.find("'generator.net.0.weight'"), std::string::npos) << other;
}

// Unknown architectures, scopes and codecs are refused when the configuration is read
// (options_test.cc, EnumerationsListTheirValues): the options cannot hold one.
TEST_F(GlobalModelTest, RefusesAMissingInitialCheckpoint) {
  auto missing = options("mlp");
  missing.init_checkpoint = dir_ / "absent.pt";
  EXPECT_THROW(GlobalModel g(missing), storage::StorageError);
}

TEST_F(GlobalModelTest, DeltaBufferMatchesTheManifestAndIsAllocatedOnce) {
  const GlobalModel global(options("dcgan", 1, "generator"));
  DeltaBuffer buffer(global);
  EXPECT_EQ(buffer.bytes(), global.federated_bytes());
  EXPECT_EQ(buffer.layout().tensors.size(), global.layout().tensors.size());
  const auto destinations = buffer.destinations();
  ASSERT_EQ(static_cast<int>(destinations.size()), global.manifest().tensors_size());
  for (size_t i = 0; i < destinations.size(); ++i) {
    EXPECT_EQ(destinations[i].spec.SerializeAsString(),
              global.manifest().tensors(static_cast<int>(i)).SerializeAsString());
  }
  // Same memory on every call: the buffer is reused across uploads.
  EXPECT_EQ(buffer.destinations().front().data, destinations.front().data);
  const auto views = buffer.views();
  aggregation::check_views(buffer.layout(), views, "delta");
  EXPECT_EQ(views.front(), destinations.front().data);
  buffer.mutable_views()[2][0] = 5.0f;
  EXPECT_EQ(buffer.views()[2][0], 5.0f);
  buffer.zero();
  EXPECT_EQ(buffer.views()[2][0], 0.0f);
}

// Streams `sender`'s federated tensors into a DeltaBuffer shaped by `receiver`, as a real upload.
void stream_into(const GlobalModel& sender, const GlobalModel& receiver, DeltaBuffer& buffer) {
  protocol::TensorStreamWriter writer(sender.views(), sender.codec(), 64 * 1024 + 3);
  protocol::validate_manifest(writer.manifest(), receiver.manifest(), kFp32AndFp16);
  protocol::TensorStreamReader reader(writer.manifest(), buffer.destinations());
  wire::TensorChunk chunk;
  while (writer.next_chunk(chunk)) reader.add(chunk);
  reader.finish(writer.transfer_end());
}

TEST_F(GlobalModelTest, DeltaBufferReceivesAnotherModelsStreamExactly) {
  for (const char* architecture : {"mlp", "dcgan"}) {
    const GlobalModel sender(options(architecture, 11));
    const GlobalModel receiver(options(architecture, 12));
    DeltaBuffer buffer(receiver);
    stream_into(sender, receiver, buffer);
    const auto got = buffer.views();
    const auto want = sender.const_views();
    for (size_t t = 0; t < got.size(); ++t) {
      const size_t bytes = sender.layout().tensors[t].size * sizeof(float);
      EXPECT_EQ(std::memcmp(got[t], want[t], bytes), 0) << sender.layout().tensors[t].name;
    }
  }
}

TEST_F(GlobalModelTest, DeltaBufferReceivesFp16StreamsRoundedToHalf) {
  const GlobalModel sender(options("mlp", 11, "both", "fp16"));
  const GlobalModel receiver(options("mlp", 12, "both", "fp16"));
  DeltaBuffer buffer(receiver);
  stream_into(sender, receiver, buffer);
  const auto got = buffer.views();
  const auto want = sender.const_views();
  for (size_t t = 0; t < got.size(); ++t) {
    for (size_t i = 0; i < sender.layout().tensors[t].size; ++i) {
      ASSERT_EQ(got[t][i], protocol::half_to_float(protocol::float_to_half(want[t][i])))
          << sender.layout().tensors[t].name << "[" << i << "]";
    }
  }
}

}  // namespace
}  // namespace fedgan::coordinator
