#include "protocol/tensor_records.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fedgan::protocol {
namespace {

constexpr uint32_t kFp32AndFp16 = (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16);

void add_tensor(wire::Manifest& m, const std::string& name, wire::DType dtype,
                std::vector<int64_t> shape) {
  auto* t = m.add_tensors();
  t->set_name(name);
  t->set_dtype(dtype);
  for (int64_t d : shape) t->add_shape(d);
}

// The expected model: a 3x4 float32 weight, a float32 bias of 4, an int64 counter (scalar).
wire::Manifest expected_manifest(wire::Codec codec = wire::CODEC_FP32) {
  wire::Manifest m;
  add_tensor(m, "w", wire::DTYPE_FLOAT32, {3, 4});
  add_tensor(m, "b", wire::DTYPE_FLOAT32, {4});
  add_tensor(m, "n", wire::DTYPE_INT64, {});
  m.set_codec(codec);
  const int float_bytes = codec == wire::CODEC_FP16 ? 2 : 4;
  m.set_total_bytes(12 * float_bytes + 4 * float_bytes + 8);
  return m;
}

wire::StatusCode validation_status(const wire::Manifest& received) {
  try {
    validate_manifest(received, expected_manifest(), kFp32AndFp16);
  } catch (const ProtocolError& e) {
    return e.code();
  }
  return wire::STATUS_OK;
}

TEST(Manifest, MatchingManifestPassesForEachAcceptedCodec) {
  EXPECT_EQ(validation_status(expected_manifest()), wire::STATUS_OK);
  EXPECT_EQ(expected_manifest(wire::CODEC_FP16).total_bytes(), 12u * 2 + 4 * 2 + 8);
  EXPECT_NO_THROW(
      validate_manifest(expected_manifest(wire::CODEC_FP16), expected_manifest(), kFp32AndFp16));
}

TEST(Manifest, EachMismatchHasItsOwnStatus) {
  auto renamed = expected_manifest();
  renamed.mutable_tensors(1)->set_name("bias");
  EXPECT_EQ(validation_status(renamed), wire::STATUS_MANIFEST_NAME);

  auto retyped = expected_manifest();
  retyped.mutable_tensors(2)->set_dtype(wire::DTYPE_FLOAT32);
  retyped.set_total_bytes(12 * 4 + 4 * 4 + 4);
  EXPECT_EQ(validation_status(retyped), wire::STATUS_MANIFEST_DTYPE);

  auto reshaped = expected_manifest();
  reshaped.mutable_tensors(0)->set_shape(1, 3);
  EXPECT_EQ(validation_status(reshaped), wire::STATUS_MANIFEST_SHAPE);

  auto miscounted = expected_manifest();
  miscounted.set_total_bytes(miscounted.total_bytes() + 1);
  EXPECT_EQ(validation_status(miscounted), wire::STATUS_MANIFEST_BYTES);

  auto missing = expected_manifest();
  missing.mutable_tensors()->RemoveLast();
  missing.set_total_bytes(12 * 4 + 4 * 4);
  EXPECT_EQ(validation_status(missing), wire::STATUS_MANIFEST_MISSING);

  auto extra = expected_manifest();
  add_tensor(extra, "x", wire::DTYPE_FLOAT32, {1});
  EXPECT_EQ(validation_status(extra), wire::STATUS_MANIFEST_EXTRA);

  auto unknown_codec = expected_manifest();
  unknown_codec.set_codec(static_cast<wire::Codec>(9));
  EXPECT_EQ(validation_status(unknown_codec), wire::STATUS_MALFORMED);
}

TEST(Manifest, MessagesNameTheTensor) {
  auto reshaped = expected_manifest();
  reshaped.mutable_tensors(0)->set_shape(1, 5);
  try {
    validate_manifest(reshaped, expected_manifest(), kFp32AndFp16);
    FAIL() << "expected a shape mismatch";
  } catch (const ProtocolError& e) {
    EXPECT_STREQ(e.what(), "tensor 'w' has shape [3, 5], expected [3, 4]");
  }
}

// A peer's tensor names reach logs and the coordinator's database through these messages.
TEST(Manifest, MessagesQuoteAPeersNameBoundedAndPrintable) {
  auto renamed = expected_manifest();
  renamed.mutable_tensors(0)->set_name("w\nforged log line");
  try {
    validate_manifest(renamed, expected_manifest(), kFp32AndFp16);
    FAIL() << "expected a name mismatch";
  } catch (const ProtocolError& e) {
    EXPECT_STREQ(e.what(), "tensor 0 is named 'w\\x0aforged log line', expected 'w'");
  }
  auto huge = expected_manifest();
  // Under glibc's 128 KiB mmap threshold: a freed mapping would raise it for the rest of the
  // program, and FreedMemory's test counts the faults of glibc's defaults.
  huge.mutable_tensors(0)->set_name(std::string(100'000, 'n'));
  try {
    validate_manifest(huge, expected_manifest(), kFp32AndFp16);
    FAIL() << "expected a name mismatch";
  } catch (const ProtocolError& e) {
    const std::string message = e.what();
    EXPECT_LT(message.size(), 200u);
    EXPECT_NE(message.find("... (100000 bytes)'"), std::string::npos) << message;
  }
  auto extra = expected_manifest();
  add_tensor(extra, std::string(300, '\x01'), wire::DTYPE_FLOAT32, {1});
  try {
    validate_manifest(extra, expected_manifest(), kFp32AndFp16);
    FAIL() << "expected an extra tensor";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), wire::STATUS_MANIFEST_EXTRA);
    EXPECT_LT(std::string(e.what()).size(), 200u);
    EXPECT_NE(std::string(e.what()).find("\\x01\\x01"), std::string::npos);
  }
}

TEST(TensorBytes, HugeOrNegativeShapesAreRefusedWithoutOverflow) {
  wire::TensorSpec huge;
  huge.set_name("h");
  huge.set_dtype(wire::DTYPE_FLOAT32);
  for (int i = 0; i < 4; ++i) huge.add_shape(int64_t{1} << 20);  // 2^80 elements
  EXPECT_THROW(encoded_tensor_bytes(huge, wire::CODEC_FP32), ProtocolError);
  wire::TensorSpec negative;
  negative.set_dtype(wire::DTYPE_FLOAT32);
  negative.add_shape(-4);
  EXPECT_THROW(encoded_tensor_bytes(negative, wire::CODEC_FP32), ProtocolError);
  wire::TensorSpec deep;
  deep.set_dtype(wire::DTYPE_FLOAT32);
  for (int i = 0; i < kMaxTensorDims + 1; ++i) deep.add_shape(1);
  EXPECT_THROW(encoded_tensor_bytes(deep, wire::CODEC_FP32), ProtocolError);
  wire::TensorSpec empty;
  empty.set_dtype(wire::DTYPE_INT64);
  empty.add_shape(0);
  EXPECT_EQ(encoded_tensor_bytes(empty, wire::CODEC_FP32), 0u);
}

wire::TensorChunk chunk(uint64_t offset, const std::string& data) {
  wire::TensorChunk c;
  c.set_offset(offset);
  c.set_data(data);
  return c;
}

}  // namespace
}  // namespace fedgan::protocol
