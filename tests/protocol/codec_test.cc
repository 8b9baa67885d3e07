#include "protocol/codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

namespace fedgan::protocol {
namespace {

TEST(Half, KnownBitPatterns) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half(-2.0f), 0xC000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_half(0.1f), 0x2E66);
  EXPECT_EQ(float_to_half(65536.0f), 0x7C00);               // overflow to infinity
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -26)), 0x0000);  // underflow to zero
}

TEST(Half, RoundsToNearestTiesToEven) {
  const float ulp = std::ldexp(1.0f, -10);               // spacing of halves in [1, 2)
  EXPECT_EQ(float_to_half(1.0f + ulp / 2), 0x3C00);      // tie: to even (1.0)
  EXPECT_EQ(float_to_half(1.0f + 3 * ulp / 2), 0x3C02);  // tie: to even (1 + 2 ulp)
  EXPECT_EQ(float_to_half(1.0f + 0.6f * ulp), 0x3C01);   // above the tie: up
  EXPECT_EQ(float_to_half(65519.0f), 0x7BFF);            // just below the overflow tie
  EXPECT_EQ(float_to_half(65520.0f), 0x7C00);            // the tie rounds to infinity
}

TEST(Half, EveryFiniteHalfSurvivesTheRoundTripExactly) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto half = static_cast<uint16_t>(h);
    if ((half & 0x7C00) == 0x7C00) continue;  // infinities and NaNs
    EXPECT_EQ(float_to_half(half_to_float(half)), half) << std::hex << h;
  }
  EXPECT_TRUE(std::isinf(half_to_float(0x7C00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
}

TEST(FloatCodec, Fp32IsLittleEndianAndRoundTripsExactly) {
  const std::vector<float> values = {1.0f, -0.5f, 3.14159f, 1e-30f};
  std::vector<uint8_t> bytes(values.size() * 4);
  encode_floats(values.data(), values.size(), wire::CODEC_FP32, bytes.data());
  EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 4),
            (std::vector<uint8_t>{0x00, 0x00, 0x80, 0x3F}));
  std::vector<float> back(values.size());
  decode_floats(bytes.data(), values.size(), wire::CODEC_FP32, back.data());
  EXPECT_EQ(back, values);
}

TEST(FloatCodec, Fp16HalvesTheBytesWithinHalfPrecision) {
  const std::vector<float> values = {0.25f, -1000.5f, 0.333333f};
  std::vector<uint8_t> bytes(values.size() * 2);
  encode_floats(values.data(), values.size(), wire::CODEC_FP16, bytes.data());
  EXPECT_EQ(bytes[0], 0x00);
  EXPECT_EQ(bytes[1], 0x34);  // 0.25 = 0x3400, little-endian
  std::vector<float> back(values.size());
  decode_floats(bytes.data(), values.size(), wire::CODEC_FP16, back.data());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_NEAR(back[i], values[i], std::abs(values[i]) * std::ldexp(1.0, -11));
  }
}

ProtocolError error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ProtocolError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ProtocolError";
  return ProtocolError(wire::STATUS_OK, "");
}

TEST(FloatCodec, NonFiniteValuesAreRefusedOnBothSidesWithTheirIndex) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint8_t> out(8);
  const std::vector<float> with_nan = {1.0f, nan};
  auto e = error_of([&] { encode_floats(with_nan.data(), 2, wire::CODEC_FP32, out.data()); });
  EXPECT_EQ(e.code(), wire::STATUS_NON_FINITE);
  EXPECT_NE(std::string(e.what()).find("index 1"), std::string::npos);
  const float too_big = 70000.0f;
  e = error_of([&] { encode_floats(&too_big, 1, wire::CODEC_FP16, out.data()); });
  EXPECT_EQ(e.code(), wire::STATUS_NON_FINITE);
  EXPECT_NE(std::string(e.what()).find("fp16 range"), std::string::npos);

  float decoded[2];
  const std::vector<uint8_t> hostile_fp32 = {0, 0, 0x80, 0x3F, 0, 0, 0x80, 0x7F};  // 1.0, +inf
  e = error_of([&] { decode_floats(hostile_fp32.data(), 2, wire::CODEC_FP32, decoded); });
  EXPECT_EQ(e.code(), wire::STATUS_NON_FINITE);
  EXPECT_NE(std::string(e.what()).find("index 1 is infinite"), std::string::npos);
  const std::vector<uint8_t> hostile_fp16 = {0x00, 0x7E};  // NaN
  e = error_of([&] { decode_floats(hostile_fp16.data(), 1, wire::CODEC_FP16, decoded); });
  EXPECT_NE(std::string(e.what()).find("index 0 is NaN"), std::string::npos);
}

// Every finite half, and the midpoint above each one (a tie, rounded to even) and values just
// around it: the bulk path (F16C where the CPU has it) must give float_to_half's bits exactly.
TEST(FloatCodec, Fp16BulkEncodingMatchesTheScalarConversionBitForBit) {
  std::vector<float> values;
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const auto half = static_cast<uint16_t>(h);
    if ((half & 0x7C00) == 0x7C00) continue;
    const float value = half_to_float(half);
    values.push_back(value);
    if ((half & 0x7FFF) == 0x7BFF) continue;  // above the largest half is the overflow tie
    const float next = half_to_float(static_cast<uint16_t>(half + 1));  // next magnitude
    const float tie = value + (next - value) / 2;
    values.insert(values.end(), {tie, std::nextafter(tie, 0.0f), std::nextafter(tie, 1e9f),
                                 std::nextafter(tie, -1e9f)});
  }
  values.push_back(std::nextafter(65520.0f, 0.0f));  // the largest float that stays finite
  std::vector<uint8_t> bytes(values.size() * 2);
  encode_floats(values.data(), values.size(), wire::CODEC_FP16, bytes.data());
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t expected = float_to_half(values[i]);
    const auto got = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    ASSERT_EQ(got, expected) << "value " << values[i] << " at index " << i;
  }
}

TEST(FloatCodec, Fp16BulkDecodingMatchesTheScalarConversionBitForBit) {
  std::vector<uint8_t> bytes;
  std::vector<uint16_t> halves;
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;
    halves.push_back(static_cast<uint16_t>(h));
    bytes.push_back(static_cast<uint8_t>(h));
    bytes.push_back(static_cast<uint8_t>(h >> 8));
  }
  std::vector<float> decoded(halves.size());
  decode_floats(bytes.data(), halves.size(), wire::CODEC_FP16, decoded.data());
  for (size_t i = 0; i < halves.size(); ++i) {
    const float expected = half_to_float(halves[i]);
    ASSERT_EQ(std::memcmp(&decoded[i], &expected, sizeof expected), 0)
        << std::hex << "half 0x" << halves[i];
  }
}

// Long arrays are checked in blocks: the index in a refusal still counts from the first value, and
// a refused value never reaches the decoded output.
TEST(FloatCodec, RefusalsInLongArraysNameTheIndexFromTheStart) {
  std::vector<float> values(10000, 0.5f);
  std::vector<uint8_t> bytes(values.size() * 4);
  values[5000] = std::numeric_limits<float>::infinity();
  auto e = error_of(
      [&] { encode_floats(values.data(), values.size(), wire::CODEC_FP32, bytes.data()); });
  EXPECT_NE(std::string(e.what()).find("at index 5000 is not finite"), std::string::npos)
      << e.what();
  values[5000] = 0.5f;
  values[4097] = -65520.0f;
  e = error_of(
      [&] { encode_floats(values.data(), values.size(), wire::CODEC_FP16, bytes.data()); });
  EXPECT_NE(std::string(e.what()).find("at index 4097 is beyond the fp16 range"), std::string::npos)
      << e.what();
  values[4097] = 0.5f;

  encode_floats(values.data(), values.size(), wire::CODEC_FP32, bytes.data());
  const uint8_t nan_fp32[4] = {0x00, 0x00, 0xC0, 0x7F};
  std::memcpy(bytes.data() + 9999 * 4, nan_fp32, 4);
  std::vector<float> decoded(values.size(), 7.0f);
  e = error_of(
      [&] { decode_floats(bytes.data(), values.size(), wire::CODEC_FP32, decoded.data()); });
  EXPECT_NE(std::string(e.what()).find("index 9999 is NaN"), std::string::npos) << e.what();
  EXPECT_EQ(decoded[9999], 7.0f);

  encode_floats(values.data(), values.size(), wire::CODEC_FP16, bytes.data());
  bytes[2 * 2048] = 0x00;
  bytes[2 * 2048 + 1] = 0xFC;  // -infinity
  std::fill(decoded.begin(), decoded.end(), 7.0f);
  e = error_of(
      [&] { decode_floats(bytes.data(), values.size(), wire::CODEC_FP16, decoded.data()); });
  EXPECT_NE(std::string(e.what()).find("index 2048 is infinite"), std::string::npos) << e.what();
  EXPECT_EQ(decoded[2048], 7.0f);
}

}  // namespace
}  // namespace fedgan::protocol
