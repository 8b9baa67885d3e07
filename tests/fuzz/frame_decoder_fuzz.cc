// libFuzzer target for everything that parses bytes from a peer before authentication matters:
// the frame decoder (fed in pieces whose sizes the input chooses), the protobuf Envelope parser,
// manifest validation against a fixed model, chunk reassembly and the float codecs. Any crash,
// sanitizer report or exception other than ProtocolError is a bug.
#include "protocol/codec.h"
#include "protocol/frame.h"
#include "protocol/tensor_records.h"

#include <cstddef>
#include <cstdint>
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

// Exercises what a receiver does with a decoded envelope; every refusal is a ProtocolError.
void handle(const wire::Envelope& envelope, std::vector<uint8_t>& model) {
  if (envelope.has_update()) {
    validate_manifest(envelope.update().delta(), expected_model(), kAllCodecs);
  } else if (envelope.has_task()) {
    validate_manifest(envelope.task().model(), expected_model(), kAllCodecs);
  } else if (envelope.has_chunk()) {
    ChunkAssembler assembler(model.data(), model.size());
    assembler.add(envelope.chunk());
    assembler.finish();
    const auto& data = envelope.chunk().data();
    std::vector<float> values(data.size() / 2);
    decode_floats(reinterpret_cast<const uint8_t*>(data.data()), values.size(), wire::CODEC_FP16,
                  values.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the piece size, so short reads and frame boundaries inside a read
  // are both explored.
  const size_t piece = 1 + data[0] % 64;
  ++data;
  --size;
  FrameDecoder decoder(kMaxFrame);
  std::vector<uint8_t> model(64);
  try {
    for (size_t at = 0; at < size; at += piece) {
      const size_t n = std::min(piece, size - at);
      for (const auto& envelope : decoder.feed(data + at, n)) handle(envelope, model);
    }
  } catch (const ProtocolError&) {
    // Refusing hostile input is the expected outcome.
  }
  return 0;
}
