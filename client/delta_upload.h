#pragma once

#include "client/local_round.h"
#include "protocol/connection.h"
#include "protocol/tensor_stream.h"

#include <memory>
#include <vector>

namespace fedgan::client {

/// One delta on its way to the coordinator: the UpdateHeader that announces it, and, once that
/// was admitted, its chunks and TransferEnd. The values are copied when the upload is made, so the
/// connection's thread can encode them while the caller goes on (to plan the next task, say);
/// memory is one copy of the federated tensors.
class DeltaUpload {
 public:
  /// Copies `delta` (LocalRound::delta_views()). Throws ClientError when `codec` is CODEC_FP16 and
  /// a value is beyond the binary16 range (it could not be encoded).
  DeltaUpload(const std::vector<protocol::ConstTensorView>& delta, wire::Codec codec);

  /// The UpdateHeader: the task's round and nonce, the sample count, the round's metrics
  /// (generator_loss, discriminator_loss, train_seconds, samples_per_second) and the delta's
  /// manifest.
  wire::Envelope header(const TaskPlan& plan, const RoundReport& report, int64_t num_samples) const;

  /// Queues the chunks behind whatever `connection` has queued, then the TransferEnd. Returns
  /// false when the connection has already ended. Call once.
  bool send(const std::shared_ptr<protocol::Connection>& connection) const;

 private:
  struct Values;
  std::shared_ptr<Values> values_;  // shared with the stream's callbacks
  std::shared_ptr<protocol::TensorStreamWriter> writer_;
};

}  // namespace fedgan::client
