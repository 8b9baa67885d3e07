#include "protocol/tensor_stream.h"

#include "protocol/codec.h"
#include "protocol/frame.h"
#include "protocol/tensor_records.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace fedgan::protocol {
namespace {

constexpr uint32_t kFp32AndFp16 = (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16);

ProtocolError error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ProtocolError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ProtocolError";
  return ProtocolError(wire::STATUS_OK, "");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A small model whose tensors mix dtypes, odd element counts and an empty tensor, so that chunk
// boundaries fall inside elements and between tensors.
struct Model {
  std::vector<float> w = std::vector<float>(15);
  std::vector<int64_t> step = {-3};
  std::vector<float> b = std::vector<float>(7);
  std::vector<int64_t> counts = {1, -2, int64_t{1} << 40, std::numeric_limits<int64_t>::min()};
  std::vector<float> empty;
  std::vector<float> v = std::vector<float>(6);

  explicit Model(float scale = 100.0f, uint32_t seed = 7) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> value(-scale, scale);
    for (auto* tensor : {&w, &b, &v}) {
      for (float& x : *tensor) x = value(rng);
    }
  }

  std::vector<ConstTensorView> views() const {
    return {{tensor_spec("w", wire::DTYPE_FLOAT32, {3, 5}), w.data()},
            {tensor_spec("step", wire::DTYPE_INT64, {}), step.data()},
            {tensor_spec("b", wire::DTYPE_FLOAT32, {7}), b.data()},
            {tensor_spec("counts", wire::DTYPE_INT64, {2, 2}), counts.data()},
            {tensor_spec("empty", wire::DTYPE_FLOAT32, {0, 3}), nullptr},
            {tensor_spec("v", wire::DTYPE_FLOAT32, {2, 3}), v.data()}};
  }

  std::vector<MutableTensorView> destinations() {
    std::vector<MutableTensorView> out;
    for (const auto& view : views()) out.push_back({view.spec, const_cast<void*>(view.data)});
    return out;
  }
};

// What the wire must carry for `model` under `codec`: every element little-endian, in order.
std::string expected_bytes(const Model& model, wire::Codec codec) {
  std::string bytes;
  auto put = [&bytes](uint64_t bits, int width) {
    for (int i = 0; i < width; ++i) bytes.push_back(static_cast<char>(bits >> (8 * i)));
  };
  auto floats = [&](const std::vector<float>& values) {
    for (float x : values) {
      uint32_t bits;
      std::memcpy(&bits, &x, sizeof bits);
      if (codec == wire::CODEC_FP16) {
        put(float_to_half(x), 2);
      } else {
        put(bits, 4);
      }
    }
  };
  auto ints = [&](const std::vector<int64_t>& values) {
    for (int64_t x : values) put(static_cast<uint64_t>(x), 8);
  };
  floats(model.w);
  ints(model.step);
  floats(model.b);
  ints(model.counts);
  floats(model.v);
  return bytes;
}

// Streams every chunk of `writer` into `reader` and returns the concatenated chunk data.
std::string transfer(TensorStreamWriter& writer, TensorStreamReader& reader) {
  std::string wire_bytes;
  wire::TensorChunk chunk;
  while (writer.next_chunk(chunk)) {
    EXPECT_EQ(chunk.offset(), wire_bytes.size());
    EXPECT_EQ(chunk.data().size(),
              std::min<uint64_t>(writer.chunk_bytes(), writer.total_bytes() - chunk.offset()));
    wire_bytes += chunk.data();
    reader.add(chunk);
    EXPECT_LT(reader.carry_bytes(), kMaxElementBytes);
  }
  EXPECT_TRUE(writer.done());
  EXPECT_TRUE(reader.complete());
  reader.finish(writer.transfer_end());
  return wire_bytes;
}

class TensorStreamChunks : public ::testing::TestWithParam<size_t> {};

TEST_P(TensorStreamChunks, Fp32RoundTripIsExactAndTheWireIsLittleEndian) {
  const Model sent;
  Model received(0.0f);
  TensorStreamWriter writer(sent.views(), wire::CODEC_FP32, GetParam());
  EXPECT_EQ(writer.manifest().total_bytes(), 15u * 4 + 8 + 7 * 4 + 4 * 8 + 6 * 4);
  EXPECT_NO_THROW(validate_manifest(writer.manifest(), writer.manifest(), kFp32AndFp16));
  TensorStreamReader reader(writer.manifest(), received.destinations());
  const std::string wire_bytes = transfer(writer, reader);

  EXPECT_EQ(writer.bytes_sent(), writer.manifest().total_bytes());
  EXPECT_EQ(reader.received_bytes(), writer.manifest().total_bytes());
  EXPECT_EQ(wire_bytes, expected_bytes(sent, wire::CODEC_FP32));
  EXPECT_EQ(received.w, sent.w);
  EXPECT_EQ(received.step, sent.step);
  EXPECT_EQ(received.b, sent.b);
  EXPECT_EQ(received.counts, sent.counts);
  EXPECT_EQ(received.v, sent.v);
}

TEST_P(TensorStreamChunks, Fp16RoundTripRoundsFloatsToHalfAndKeepsIntegersExact) {
  const Model sent(1000.0f);
  Model received(0.0f);
  TensorStreamWriter writer(sent.views(), wire::CODEC_FP16, GetParam());
  EXPECT_EQ(writer.manifest().total_bytes(), 15u * 2 + 8 + 7 * 2 + 4 * 8 + 6 * 2);
  TensorStreamReader reader(writer.manifest(), received.destinations());
  const std::string wire_bytes = transfer(writer, reader);

  EXPECT_EQ(wire_bytes, expected_bytes(sent, wire::CODEC_FP16));
  auto rounded = [](std::vector<float> values) {
    for (float& x : values) x = half_to_float(float_to_half(x));
    return values;
  };
  EXPECT_EQ(received.w, rounded(sent.w));
  EXPECT_EQ(received.b, rounded(sent.b));
  EXPECT_EQ(received.v, rounded(sent.v));
  EXPECT_EQ(received.step, sent.step);
  EXPECT_EQ(received.counts, sent.counts);
}

INSTANTIATE_TEST_SUITE_P(SplitAnywhere, TensorStreamChunks,
                         ::testing::Values(size_t{1}, size_t{3}, size_t{7}, size_t{4096},
                                           kDefaultChunkBytes),
                         ::testing::PrintToStringParamName());

TEST(TensorStream, AnEmptyModelIsOneTransferEndAndNoChunk) {
  TensorStreamWriter writer({}, wire::CODEC_FP32);
  TensorStreamReader reader(writer.manifest(), {});
  EXPECT_TRUE(reader.complete());
  EXPECT_EQ(transfer(writer, reader), "");
  EXPECT_EQ(writer.transfer_end().ByteSizeLong(), 0u);
}

TEST(TensorStream, ManifestRefusesWhatCannotBeStreamed) {
  const float x = 1.0f;
  auto status = [](std::vector<ConstTensorView> views, wire::Codec codec) {
    return error_of([&] { make_manifest(views, codec); }).code();
  };
  EXPECT_EQ(status({{tensor_spec("h", wire::DTYPE_FLOAT16, {1}), &x}}, wire::CODEC_FP32),
            wire::STATUS_MANIFEST_DTYPE);
  EXPECT_EQ(status({{tensor_spec("x", wire::DTYPE_FLOAT32, {1}), &x}}, wire::CODEC_UNSPECIFIED),
            wire::STATUS_MALFORMED);
  EXPECT_EQ(status({{tensor_spec("x", wire::DTYPE_FLOAT32, {1}), nullptr}}, wire::CODEC_FP32),
            wire::STATUS_INTERNAL);
  EXPECT_EQ(status({{tensor_spec("x", wire::DTYPE_FLOAT32, {-1}), &x}}, wire::CODEC_FP32),
            wire::STATUS_MANIFEST_SHAPE);
  const std::vector<ConstTensorView> one = {{tensor_spec("x", wire::DTYPE_FLOAT32, {1}), &x}};
  EXPECT_EQ(error_of([&] { TensorStreamWriter(one, wire::CODEC_FP32, 0); }).code(),
            wire::STATUS_INTERNAL);
  EXPECT_EQ(error_of([&] { TensorStreamWriter(one, wire::CODEC_FP32, kMaxChunkBytes + 1); }).code(),
            wire::STATUS_INTERNAL);
}

TEST(TensorStreamWriter, RefusesValuesItCannotEncodeAndRemembers) {
  Model model;
  model.b[4] = std::numeric_limits<float>::quiet_NaN();
  TensorStreamWriter writer(model.views(), wire::CODEC_FP32, 16);
  EXPECT_THROW(writer.transfer_end(), ProtocolError);  // nothing went out yet
  wire::TensorChunk chunk;
  auto error = error_of([&] {
    while (writer.next_chunk(chunk)) {
    }
  });
  EXPECT_EQ(error.code(), wire::STATUS_NON_FINITE);
  EXPECT_TRUE(contains(error.what(), "tensor 'b' has a NaN at index 4")) << error.what();
  EXPECT_TRUE(writer.failed());
  EXPECT_EQ(error_of([&] { writer.next_chunk(chunk); }).code(), wire::STATUS_NON_FINITE);

  Model large;
  large.v[5] = 70000.0f;
  TensorStreamWriter fp16(large.views(), wire::CODEC_FP16, 5);  // the value is split by a chunk
  error = error_of([&] {
    while (fp16.next_chunk(chunk)) {
    }
  });
  EXPECT_EQ(error.code(), wire::STATUS_NON_FINITE);
  EXPECT_TRUE(contains(error.what(), "tensor 'v' value 70000 at index 5 is beyond the fp16 range"))
      << error.what();
}

// Every chunk frame, byte for byte, equals encode_frame of the Envelope next_chunk fills: the
// offset omitted at 0, varints of one to four bytes for offsets and lengths, the last chunk short.
TEST(TensorStreamWriter, ChunkFramesAreTheFramesOfTheChunkMessages) {
  const Model small;
  std::vector<float> large(size_t{1} << 20);  // 4 MiB: offsets beyond 2^21
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<float>(i % 1000) * 0.5f - 7.0f;
  const std::vector<ConstTensorView> large_views = {
      {tensor_spec("large", wire::DTYPE_FLOAT32, {1 << 20}), large.data()}};
  struct Case {
    std::vector<ConstTensorView> views;
    wire::Codec codec;
    size_t chunk_bytes;
  };
  const std::vector<Case> cases = {{small.views(), wire::CODEC_FP32, 1},
                                   {small.views(), wire::CODEC_FP16, 5},
                                   {small.views(), wire::CODEC_FP32, 200},
                                   {large_views, wire::CODEC_FP32, 300000},
                                   {large_views, wire::CODEC_FP16, 127}};
  for (const auto& c : cases) {
    TensorStreamWriter messages(c.views, c.codec, c.chunk_bytes);
    TensorStreamWriter frames(c.views, c.codec, c.chunk_bytes);
    wire::Envelope envelope;
    std::vector<uint8_t> frame;
    size_t count = 0;
    while (messages.next_chunk(*envelope.mutable_chunk())) {
      ASSERT_TRUE(frames.next_chunk_frame(frame, kDefaultMaxFrameBytes));
      ASSERT_EQ(frame, encode_frame(envelope)) << "chunk " << count << " of " << c.chunk_bytes;
      ++count;
    }
    EXPECT_FALSE(frames.next_chunk_frame(frame, kDefaultMaxFrameBytes));
    EXPECT_TRUE(frames.done());
    EXPECT_EQ(count, (frames.total_bytes() + c.chunk_bytes - 1) / c.chunk_bytes);
  }
}

TEST(TensorStreamWriter, ChunkFramesRefuseTheFrameLimitAndNonFiniteValues) {
  Model model;
  TensorStreamWriter writer(model.views(), wire::CODEC_FP32, 64);
  std::vector<uint8_t> frame;
  const auto error = error_of([&] { writer.next_chunk_frame(frame, 40); });
  EXPECT_EQ(error.code(), wire::STATUS_FRAME_TOO_LARGE);
  EXPECT_EQ(writer.bytes_sent(), 0u);  // nothing consumed: a larger limit sends the same chunk
  ASSERT_TRUE(writer.next_chunk_frame(frame, kDefaultMaxFrameBytes));
  EXPECT_EQ(writer.bytes_sent(), 64u);

  model.v[2] = -std::numeric_limits<float>::infinity();
  TensorStreamWriter bad(model.views(), wire::CODEC_FP32, 16);
  const auto non_finite = error_of([&] {
    while (bad.next_chunk_frame(frame, kDefaultMaxFrameBytes)) {
    }
  });
  EXPECT_EQ(non_finite.code(), wire::STATUS_NON_FINITE);
  EXPECT_TRUE(contains(non_finite.what(), "tensor 'v'")) << non_finite.what();
  EXPECT_TRUE(bad.failed());
}

// A writer and the reader for its model, with chunks the test can tamper with.
struct Transfer {
  Model sent;
  Model received{0.0f};
  TensorStreamWriter writer{sent.views(), wire::CODEC_FP32, 8};
  TensorStreamReader reader{writer.manifest(), received.destinations()};

  std::vector<wire::TensorChunk> chunks() {
    std::vector<wire::TensorChunk> all;
    wire::TensorChunk chunk;
    while (writer.next_chunk(chunk)) all.push_back(chunk);
    return all;
  }
};

TEST(TensorStreamReader, RefusesGapsOverlapsOverrunsAndEmptyChunksBeforeDecoding) {
  {
    Transfer t;
    const auto chunks = t.chunks();
    t.reader.add(chunks[0]);
    const auto error = error_of([&] { t.reader.add(chunks[2]); });  // chunk 1 is missing
    EXPECT_EQ(error.code(), wire::STATUS_MANIFEST_BYTES);
    EXPECT_TRUE(
        contains(error.what(), "chunk at offset 16 does not continue the transfer at byte 8"));
  }
  {
    Transfer t;
    auto chunks = t.chunks();
    t.reader.add(chunks[0]);
    chunks[1].set_offset(4);  // overlaps the first chunk
    EXPECT_EQ(error_of([&] { t.reader.add(chunks[1]); }).code(), wire::STATUS_MANIFEST_BYTES);
  }
  {
    Transfer t;
    wire::TensorChunk overrun;
    overrun.set_offset(0);
    overrun.set_data(std::string(t.writer.total_bytes() + 1, '\0'));
    EXPECT_EQ(error_of([&] { t.reader.add(overrun); }).code(), wire::STATUS_MANIFEST_BYTES);
    EXPECT_EQ(t.reader.received_bytes(), 0u);
    EXPECT_EQ(t.received.w, std::vector<float>(15, 0.0f));  // nothing was decoded
  }
  {
    Transfer t;
    wire::TensorChunk empty;
    EXPECT_EQ(error_of([&] { t.reader.add(empty); }).code(), wire::STATUS_MALFORMED);
  }
}

TEST(TensorStreamReader, RefusesNonFiniteValuesNamingTheTensorAndIndex) {
  Transfer t;
  auto chunks = t.chunks();
  // Element 1 of 'b' (fp32) starts at byte 15*4 + 8 + 4 = 72: chunk 9, bytes 0..3.
  chunks[9].mutable_data()->replace(0, 4, std::string("\x00\x00\xc0\x7f", 4));  // NaN
  for (size_t i = 0; i < 9; ++i) t.reader.add(chunks[i]);
  auto error = error_of([&] { t.reader.add(chunks[9]); });
  EXPECT_EQ(error.code(), wire::STATUS_NON_FINITE);
  EXPECT_TRUE(contains(error.what(), "received tensor 'b' has a NaN at index 1")) << error.what();

  // An infinity split between two chunks is caught when its last byte arrives.
  Model sent;
  Model received(0.0f);
  TensorStreamWriter writer(sent.views(), wire::CODEC_FP16, 3);
  TensorStreamReader reader(writer.manifest(), received.destinations());
  std::string wire_bytes;
  wire::TensorChunk chunk;
  while (writer.next_chunk(chunk)) wire_bytes += chunk.data();
  wire_bytes.replace(10, 2, std::string("\x00\x7c", 2));  // w[5] = +inf in binary16
  error = error_of([&] {
    for (size_t at = 0; at < wire_bytes.size(); at += 3) {
      chunk.set_offset(at);
      chunk.set_data(wire_bytes.substr(at, 3));
      reader.add(chunk);
    }
  });
  EXPECT_EQ(error.code(), wire::STATUS_NON_FINITE);
  EXPECT_TRUE(contains(error.what(), "received tensor 'w' has an infinite value at index 5"))
      << error.what();
  EXPECT_EQ(reader.received_bytes(), 9u);  // the chunk holding the infinity was refused
}

TEST(TensorStreamReader, FinishRefusesMissingBytesAndASecondEnd) {
  {
    Transfer t;
    const auto chunks = t.chunks();
    for (size_t i = 0; i + 1 < chunks.size(); ++i) t.reader.add(chunks[i]);
    EXPECT_FALSE(t.reader.complete());
    const auto error = error_of([&] { t.reader.finish(t.writer.transfer_end()); });
    EXPECT_EQ(error.code(), wire::STATUS_MANIFEST_BYTES);
    EXPECT_TRUE(contains(error.what(), "transfer ended after"));
  }
  {
    Transfer t;
    for (const auto& chunk : t.chunks()) t.reader.add(chunk);
    t.reader.finish(t.writer.transfer_end());
    EXPECT_EQ(error_of([&] { t.reader.finish(t.writer.transfer_end()); }).code(),
              wire::STATUS_MALFORMED);
  }
}

TEST(TensorStreamReader, RemembersItsFirstError) {
  Transfer t;
  const auto chunks = t.chunks();
  EXPECT_THROW(t.reader.add(chunks[1]), ProtocolError);
  EXPECT_TRUE(t.reader.failed());
  const auto error = error_of([&] { t.reader.add(chunks[0]); });  // valid, but too late
  EXPECT_EQ(error.code(), wire::STATUS_MANIFEST_BYTES);
  EXPECT_TRUE(contains(error.what(), "transfer already failed"));
  EXPECT_EQ(error_of([&] { t.reader.finish(t.writer.transfer_end()); }).code(),
            wire::STATUS_MANIFEST_BYTES);
}

TEST(TensorStreamReader, DestinationsMustMatchTheManifest) {
  Model sent;
  Model received;
  const TensorStreamWriter writer(sent.views(), wire::CODEC_FP32);
  auto status = [&](std::vector<MutableTensorView> destinations) {
    return error_of([&] { TensorStreamReader(writer.manifest(), std::move(destinations)); }).code();
  };
  auto renamed = received.destinations();
  renamed[2].spec.set_name("bias");
  EXPECT_EQ(status(renamed), wire::STATUS_MANIFEST_NAME);
  auto reshaped = received.destinations();
  reshaped[0].spec.set_shape(0, 5);
  reshaped[0].spec.set_shape(1, 3);
  EXPECT_EQ(status(reshaped), wire::STATUS_MANIFEST_SHAPE);
  auto retyped = received.destinations();
  retyped[1].spec.set_dtype(wire::DTYPE_FLOAT32);
  EXPECT_EQ(status(retyped), wire::STATUS_MANIFEST_DTYPE);
  auto fewer = received.destinations();
  fewer.pop_back();
  EXPECT_EQ(status(fewer), wire::STATUS_MANIFEST_EXTRA);
  auto unknown_codec = writer.manifest();
  unknown_codec.set_codec(static_cast<wire::Codec>(9));
  EXPECT_EQ(error_of([&] { TensorStreamReader(unknown_codec, received.destinations()); }).code(),
            wire::STATUS_MALFORMED);
}

// A 64 MiB model in default-sized chunks: neither side ever holds more than one chunk (the writer
// fills the one chunk it is given, the reader keeps under 8 bytes of a split element between
// chunks).
TEST(TensorStream, LargeModelStreamsWithOneChunkOfMemory) {
  constexpr size_t kInts = size_t{1} << 20;       // 8 MiB, starting at byte 12: chunk
  constexpr size_t kFloats = (size_t{14} << 20);  // boundaries split its elements
  std::vector<float> head = {1.0f, -2.0f, 3.0f};
  std::vector<int64_t> ints(kInts);
  std::vector<float> floats(kFloats);
  for (size_t i = 0; i < kInts; ++i) ints[i] = static_cast<int64_t>(i * 0x9E3779B97F4A7C15u);
  for (size_t i = 0; i < kFloats; ++i) floats[i] = static_cast<float>(i % 1000) * 0.5f - 250.0f;
  const std::vector<ConstTensorView> views = {
      {tensor_spec("head", wire::DTYPE_FLOAT32, {3}), head.data()},
      {tensor_spec("ints", wire::DTYPE_INT64, {1024, 1024}), ints.data()},
      {tensor_spec("floats", wire::DTYPE_FLOAT32, {14, 1024, 1024}), floats.data()}};
  std::vector<float> head_out(3);
  std::vector<int64_t> ints_out(kInts);
  std::vector<float> floats_out(kFloats);
  TensorStreamWriter writer(views, wire::CODEC_FP32, kDefaultChunkBytes);
  TensorStreamReader reader(writer.manifest(), {{views[0].spec, head_out.data()},
                                                {views[1].spec, ints_out.data()},
                                                {views[2].spec, floats_out.data()}});
  wire::TensorChunk chunk;
  size_t chunks = 0;
  size_t max_carry = 0;
  while (writer.next_chunk(chunk)) {
    ++chunks;
    ASSERT_LE(chunk.data().size(), kDefaultChunkBytes);
    reader.add(chunk);
    max_carry = std::max(max_carry, reader.carry_bytes());
  }
  reader.finish(writer.transfer_end());
  EXPECT_EQ(writer.bytes_sent(), 12u + 8 * kInts + 4 * kFloats);
  EXPECT_EQ(chunks, (writer.bytes_sent() + kDefaultChunkBytes - 1) / kDefaultChunkBytes);
  EXPECT_GT(max_carry, 0u);  // some int64 was split between chunks
  EXPECT_LT(max_carry, kMaxElementBytes);
  EXPECT_LE(chunk.data().capacity(), 2 * kDefaultChunkBytes);  // one buffer, reused
  EXPECT_EQ(head_out, head);
  EXPECT_TRUE(ints_out == ints);
  EXPECT_TRUE(floats_out == floats);
}

}  // namespace
}  // namespace fedgan::protocol
