#pragma once

#include "aggregation/layout.h"
#include "coordinator/options.h"
#include "gan/federated_state.h"
#include "gan/models/gan_model.h"
#include "gan/trained_networks.h"
#include "protocol/tensor_stream.h"
#include "storage/checkpoint_store.h"

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace fedgan::coordinator {

/// model.codec on the wire: fp32 -> CODEC_FP32, fp16 -> CODEC_FP16.
protocol::wire::Codec wire_codec(ModelCodec codec);

/// The coordinator's global model: the GanModel (CPU, float32, contiguous) and the fixed
/// description of its federated tensors (gan/federated_state.h) in the forms the other libraries
/// take: the wire manifest and tensor views (protocol), the layout and float views (aggregation),
/// the state dict (storage).
///
/// Every view points at the model's own memory. Loading a checkpoint and applying an aggregate
/// write into that memory in place and nothing reallocates it, so views stay valid for the
/// object's lifetime; they see every later change. Not thread-safe: the coordinator touches the
/// model from one thread (or strand) at a time.
class GlobalModel {
 public:
  /// Builds the architecture `options.architecture` names with its default widths, seeded with
  /// `options.init_seed`, then, when `options.init_checkpoint` is set, loads that file over it:
  /// a checkpoint written by fedgan (storage::CheckpointStore) or any state dict saved with
  /// torch::pickle_save / torch.save holding exactly the names, dtypes and shapes of
  /// gan::full_state (integer buffers included). Throws CoordinatorError naming the option
  /// (model.architecture, model.federate, model.codec) or, for a checkpoint that does not fit,
  /// the file and the first tensor at fault; StorageError when the file cannot be read.
  explicit GlobalModel(const ModelOptions& options);

  GlobalModel(const GlobalModel&) = delete;
  GlobalModel& operator=(const GlobalModel&) = delete;

  /// Replaces every tensor with the checkpoint's (resuming from the last committed round). The
  /// file's SHA-256 must be `sha256_hex` (what the round row recorded). On any error the model is
  /// unchanged. Throws StorageError (missing, altered or unreadable file) or CoordinatorError (a
  /// tensor missing, extra, of another dtype or shape, or not finite; the message names it).
  void load_checkpoint(const std::filesystem::path& path, const std::string& sha256_hex);

  /// Same as load_checkpoint, from tensors already in memory.
  void load_state(const storage::StateDict& state, const std::string& source);

  /// The networks, e.g. for evaluation. Use them in place: replacing a network (or moving it to
  /// another device or dtype) would leave every view dangling.
  gan::GanModel& model() { return model_; }
  const gan::GanModel& model() const { return model_; }
  const std::string& architecture() const { return model_.architecture; }
  gan::FederationScope scope() const { return scope_; }
  protocol::wire::Codec codec() const { return manifest_.codec(); }

  /// The federated tensors (aliases of the model's), in manifest order.
  const std::vector<gan::NamedTensor>& federated() const { return federated_; }

  /// Manifest of the federated tensors under the configured codec: what the model download and
  /// every delta upload declare, and what an upload's manifest is validated against.
  const protocol::wire::Manifest& manifest() const { return manifest_; }

  /// The federated tensors as the TensorStreamWriter takes them; specs equal the manifest's.
  std::vector<protocol::ConstTensorView> views() const;

  /// Layout of the federated tensors for the aggregation library (same names and order).
  const aggregation::ModelLayout& layout() const { return layout_; }
  /// One entry per federated tensor, in manifest order: true for a parameter, false for a buffer
  /// (BatchNorm running statistics), which a server optimizer averages instead of stepping.
  const std::vector<bool>& parameter_mask() const { return parameter_mask_; }
  /// One entry per federated tensor, in manifest order: whether a round that trains `networks`
  /// moves it. Every tensor for kBoth; otherwise the trained network's parameters and every
  /// buffer (both networks' BatchNorm statistics change in any training step), not the other
  /// network's parameters, whose deltas such a round discards.
  std::vector<bool> moving_mask(gan::TrainedNetworks networks) const;
  /// The federated tensors as float pointers, for norms and comparisons.
  aggregation::ConstViews const_views() const;
  /// The same, writable: what StreamingFedAvg::apply_to updates in place.
  aggregation::MutableViews mutable_views();

  /// Every parameter and buffer of both networks (gan::full_state), detached aliases of the
  /// model's tensors: what CheckpointStore::write saves. Not a copy: write it before changing the
  /// model again.
  storage::StateDict state_dict() const;

  /// Bytes of the federated tensors in memory (float32).
  size_t federated_bytes() const { return layout_.num_parameters() * sizeof(float); }

 private:
  void describe();

  gan::GanModel model_;
  gan::FederationScope scope_;
  std::vector<gan::NamedTensor> federated_;
  std::vector<protocol::wire::TensorSpec> specs_;
  protocol::wire::Manifest manifest_;
  aggregation::ModelLayout layout_;
  std::vector<bool> parameter_mask_;
};

/// Float32 buffers shaped like a GlobalModel's federated tensors, in one contiguous block: an
/// upload is decoded into it by a TensorStreamReader, screened and clipped through the aggregation
/// views, then folded into the aggregate. The coordinator keeps one per upload in progress. Not
/// thread-safe.
class DeltaBuffer {
 public:
  /// Buffers for `model`'s federated tensors, left uninitialised: a transfer writes every value
  /// before its reader's finish() passes (chunks must cover the manifest's bytes in order), so
  /// admitting an upload costs no pass over the model's size. Call zero() to start from zeros.
  /// Keeps no reference to `model`.
  explicit DeltaBuffer(const GlobalModel& model);

  /// Where a TensorStreamReader decodes an upload: one view per federated tensor, specs equal to
  /// the model's manifest, pointing into this buffer.
  std::vector<protocol::MutableTensorView> destinations();
  /// The buffer as the aggregation library reads it (StreamingFedAvg::add, l2_norm).
  aggregation::ConstViews views() const;
  /// The buffer as the aggregation library writes it (clip_to_norm).
  aggregation::MutableViews mutable_views();
  /// Sets every value to 0.
  void zero();

  const aggregation::ModelLayout& layout() const { return layout_; }
  /// Bytes of float32 data held.
  size_t bytes() const { return size_ * sizeof(float); }

 private:
  std::vector<protocol::wire::TensorSpec> specs_;
  aggregation::ModelLayout layout_;
  std::vector<size_t> offsets_;  // where each tensor starts in values_
  size_t size_ = 0;
  std::unique_ptr<float[]> values_;
};

}  // namespace fedgan::coordinator
