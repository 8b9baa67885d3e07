#pragma once

#include "protocol/error.h"

#include <cstddef>
#include <cstdint>

namespace fedgan::protocol {

/// Bytes one element of `dtype` takes on the wire under `codec`: CODEC_FP16 halves float32
/// tensors, other dtypes travel as they are. Throws ProtocolError(MALFORMED) for an unknown dtype
/// or codec.
size_t encoded_element_bytes(wire::DType dtype, wire::Codec codec);

/// Encoded size of one tensor. Rejects (MANIFEST_SHAPE) negative dimensions, more than
/// kMaxTensorDims dimensions, and sizes whose product would exceed kMaxManifestBytes, checking
/// step by step so no product overflows.
uint64_t encoded_tensor_bytes(const wire::TensorSpec& spec, wire::Codec codec);

inline constexpr int kMaxTensorDims = 8;
/// Upper bound on a whole model's encoded size (64 GiB): a guard against absurd headers, far above
/// any model this system trains.
inline constexpr uint64_t kMaxManifestBytes = uint64_t{64} << 30;

/// Checks a peer's manifest against the one this side expects, before any tensor byte is read.
/// Tensors must match in order. Each kind of mismatch has its own status: MANIFEST_MISSING (fewer
/// tensors), MANIFEST_EXTRA (more), MANIFEST_NAME, MANIFEST_DTYPE, MANIFEST_SHAPE, and
/// MANIFEST_BYTES when total_bytes differs from what the tensors imply; MALFORMED when the codec is
/// not one of `accepted_codecs` (a bit mask of 1 << Codec). The message names the tensor.
void validate_manifest(const wire::Manifest& received, const wire::Manifest& expected,
                       uint32_t accepted_codecs);

/// Reassembles the chunks of one transfer straight into a caller-owned destination buffer of
/// exactly the manifest's total_bytes: each chunk is bounds-checked before its bytes are copied,
/// and chunks must arrive in order without gaps or overlaps. Memory use is the destination only.
/// The first error is remembered and raised again by later calls. Not thread-safe.
class ChunkAssembler {
 public:
  /// `destination` must stay valid for the assembler's lifetime (owned by the caller).
  ChunkAssembler(uint8_t* destination, uint64_t total_bytes);

  /// Copies one chunk in place. Throws ProtocolError(MANIFEST_BYTES) for a chunk that does not
  /// start where the previous one ended or would run past total_bytes.
  void add(const wire::TensorChunk& chunk);

  /// Checks that every byte arrived (MANIFEST_BYTES otherwise).
  void finish() const;

  uint64_t received_bytes() const { return received_; }
  bool complete() const { return received_ == total_; }

 private:
  uint8_t* destination_;  // owned by the caller, outlives the assembler
  uint64_t total_;
  uint64_t received_ = 0;
  bool broken_ = false;
};

}  // namespace fedgan::protocol
