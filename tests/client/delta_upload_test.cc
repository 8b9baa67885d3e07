#include "client/delta_upload.h"

#include "client/error.h"
#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace fedgan::client {
namespace {

// A connection that keeps what is sent and runs a queued stream to its end when asked.
class RecordingConnection : public protocol::Connection {
 public:
  void start(MessageHandler, CloseHandler) override {}
  void send(const wire::Envelope& message) override { sent.push_back(message); }
  void send_stream(StreamSource, std::function<void()>) override {
    ADD_FAILURE() << "a client uploads chunks encoded straight into frames, not messages";
  }
  void send_frames(FrameSource source, std::function<void()> on_done) override {
    source_ = std::move(source);
    on_done_ = std::move(on_done);
  }
  void close(wire::StatusCode, const std::string&) override {}
  void post(std::function<void()> task) override { task(); }
  const std::string& peer_identity() const override { return name_; }
  const std::string& remote_address() const override { return name_; }
  const std::string& tls_version() const override { return name_; }
  const std::string& tls_cipher() const override { return name_; }
  std::optional<protocol::TransportError> error() const override { return std::nullopt; }
  protocol::ConnectionStats stats() const override { return {}; }

  // Pulls every frame of the queued stream and decodes it as a peer would, then runs its
  // completion.
  void run_stream() {
    while (const auto frame = source_()) {
      const auto header =
          protocol::decode_frame_header(frame->data(), protocol::kDefaultMaxFrameBytes);
      EXPECT_EQ(frame->size(), protocol::kFrameHeaderBytes + header.body_bytes);
      sent.push_back(protocol::decode_envelope(frame->data() + protocol::kFrameHeaderBytes,
                                               header.body_bytes));
    }
    on_done_();
  }

  std::vector<wire::Envelope> sent;

 private:
  FrameSource source_;
  std::function<void()> on_done_;
  std::string name_ = "test";
};

struct Delta {
  std::vector<std::vector<float>> values{{0.5f, -1.25f, 3.0f}, {2.0f, 0.0f, -7.5f, 1e-3f}};
  std::vector<protocol::ConstTensorView> views() const {
    return {{protocol::tensor_spec("generator.w", wire::DTYPE_FLOAT32, {3}), values[0].data()},
            {protocol::tensor_spec("generator.b", wire::DTYPE_FLOAT32, {2, 2}), values[1].data()}};
  }
};

TEST(DeltaUpload, HeaderAnnouncesTheRoundTheMetricsAndTheManifest) {
  const Delta delta;
  const DeltaUpload upload(delta.views(), wire::CODEC_FP16);
  TaskPlan plan;
  plan.round = 12;
  plan.nonce = "abc";
  RoundReport report;
  report.generator_loss = 0.75;
  report.discriminator_loss = 1.5;
  report.train_seconds = 2.0;
  report.samples_per_second = 640;
  report.download_seconds = 0.25;
  report.delta_seconds = 0.125;
  const auto envelope = upload.header(plan, report, 300);
  ASSERT_TRUE(envelope.has_update());
  const auto& header = envelope.update();
  EXPECT_EQ(header.round(), 12u);
  EXPECT_EQ(header.nonce(), "abc");
  EXPECT_EQ(header.num_samples(), 300u);
  EXPECT_EQ(header.metrics().at("generator_loss"), 0.75);
  EXPECT_EQ(header.metrics().at("discriminator_loss"), 1.5);
  EXPECT_EQ(header.metrics().at("train_seconds"), 2.0);
  EXPECT_EQ(header.metrics().at("samples_per_second"), 640);
  EXPECT_EQ(header.metrics().at("download_seconds"), 0.25);
  EXPECT_EQ(header.metrics().at("delta_seconds"), 0.125);
  EXPECT_EQ(header.delta().SerializeAsString(),
            protocol::make_manifest(delta.views(), wire::CODEC_FP16).SerializeAsString());
}

TEST(DeltaUpload, StreamsACopyTakenWhenTheUploadWasMade) {
  Delta delta;
  const DeltaUpload upload(delta.views(), wire::CODEC_FP32);
  const std::vector<std::vector<float>> original = delta.values;
  // The caller's buffers change (the next round) before the stream is written.
  for (auto& tensor : delta.values) tensor.assign(tensor.size(), 99.0f);

  auto connection = std::make_shared<RecordingConnection>();
  ASSERT_TRUE(upload.send(connection));
  connection->run_stream();
  ASSERT_GE(connection->sent.size(), 2u);
  ASSERT_TRUE(connection->sent.back().has_transfer_end());

  std::vector<std::vector<float>> received = {std::vector<float>(3), std::vector<float>(4)};
  std::vector<protocol::MutableTensorView> destinations = {
      {protocol::tensor_spec("generator.w", wire::DTYPE_FLOAT32, {3}), received[0].data()},
      {protocol::tensor_spec("generator.b", wire::DTYPE_FLOAT32, {2, 2}), received[1].data()}};
  const auto manifest = protocol::make_manifest(
      {{destinations[0].spec, received[0].data()}, {destinations[1].spec, received[1].data()}},
      wire::CODEC_FP32);
  protocol::TensorStreamReader reader(manifest, destinations);
  for (size_t i = 0; i + 1 < connection->sent.size(); ++i) {
    ASSERT_TRUE(connection->sent[i].has_chunk());
    reader.add(connection->sent[i].chunk());
  }
  reader.finish(connection->sent.back().transfer_end());
  EXPECT_EQ(received, original);
}

TEST(DeltaUpload, RefusesValuesAnFp16UploadCannotCarry) {
  Delta delta;
  delta.values[1][2] = 70000.0f;
  EXPECT_THROW(DeltaUpload(delta.views(), wire::CODEC_FP16), ClientError);
  EXPECT_NO_THROW(DeltaUpload(delta.views(), wire::CODEC_FP32));
}

}  // namespace
}  // namespace fedgan::client
