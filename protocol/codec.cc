#include "protocol/codec.h"

#include <cmath>
#include <cstring>

namespace fedgan::protocol {
namespace {

uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

float bits_float(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

uint16_t float_to_half(float value) {
  const uint32_t bits = float_bits(value);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t exponent = (bits >> 23) & 0xFFu;
  uint32_t mantissa = bits & 0x7FFFFFu;
  if (exponent == 0xFF) return sign | 0x7C00u | (mantissa != 0 ? 0x200u : 0u);  // inf or NaN
  const int half_exponent = static_cast<int>(exponent) - 127 + 15;
  if (half_exponent >= 0x1F) return sign | 0x7C00u;  // overflow
  if (half_exponent <= 0) {
    // Subnormal half (or zero): shift the mantissa, with its implicit 1, into place.
    if (half_exponent < -10) return sign;
    mantissa |= 0x800000u;
    const int shift = 14 - half_exponent;
    uint32_t half_mantissa = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half_mantissa & 1u))) ++half_mantissa;
    return sign | static_cast<uint16_t>(half_mantissa);
  }
  uint32_t half = (static_cast<uint32_t>(half_exponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFFu;
  // Round to nearest even; a carry into the exponent is correct (it may reach infinity).
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

float half_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1Fu;
  uint32_t mantissa = half & 0x3FFu;
  if (exponent == 0x1F) return bits_float(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0) return bits_float(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_float(sign);
  // Subnormal: normalise into a binary32 normal number.
  int e = -14;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --e;
  }
  return bits_float(sign | (static_cast<uint32_t>(e + 127) << 23) | ((mantissa & 0x3FFu) << 13));
}

void encode_floats(const float* values, size_t count, wire::Codec codec, uint8_t* out) {
  check(codec == wire::CODEC_FP32 || codec == wire::CODEC_FP16, wire::STATUS_MALFORMED,
        "cannot encode floats with codec {}", static_cast<int>(codec));
  for (size_t i = 0; i < count; ++i) {
    check(std::isfinite(values[i]), wire::STATUS_NON_FINITE, "value {} at index {} is not finite",
          values[i], i);
    if (codec == wire::CODEC_FP32) {
      const uint32_t bits = float_bits(values[i]);
      for (int b = 0; b < 4; ++b) *out++ = static_cast<uint8_t>(bits >> (8 * b));
    } else {
      const uint16_t half = float_to_half(values[i]);
      check((half & 0x7C00u) != 0x7C00u, wire::STATUS_NON_FINITE,
            "value {} at index {} is beyond the fp16 range (+-{}); send fp32", values[i], i,
            kMaxHalf);
      *out++ = static_cast<uint8_t>(half);
      *out++ = static_cast<uint8_t>(half >> 8);
    }
  }
}

void decode_floats(const uint8_t* bytes, size_t count, wire::Codec codec, float* out) {
  check(codec == wire::CODEC_FP32 || codec == wire::CODEC_FP16, wire::STATUS_MALFORMED,
        "cannot decode floats with codec {}", static_cast<int>(codec));
  for (size_t i = 0; i < count; ++i) {
    float value;
    if (codec == wire::CODEC_FP32) {
      const uint32_t bits = uint32_t{bytes[0]} | (uint32_t{bytes[1]} << 8) |
                            (uint32_t{bytes[2]} << 16) | (uint32_t{bytes[3]} << 24);
      value = bits_float(bits);
      bytes += 4;
    } else {
      value = half_to_float(static_cast<uint16_t>(bytes[0] | (bytes[1] << 8)));
      bytes += 2;
    }
    check(std::isfinite(value), wire::STATUS_NON_FINITE, "received value at index {} is {}", i,
          std::isnan(value) ? "NaN" : "infinite");
    out[i] = value;
  }
}

}  // namespace fedgan::protocol
