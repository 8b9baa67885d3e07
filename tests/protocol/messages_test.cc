#include "protocol/frame.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

namespace fedgan::protocol {
namespace {

// Every message type travels through a real frame and comes back field for field.
wire::Envelope round_trip(const wire::Envelope& sent) {
  const auto frame = encode_frame(sent);
  FrameDecoder decoder;
  auto received = decoder.feed(frame.data(), frame.size());
  EXPECT_EQ(received.size(), 1u);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  return received.empty() ? wire::Envelope() : received.front();
}

void expect_round_trip(const wire::Envelope& sent) {
  const auto received = round_trip(sent);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(sent, received))
      << "sent " << sent.ShortDebugString() << "\nreceived " << received.ShortDebugString();
}

wire::Manifest two_tensor_manifest() {
  wire::Manifest manifest;
  auto* weight = manifest.add_tensors();
  weight->set_name("generator.up1.weight");
  weight->set_dtype(wire::DTYPE_FLOAT32);
  for (int64_t d : {192, 64, 4, 4}) weight->add_shape(d);
  auto* count = manifest.add_tensors();
  count->set_name("generator.up1_norm.num_batches_tracked");
  count->set_dtype(wire::DTYPE_INT64);
  manifest.set_codec(wire::CODEC_FP16);
  manifest.set_total_bytes(192 * 64 * 16 * 2 + 8);
  return manifest;
}

TEST(Messages, HelloRoundTrips) {
  wire::Envelope e;
  auto* hello = e.mutable_hello();
  hello->set_minor_version(kProtocolMinorVersion);
  hello->set_num_samples(6000);
  hello->set_device("cuda");
  hello->add_codecs(wire::CODEC_FP32);
  hello->add_codecs(wire::CODEC_FP16);
  hello->set_software_version("0.1.0");
  expect_round_trip(e);
}

TEST(Messages, TaskRoundTrips) {
  wire::Envelope e;
  auto* task = e.mutable_task();
  task->set_run_id("run-7");
  task->set_round(42);
  task->set_nonce(std::string("\x00\x01\xfe\xff", 4));
  task->set_deadline_unix_ms(1795000000000);
  auto* training = task->mutable_training();
  training->set_architecture("dcgan");
  training->set_networks(wire::TRAINED_NETWORKS_GENERATOR);
  training->set_federate(wire::FEDERATION_SCOPE_BOTH);
  training->set_local_steps(50);
  training->set_batch_size(64);
  training->set_optimizer(wire::OPTIMIZER_ADAM);
  training->set_lr_generator(2e-4);
  training->set_lr_discriminator(1e-4);
  training->set_beta1(0.5);
  training->set_beta2(0.999);
  training->set_loss(wire::LOSS_WGAN_GP);
  training->set_n_critic(5);
  *task->mutable_model() = two_tensor_manifest();
  task->set_model_follows(true);
  expect_round_trip(e);
}

TEST(Messages, ATaskOfProtocol12DecodesWithoutTypedHyperparameters) {
  // Envelope.task { hyperparameters (field 5, reserved since 1.3) { "loss": "ns" } }: still a
  // Task, whose missing `training` the site refuses by name.
  const std::string old_task =
      std::string("\x12\x0c\x2a\x0a\x0a\x04", 6) + "loss" + std::string("\x12\x02", 2) + "ns";
  const auto decoded =
      decode_envelope(reinterpret_cast<const uint8_t*>(old_task.data()), old_task.size());
  ASSERT_TRUE(decoded.has_task());
  EXPECT_FALSE(decoded.task().has_training());
}

TEST(Messages, UpdateHeaderRoundTrips) {
  wire::Envelope e;
  auto* update = e.mutable_update();
  update->set_round(42);
  update->set_nonce("nonce");
  update->set_num_samples(5123);
  (*update->mutable_metrics())["d_loss"] = 0.693;
  (*update->mutable_metrics())["samples_per_second"] = 870.5;
  *update->mutable_delta() = two_tensor_manifest();
  expect_round_trip(e);
}

TEST(Messages, ChunkAndTransferEndRoundTrip) {
  wire::Envelope chunk;
  chunk.mutable_chunk()->set_offset(uint64_t{3} << 32);
  chunk.mutable_chunk()->set_data(std::string(4096, '\x7f'));
  expect_round_trip(chunk);
  wire::Envelope end;
  end.mutable_transfer_end();
  expect_round_trip(end);
  // A protocol 1.0 peer puts a 32-byte digest in TransferEnd (field 1): it still decodes as a
  // TransferEnd, the reserved field ignored.
  const std::string old_end = std::string("\x2a\x22\x0a\x20", 4) + std::string(32, '\x01');
  const auto decoded =
      decode_envelope(reinterpret_cast<const uint8_t*>(old_end.data()), old_end.size());
  EXPECT_TRUE(decoded.has_transfer_end());
}

TEST(Messages, AckHeartbeatAndGoodbyeRoundTrip) {
  wire::Envelope ack;
  ack.mutable_ack()->mutable_status()->set_code(wire::STATUS_MANIFEST_SHAPE);
  ack.mutable_ack()->mutable_status()->set_message(
      "generator.up1.weight: expected [192, 64, 4, 4]");
  expect_round_trip(ack);
  wire::Envelope heartbeat;
  heartbeat.mutable_heartbeat()->set_unix_ms(1795000000123);
  expect_round_trip(heartbeat);
  wire::Envelope goodbye;
  goodbye.mutable_goodbye()->mutable_status()->set_code(wire::STATUS_OK);
  expect_round_trip(goodbye);
}

TEST(Messages, EveryStatusCodeHasAName) {
  // 21 was STATUS_CHECKSUM (protocol 1.0) and stays reserved; every other code has a name.
  for (int code = wire::StatusCode_MIN; code <= wire::StatusCode_MAX; ++code) {
    if (code == 21) {
      EXPECT_FALSE(wire::StatusCode_IsValid(code));
      continue;
    }
    ASSERT_TRUE(wire::StatusCode_IsValid(code)) << code;
    EXPECT_EQ(wire::StatusCode_Name(static_cast<wire::StatusCode>(code)).rfind("STATUS_", 0), 0u);
  }
  EXPECT_EQ(wire::StatusCode_MAX, wire::STATUS_QUARANTINED);
}

}  // namespace
}  // namespace fedgan::protocol
