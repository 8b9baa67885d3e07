#pragma once

#include "coordinator/global_model.h"
#include "protocol/connection.h"
#include "protocol/tensor_stream.h"

#include <cstddef>
#include <mutex>
#include <optional>
#include <vector>

namespace fedgan::coordinator {

/// The federated values of the global model as sent in one round, encoded and framed once
/// for every client of the round: each connection writes the same frames. Chunks are encoded as
/// the first connection asks for each, so the first bytes leave while the rest of the model is
/// still being encoded, rather than after a pass over all of it. Every client of the
/// round downloads the same bytes even if the round commits while a slow client is still
/// downloading: the coordinator calls finish() before the global model changes. Thread-safe
/// (connections may pull from several io threads).
class ModelSnapshot {
 public:
  /// Describes the model and checks, with one pass of reads, that each value can be encoded under
  /// `codec`: throws ProtocolError(NON_FINITE) naming the tensor and element otherwise (or, under
  /// CODEC_FP16, for a value beyond its range), so a model that cannot be sent is refused before
  /// any client waits for it. `model`'s values must not change until finish() has returned.
  ModelSnapshot(const GlobalModel& model, protocol::wire::Codec codec);

  const protocol::wire::Manifest& manifest() const { return writer_.manifest(); }
  uint64_t total_bytes() const { return writer_.total_bytes(); }

  /// The frame of chunk `index` (in stream order), encoding the chunks up to it that no connection
  /// has asked for yet; null past the last chunk.
  protocol::Connection::SharedFrame frame(size_t index);
  /// The TransferEnd that follows the chunks; encodes whatever is left first.
  protocol::wire::TransferEnd transfer_end();
  /// Encodes every chunk not encoded yet, after which the model may change.
  void finish();

 private:
  void encode_up_to(size_t count);  // with mutex_ held

  std::mutex mutex_;
  protocol::TensorStreamWriter writer_;
  std::vector<protocol::Connection::SharedFrame> frames_;
  std::optional<protocol::wire::TransferEnd> end_;
};

}  // namespace fedgan::coordinator
