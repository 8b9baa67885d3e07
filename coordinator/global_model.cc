#include "coordinator/global_model.h"

#include "coordinator/error.h"
#include "gan/error.h"
#include "gan/models/model_factory.h"
#include "protocol/tensor_records.h"
#include "storage/sha256.h"

#include <torch/torch.h>

#include <set>
#include <string_view>

namespace fedgan::coordinator {
namespace {

namespace wire = protocol::wire;

gan::GanModel build_model(const ModelOptions& options) {
  gan::ModelSpec spec;
  spec.architecture = std::string(config::enum_name(options.architecture));
  spec.mlp.data_dim = options.data_dim;
  try {
    return gan::make_model(spec, options.init_seed);
  } catch (const gan::GanError& error) {
    throw CoordinatorError(fmt::format("model.architecture: {}", error.what()));
  }
}

gan::FederationScope scope_of(Federate federate) {
  switch (federate) {
    case Federate::kBoth:
      return gan::FederationScope::kGeneratorAndDiscriminator;
    case Federate::kGenerator:
      return gan::FederationScope::kGeneratorOnly;
  }
  throw CoordinatorError("unknown model.federate value");
}

std::vector<int64_t> shape_of(const torch::Tensor& tensor) {
  return std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end());
}

}  // namespace

wire::Codec wire_codec(ModelCodec codec) {
  switch (codec) {
    case ModelCodec::kFp32:
      return wire::CODEC_FP32;
    case ModelCodec::kFp16:
      return wire::CODEC_FP16;
  }
  throw CoordinatorError("unknown model.codec value");
}

GlobalModel::GlobalModel(const ModelOptions& options)
    : model_(build_model(options)), scope_(scope_of(options.federate)) {
  const wire::Codec codec = wire_codec(options.codec);
  describe();
  manifest_ = protocol::make_manifest(views(), codec);
  if (!options.init_checkpoint.empty()) {
    // An initial checkpoint has no recorded hash: it is whatever file the operator names, so the
    // hash CheckpointStore::load insists on is taken from the file itself.
    const auto path = options.init_checkpoint;
    load_checkpoint(path, storage::sha256_file_hex(path));
  }
}

// Collects the federated tensors and checks they are what every view assumes: CPU memory, float32,
// one contiguous run of floats each.
void GlobalModel::describe() {
  federated_ = gan::federated_tensors(model_, scope_);
  std::set<const void*> parameters;
  for (const auto* net : {static_cast<const torch::nn::Module*>(model_.generator.get()),
                          static_cast<const torch::nn::Module*>(model_.discriminator.get())}) {
    for (const auto& p : net->parameters()) parameters.insert(p.data_ptr());
  }
  for (const auto& entry : federated_) {
    parameter_mask_.push_back(parameters.count(entry.tensor.data_ptr()) > 0);
    const auto& tensor = entry.tensor;
    check(tensor.device().is_cpu() && tensor.scalar_type() == torch::kFloat32 &&
              tensor.is_contiguous(),
          "global model tensor '{}' is not a contiguous float32 CPU tensor", entry.name);
    specs_.push_back(protocol::tensor_spec(entry.name, wire::DTYPE_FLOAT32, shape_of(tensor)));
    layout_.tensors.push_back({entry.name, static_cast<size_t>(tensor.numel())});
  }
  aggregation::validate_layout(layout_);
}

std::vector<bool> GlobalModel::moving_mask(gan::TrainedNetworks networks) const {
  std::vector<bool> moving(federated_.size(), true);
  if (networks == gan::TrainedNetworks::kBoth) return moving;
  const std::string_view frozen_prefix = networks == gan::TrainedNetworks::kDiscriminator
                                             ? gan::kGeneratorPrefix
                                             : gan::kDiscriminatorPrefix;
  for (size_t t = 0; t < federated_.size(); ++t) {
    const bool frozen_network =
        std::string_view(federated_[t].name).substr(0, frozen_prefix.size()) == frozen_prefix;
    moving[t] = !(frozen_network && parameter_mask_[t]);
  }
  return moving;
}

void GlobalModel::load_checkpoint(const std::filesystem::path& path,
                                  const std::string& sha256_hex) {
  load_state(storage::CheckpointStore::load(path, sha256_hex), path.string());
}

void GlobalModel::load_state(const storage::StateDict& state, const std::string& source) {
  try {
    gan::load_full_state(model_, state);
  } catch (const gan::GanError& error) {
    throw CoordinatorError(
        fmt::format("{} does not fit the {} model: {}", source, model_.architecture, error.what()));
  }
}

std::vector<protocol::ConstTensorView> GlobalModel::views() const {
  std::vector<protocol::ConstTensorView> views;
  views.reserve(federated_.size());
  for (size_t i = 0; i < federated_.size(); ++i) {
    views.push_back({specs_[i], federated_[i].tensor.data_ptr()});
  }
  return views;
}

aggregation::ConstViews GlobalModel::const_views() const {
  aggregation::ConstViews views;
  views.reserve(federated_.size());
  for (const auto& entry : federated_) views.push_back(entry.tensor.data_ptr<float>());
  return views;
}

aggregation::MutableViews GlobalModel::mutable_views() {
  aggregation::MutableViews views;
  views.reserve(federated_.size());
  for (const auto& entry : federated_) views.push_back(entry.tensor.data_ptr<float>());
  return views;
}

storage::StateDict GlobalModel::state_dict() const {
  storage::StateDict state;
  for (const auto& entry : gan::full_state(model_)) state.insert(entry.name, entry.tensor.detach());
  return state;
}

DeltaBuffer::DeltaBuffer(const GlobalModel& model) : layout_(model.layout()) {
  const auto& tensors = model.manifest().tensors();
  specs_.assign(tensors.begin(), tensors.end());
  for (const auto& entry : layout_.tensors) {
    offsets_.push_back(size_);
    size_ += entry.size;
  }
  values_.reset(new float[size_]);  // default-initialised: see the header
}

std::vector<protocol::MutableTensorView> DeltaBuffer::destinations() {
  std::vector<protocol::MutableTensorView> destinations;
  destinations.reserve(specs_.size());
  for (size_t i = 0; i < specs_.size(); ++i) {
    destinations.push_back({specs_[i], values_.get() + offsets_[i]});
  }
  return destinations;
}

aggregation::ConstViews DeltaBuffer::views() const {
  aggregation::ConstViews views;
  views.reserve(offsets_.size());
  for (const size_t offset : offsets_) views.push_back(values_.get() + offset);
  return views;
}

aggregation::MutableViews DeltaBuffer::mutable_views() {
  aggregation::MutableViews views;
  views.reserve(offsets_.size());
  for (const size_t offset : offsets_) views.push_back(values_.get() + offset);
  return views;
}

void DeltaBuffer::zero() {
  std::fill(values_.get(), values_.get() + size_, 0.0f);
}

}  // namespace fedgan::coordinator
