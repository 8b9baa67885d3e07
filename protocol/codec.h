#pragma once

#include "protocol/error.h"

#include <cstddef>
#include <cstdint>

namespace fedgan::protocol {

/// IEEE 754 binary16 from binary32, rounded to nearest, ties to even; values beyond the half range
/// become infinity, NaN stays NaN.
uint16_t float_to_half(float value);

/// Exact binary32 value of a binary16 bit pattern.
float half_to_float(uint16_t half);

/// Largest finite binary16 value.
inline constexpr float kMaxHalf = 65504.0f;

/// Encodes `count` float32 values for the wire under `codec`: little-endian binary32 (CODEC_FP32,
/// 4 bytes each) or little-endian binary16 (CODEC_FP16, 2 bytes each) into `out`. Throws
/// ProtocolError(NON_FINITE) for a NaN or infinite value, or, under FP16, a value that would round
/// to infinity; the message gives the index.
void encode_floats(const float* values, size_t count, wire::Codec codec, uint8_t* out);

/// Decodes `count` values of `codec` from `bytes` into `out`, rejecting NaN and infinity with
/// ProtocolError(NON_FINITE) and the index, so hostile data never reaches arithmetic.
void decode_floats(const uint8_t* bytes, size_t count, wire::Codec codec, float* out);

}  // namespace fedgan::protocol
