#include "coordinator/model_snapshot.h"

#include "protocol/error.h"
#include "protocol/frame.h"
#include "protocol/tensor_stream.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace wire = protocol::wire;

ModelOptions options(const std::string& codec) {
  ModelOptions o;
  o.architecture = Architecture::kDcgan;  // several chunks of 512 KiB
  o.init_seed = 3;
  o.codec = config::enum_value<ModelCodec>(codec).value();
  return o;
}

// What a TensorStreamWriter over the model sends now: chunk bytes and offsets.
struct Stream {
  std::vector<std::string> chunks;
  std::vector<uint64_t> offsets;
};

Stream eager_stream(const GlobalModel& model, wire::Codec codec) {
  protocol::TensorStreamWriter writer(model.views(), codec);
  Stream stream;
  wire::TensorChunk chunk;
  while (writer.next_chunk(chunk)) {
    stream.chunks.push_back(chunk.data());
    stream.offsets.push_back(chunk.offset());
  }
  return stream;
}

// The chunk a frame of the snapshot carries.
wire::TensorChunk chunk_of(const std::vector<uint8_t>& frame) {
  const auto header = protocol::decode_frame_header(frame.data(), protocol::kDefaultMaxFrameBytes);
  EXPECT_EQ(header.body_bytes + protocol::kFrameHeaderBytes, frame.size());
  const auto envelope = protocol::decode_envelope(frame.data() + protocol::kFrameHeaderBytes,
                                                  frame.size() - protocol::kFrameHeaderBytes);
  EXPECT_TRUE(envelope.has_chunk());
  return envelope.chunk();
}

Stream pulled_stream(ModelSnapshot& snapshot) {
  Stream stream;
  for (size_t i = 0; const auto frame = snapshot.frame(i); ++i) {
    const auto chunk = chunk_of(*frame);
    stream.chunks.push_back(chunk.data());
    stream.offsets.push_back(chunk.offset());
  }
  snapshot.transfer_end();  // only after the last chunk
  return stream;
}

bool same(const Stream& a, const Stream& b) {
  return a.chunks == b.chunks && a.offsets == b.offsets;
}

// The message of the ProtocolError(NON_FINITE) that building a snapshot throws, or "".
std::string refusal(const GlobalModel& model, wire::Codec codec) {
  try {
    ModelSnapshot snapshot(model, codec);
  } catch (const protocol::ProtocolError& error) {
    EXPECT_EQ(error.code(), wire::STATUS_NON_FINITE);
    return error.what();
  }
  return "";
}

TEST(ModelSnapshot, SendsWhatAWriterOverTheModelSendsEvenAfterTheModelChanges) {
  GlobalModel model(options("fp32"));
  const Stream expected = eager_stream(model, wire::CODEC_FP32);
  ASSERT_GT(expected.chunks.size(), 3u);
  ModelSnapshot snapshot(model, wire::CODEC_FP32);
  EXPECT_EQ(snapshot.manifest().SerializeAsString(), model.manifest().SerializeAsString());
  EXPECT_EQ(snapshot.total_bytes(), model.manifest().total_bytes());
  // One client has taken two chunks when the round commits: finish() encodes the rest first.
  ASSERT_TRUE(snapshot.frame(0));
  ASSERT_TRUE(snapshot.frame(1));
  snapshot.finish();
  for (const float* values : model.const_views()) const_cast<float*>(values)[0] += 1.0f;
  EXPECT_FALSE(same(eager_stream(model, wire::CODEC_FP32), expected));
  // A client that starts now, and one that went on from its third chunk, get the old model.
  EXPECT_TRUE(same(pulled_stream(snapshot), expected));
  const auto third = snapshot.frame(2);
  ASSERT_TRUE(third);
  EXPECT_EQ(chunk_of(*third).data(), expected.chunks[2]);
  // Every connection writes the same frame, not a copy of it.
  EXPECT_EQ(snapshot.frame(2), third);
  EXPECT_FALSE(snapshot.frame(expected.chunks.size()));
}

TEST(ModelSnapshot, ConnectionsPullingAtOnceGetTheSameStream) {
  GlobalModel model(options("fp16"));
  const Stream expected = eager_stream(model, wire::CODEC_FP16);
  ModelSnapshot snapshot(model, wire::CODEC_FP16);
  std::vector<Stream> streams(4);
  std::vector<std::thread> connections;
  for (auto& stream : streams) {
    connections.emplace_back([&snapshot, &stream] { stream = pulled_stream(snapshot); });
  }
  for (auto& connection : connections) connection.join();
  for (const auto& stream : streams) EXPECT_TRUE(same(stream, expected));
}

TEST(ModelSnapshot, RefusesAModelThatCannotBeEncodedNamingTheTensorAndElement) {
  GlobalModel model(options("fp32"));
  const auto values = model.mutable_views();
  const std::string name = model.manifest().tensors(2).name();
  values[2][5] = std::numeric_limits<float>::quiet_NaN();
  std::string message = refusal(model, wire::CODEC_FP32);
  EXPECT_NE(message.find("'" + name + "'"), std::string::npos) << message;
  EXPECT_NE(message.find("index 5"), std::string::npos) << message;
  values[2][5] = std::numeric_limits<float>::infinity();
  EXPECT_NE(refusal(model, wire::CODEC_FP32), "");

  // Binary16 holds magnitudes that round to at most 65504: 65519 does, 65520 rounds to infinity.
  values[2][5] = -65519.0f;
  EXPECT_EQ(refusal(model, wire::CODEC_FP16), "");
  EXPECT_EQ(refusal(model, wire::CODEC_FP32), "");
  values[2][5] = -65520.0f;
  message = refusal(model, wire::CODEC_FP16);
  EXPECT_NE(message.find("'" + name + "'"), std::string::npos) << message;
  EXPECT_EQ(refusal(model, wire::CODEC_FP32), "");
}

}  // namespace
}  // namespace fedgan::coordinator
