#pragma once

// A model download as the coordinator will do it: Task with the manifest, the chunks as a
// stream, TransferEnd; the client decodes straight into its own tensors. Used by the 256 MiB unit
// test and the 1 GiB slow test.

#include "protocol/frame.h"

#include <cstddef>
#include <cstdint>

namespace fedgan::protocol::testing {

struct ModelTransferResult {
  bool identical = false;         // every received value equals the one sent (fp32) or its half
  uint64_t model_bytes = 0;       // source model in memory
  uint64_t wire_bytes = 0;        // encoded tensor bytes
  size_t peak_extra_bytes = 0;    // VmHWM growth during the transfer, beyond source + destination
  size_t sender_peak_queued = 0;  // largest frame backlog of the sending connection
  double seconds = 0;
};

/// Streams `tensors` float32 tensors of `floats_per_tensor` values each from a server connection
/// to a client connection over loopback mutual TLS, with `chunk_bytes` chunks.
ModelTransferResult transfer_model(size_t tensors, size_t floats_per_tensor, wire::Codec codec,
                                   size_t chunk_bytes);

/// Peak resident memory of this process (VmHWM), in bytes.
size_t peak_rss_bytes();

}  // namespace fedgan::protocol::testing
