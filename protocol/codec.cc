#include "protocol/codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#endif

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

namespace {

// Values are checked and converted in blocks small enough to stay in the L1 cache between the
// check and the copy, and large enough that the per-block work does not show.
constexpr size_t kBlock = 2048;

// Bit 31 of the result is set when one of the `count` binary32 bit patterns has all exponent bits
// set (an infinity or a NaN). Integer arithmetic only, so the loop vectorises with SSE2.
uint32_t non_finite_flag(const uint32_t* bits, size_t count) {
  uint32_t flag = 0;
  for (size_t i = 0; i < count; ++i) flag |= (bits[i] & 0x7F800000u) + 0x00800000u;
  return flag & 0x80000000u;
}

// Nonzero when some value's magnitude would round to a binary16 infinity (or is not finite):
// |v| >= 65520, the midpoint between the largest half and 2^16, whose tie goes to the even
// neighbour, infinity.
uint32_t beyond_half_flag(const uint32_t* bits, size_t count) {
  constexpr int32_t kFirstBeyond = 0x477FF000;  // 65520.0f
  uint32_t flag = 0;
  for (size_t i = 0; i < count; ++i) {
    flag |= static_cast<uint32_t>(static_cast<int32_t>(bits[i] & 0x7FFFFFFFu) >= kFirstBeyond);
  }
  return flag;
}

// Bit 15 of the result is set when some half has all exponent bits set.
uint32_t non_finite_half_flag(const uint16_t* halves, size_t count) {
  uint32_t flag = 0;
  for (size_t i = 0; i < count; ++i) flag |= (halves[i] & 0x7C00u) + 0x0400u;
  return flag & 0x8000u;
}

// One block's bits, copied out so the checks read aligned integers whatever the caller's layout.
template <typename T>
void load_block(const void* from, size_t count, T* block) {
  std::memcpy(block, from, count * sizeof(T));
}

[[noreturn]] void refuse_to_encode(const float* values, size_t count, size_t offset,
                                   wire::Codec codec) {
  for (size_t i = 0; i < count; ++i) {
    check(std::isfinite(values[i]), wire::STATUS_NON_FINITE, "value {} at index {} is not finite",
          values[i], offset + i);
    check(codec != wire::CODEC_FP16 || std::abs(values[i]) < 65520.0f, wire::STATUS_NON_FINITE,
          "value {} at index {} is beyond the fp16 range (+-{}); send fp32", values[i], offset + i,
          kMaxHalf);
  }
  throw ProtocolError(wire::STATUS_INTERNAL, "a value was refused but none is out of range");
}

// Throws for the first received value that is not finite, without storing any of the block, so
// hostile values never reach the caller's tensors.
template <typename Bits>
[[noreturn]] void refuse_decoded(const Bits* values, size_t count, size_t offset) {
  for (size_t i = 0; i < count; ++i) {
    float value;
    if constexpr (sizeof(Bits) == 4) {
      value = bits_float(values[i]);
    } else {
      value = half_to_float(values[i]);
    }
    check(std::isfinite(value), wire::STATUS_NON_FINITE, "received value at index {} is {}",
          offset + i, std::isnan(value) ? "NaN" : "infinite");
  }
  throw ProtocolError(wire::STATUS_INTERNAL, "a value was refused but all are finite");
}

void halves_from_floats_portable(const float* values, size_t count, uint16_t* halves) {
  for (size_t i = 0; i < count; ++i) halves[i] = float_to_half(values[i]);
}

void floats_from_halves_portable(const uint16_t* halves, size_t count, float* values) {
  for (size_t i = 0; i < count; ++i) values[i] = half_to_float(halves[i]);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// F16C converts 8 values per instruction with IEEE round-to-nearest-even, subnormals included,
// so it gives the portable functions' results bit for bit (codec_test compares every half). The
// build targets baseline x86-64, so these are compiled for F16C alone and chosen at run time.
__attribute__((target("avx,f16c"))) void halves_from_floats_f16c(const float* values, size_t count,
                                                                 uint16_t* halves) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i packed = _mm256_cvtps_ph(_mm256_loadu_ps(values + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(halves + i), packed);
  }
  halves_from_floats_portable(values + i, count - i, halves + i);
}

__attribute__((target("avx,f16c"))) void floats_from_halves_f16c(const uint16_t* halves,
                                                                 size_t count, float* values) {
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(halves + i));
    _mm256_storeu_ps(values + i, _mm256_cvtph_ps(packed));
  }
  floats_from_halves_portable(halves + i, count - i, values + i);
}

// __builtin_cpu_supports("avx") also checks that the OS saves the AVX registers; not every
// compiler knows "f16c" there, so that bit (CPUID leaf 1, ECX) is read directly. Once per process:
// in a virtual machine CPUID traps to the hypervisor.
bool has_f16c() {
  static const bool supported = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 &&
           (ecx & bit_F16C) != 0;
  }();
  return supported;
}

void halves_from_floats(const float* values, size_t count, uint16_t* halves) {
  if (has_f16c()) return halves_from_floats_f16c(values, count, halves);
  halves_from_floats_portable(values, count, halves);
}

void floats_from_halves(const uint16_t* halves, size_t count, float* values) {
  if (has_f16c()) return floats_from_halves_f16c(halves, count, values);
  floats_from_halves_portable(halves, count, values);
}
#else
void halves_from_floats(const float* values, size_t count, uint16_t* halves) {
  halves_from_floats_portable(values, count, halves);
}

void floats_from_halves(const uint16_t* halves, size_t count, float* values) {
  floats_from_halves_portable(halves, count, values);
}
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool kBigEndianHost = true;
#else
constexpr bool kBigEndianHost = false;
#endif

// The wire is little-endian; on a big-endian host each value's bytes are reversed in place.
template <typename T>
void to_little_endian(T* values, size_t count) {
  if constexpr (kBigEndianHost) {
    for (size_t i = 0; i < count; ++i) {
      auto* bytes = reinterpret_cast<uint8_t*>(values + i);
      std::reverse(bytes, bytes + sizeof(T));
    }
  }
}

}  // namespace

void encode_floats(const float* values, size_t count, wire::Codec codec, uint8_t* out) {
  check(codec == wire::CODEC_FP32 || codec == wire::CODEC_FP16, wire::STATUS_MALFORMED,
        "cannot encode floats with codec {}", static_cast<int>(codec));
  uint32_t bits[kBlock];
  uint16_t halves[kBlock];
  for (size_t done = 0; done < count; done += kBlock) {
    const size_t n = std::min(kBlock, count - done);
    load_block(values + done, n, bits);
    if (codec == wire::CODEC_FP32) {
      if (non_finite_flag(bits, n) != 0) refuse_to_encode(values + done, n, done, codec);
      to_little_endian(bits, n);
      std::memcpy(out + done * 4, bits, n * 4);
    } else {
      if (beyond_half_flag(bits, n) != 0) refuse_to_encode(values + done, n, done, codec);
      halves_from_floats(values + done, n, halves);
      to_little_endian(halves, n);
      std::memcpy(out + done * 2, halves, n * 2);
    }
  }
}

void decode_floats(const uint8_t* bytes, size_t count, wire::Codec codec, float* out) {
  check(codec == wire::CODEC_FP32 || codec == wire::CODEC_FP16, wire::STATUS_MALFORMED,
        "cannot decode floats with codec {}", static_cast<int>(codec));
  uint32_t bits[kBlock];
  uint16_t halves[kBlock];
  for (size_t done = 0; done < count; done += kBlock) {
    const size_t n = std::min(kBlock, count - done);
    if (codec == wire::CODEC_FP32) {
      load_block(bytes + done * 4, n, bits);
      to_little_endian(bits, n);
      if (non_finite_flag(bits, n) != 0) refuse_decoded(bits, n, done);
      std::memcpy(out + done, bits, n * 4);
    } else {
      load_block(bytes + done * 2, n, halves);
      to_little_endian(halves, n);
      if (non_finite_half_flag(halves, n) != 0) refuse_decoded(halves, n, done);
      floats_from_halves(halves, n, out + done);
    }
  }
}

}  // namespace fedgan::protocol
