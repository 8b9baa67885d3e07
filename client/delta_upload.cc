#include "client/delta_upload.h"

#include "client/error.h"
#include "protocol/frame.h"
#include "protocol/metric_names.h"

#include <torch/torch.h>

namespace fedgan::client {
namespace {

// Largest finite binary16 value.
constexpr float kMaxHalf = 65504.0f;

}  // namespace

struct DeltaUpload::Values {
  std::vector<torch::Tensor> tensors;
  std::vector<protocol::ConstTensorView> views;  // into `tensors`
};

DeltaUpload::DeltaUpload(const std::vector<protocol::ConstTensorView>& delta, wire::Codec codec)
    : values_(std::make_shared<Values>()) {
  for (const auto& view : delta) {
    const std::vector<int64_t> shape(view.spec.shape().begin(), view.spec.shape().end());
    // from_blob only reads here: clone() copies the values out.
    auto copy = torch::from_blob(const_cast<void*>(view.data), shape, torch::kFloat32).clone();
    if (codec == wire::CODEC_FP16 && copy.numel() > 0) {
      check(copy.abs().max().item<float>() <= kMaxHalf,
            "the delta of '{}' has values beyond the fp16 range the task's codec can carry",
            view.spec.name());
    }
    values_->views.push_back({view.spec, copy.data_ptr()});
    values_->tensors.push_back(std::move(copy));
  }
  writer_ = std::make_shared<protocol::TensorStreamWriter>(values_->views, codec);
}

wire::Envelope DeltaUpload::header(const TaskPlan& plan, const RoundReport& report,
                                   int64_t num_samples) const {
  wire::Envelope envelope;
  auto* update = envelope.mutable_update();
  update->set_round(plan.round);
  update->set_nonce(plan.nonce);
  update->set_num_samples(static_cast<uint64_t>(num_samples));
  auto& metrics = *update->mutable_metrics();
  namespace metric = protocol::metric;
  metrics[metric::kGeneratorLoss] = report.generator_loss;
  metrics[metric::kDiscriminatorLoss] = report.discriminator_loss;
  metrics[metric::kTrainSeconds] = report.train_seconds;
  metrics[metric::kSamplesPerSecond] = report.samples_per_second;
  metrics[metric::kDownloadSeconds] = report.download_seconds;
  metrics[metric::kDeltaSeconds] = report.delta_seconds;
  *update->mutable_delta() = writer_->manifest();
  return envelope;
}

bool DeltaUpload::send(const std::shared_ptr<protocol::Connection>& connection) const {
  try {
    connection->send_frames(
        [writer = writer_, values = values_]() -> protocol::Connection::SharedFrame {
          std::vector<uint8_t> frame;
          if (!writer->next_chunk_frame(frame, protocol::kDefaultMaxFrameBytes)) return nullptr;
          return std::make_shared<const std::vector<uint8_t>>(std::move(frame));
        },
        // Weak: the connection holds this callback until the stream ends.
        [writer = writer_, weak = std::weak_ptr<protocol::Connection>(connection)] {
          const auto connection = weak.lock();
          if (!connection) return;
          wire::Envelope end;
          *end.mutable_transfer_end() = writer->transfer_end();
          try {
            connection->send(end);
          } catch (const std::exception&) {
            // The connection has ended; its close handler reports it.
          }
        });
  } catch (const protocol::TransportError&) {
    return false;
  }
  return true;
}

}  // namespace fedgan::client
