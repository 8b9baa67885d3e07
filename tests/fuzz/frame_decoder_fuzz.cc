// libFuzzer target for everything that parses bytes from a peer before authentication matters:
// the frame decoder (fed in pieces whose sizes the input chooses), the protobuf Envelope parser,
// manifest validation against a fixed model, and streaming chunks into a model through the float
// codecs and the SHA-256 check. Any crash,
// sanitizer report or exception other than ProtocolError is a bug.
#include "protocol/frame.h"
#include "protocol/protobuf_log.h"
#include "protocol/tensor_records.h"
#include "protocol/tensor_stream.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace {

using namespace fedgan::protocol;

constexpr uint32_t kMaxFrame = 1 << 16;
constexpr uint32_t kAllCodecs = (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16);

const wire::Manifest& expected_model() {
  static const wire::Manifest manifest = [] {
    wire::Manifest m;
    auto* w = m.add_tensors();
    w->set_name("w");
    w->set_dtype(wire::DTYPE_FLOAT32);
    w->add_shape(4);
    w->add_shape(4);
    m.set_codec(wire::CODEC_FP32);
    m.set_total_bytes(64);
    return m;
  }();
  return manifest;
}

// Does what a receiver does with decoded envelopes: a Task or UpdateHeader announces a
// manifest, chunks stream into a 16-float model, TransferEnd checks the byte count. Every refusal
// is a ProtocolError.
class Receiver {
 public:
  void handle(const wire::Envelope& envelope) {
    if (envelope.has_update() || envelope.has_task()) {
      const auto& manifest =
          envelope.has_update() ? envelope.update().delta() : envelope.task().model();
      validate_manifest(manifest, expected_model(), kAllCodecs);
      start(manifest);
    } else if (envelope.has_chunk()) {
      if (!reader_) start(expected_model());
      reader_->add(envelope.chunk());
    } else if (envelope.has_transfer_end() && reader_) {
      reader_->finish(envelope.transfer_end());
    }
  }

 private:
  void start(const wire::Manifest& manifest) {
    reader_ = std::make_unique<TensorStreamReader>(
        manifest, std::vector<MutableTensorView>{{expected_model().tensors(0), model_.data()}});
  }

  std::vector<float> model_ = std::vector<float>(16);
  std::unique_ptr<TensorStreamReader> reader_;
};

}  // namespace

// As in the transport: libprotobuf's per-field parse errors are not logged (they are refused as
// MALFORMED anyway), which would otherwise flood the fuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  silence_protobuf_parse_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the piece size, so short reads and frame boundaries inside a read
  // are both explored.
  const size_t piece = 1 + data[0] % 64;
  ++data;
  --size;
  FrameDecoder decoder(kMaxFrame);
  Receiver receiver;
  try {
    for (size_t at = 0; at < size; at += piece) {
      const size_t n = std::min(piece, size - at);
      for (const auto& envelope : decoder.feed(data + at, n)) receiver.handle(envelope);
    }
  } catch (const ProtocolError&) {
    // Refusing hostile input is the expected outcome.
  }
  return 0;
}
