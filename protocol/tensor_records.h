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

}  // namespace fedgan::protocol
