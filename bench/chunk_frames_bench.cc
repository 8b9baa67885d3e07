// fedgan-bench-chunk-frames: what producing a model's chunk frames costs the sender, the step
// before TLS reads them. Two ways over the same float32 model, interleaved and repeated, medians
// reported:
//   messages  the chunk encoded into a fresh TensorChunk, then encode_frame (protobuf copies it);
//   in place  TensorStreamWriter::next_chunk_frame, the values encoded straight into the frame;
// beside a memcpy of the model's bytes into frames of the same size, the floor of any way that
// writes each byte once into a fresh buffer. Ratios of one run are what to compare across machines.
//
// Usage: fedgan-bench-chunk-frames [--floats 986178] [--chunk-kib 512] [--repeat 200]

#include "protocol/frame.h"
#include "protocol/tensor_stream.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

namespace {

namespace protocol = fedgan::protocol;
namespace wire = protocol::wire;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <typename Produce>
double seconds_of(Produce produce) {
  const auto start = Clock::now();
  produce();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Producing a model's chunk frames: protobuf messages against frames encoded in place"};
  // The reference DCGAN's federated tensors (generator and discriminator): 3,944,712 bytes.
  size_t floats = 986178;
  size_t chunk_kib = 512;
  int repeat = 200;
  app.add_option("--floats", floats, "Model size in float32 values")->capture_default_str();
  app.add_option("--chunk-kib", chunk_kib, "Chunk size in KiB")->capture_default_str();
  app.add_option("--repeat", repeat, "Models produced each way")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<float> model(floats);
  std::mt19937 random(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (float& v : model) v = value(random);
  const std::vector<protocol::ConstTensorView> views = {
      {protocol::tensor_spec("model", wire::DTYPE_FLOAT32, {static_cast<int64_t>(floats)}),
       model.data()}};
  const size_t chunk_bytes = chunk_kib << 10;
  size_t sink = 0;  // keeps the frames' contents observable

  const auto messages = [&] {
    protocol::TensorStreamWriter writer(views, wire::CODEC_FP32, chunk_bytes);
    while (true) {
      wire::Envelope envelope;
      if (!writer.next_chunk(*envelope.mutable_chunk())) break;
      const auto frame = protocol::encode_frame(envelope);
      sink += frame[frame.size() / 2];
    }
  };
  const auto in_place = [&] {
    protocol::TensorStreamWriter writer(views, wire::CODEC_FP32, chunk_bytes);
    std::vector<uint8_t> frame;
    while (true) {
      std::vector<uint8_t> fresh;
      if (!writer.next_chunk_frame(fresh, protocol::kDefaultMaxFrameBytes)) break;
      frame = std::move(fresh);
      sink += frame[frame.size() / 2];
    }
  };
  const auto copy = [&] {
    const auto* bytes = reinterpret_cast<const uint8_t*>(model.data());
    const size_t total = floats * sizeof(float);
    for (size_t at = 0; at < total; at += chunk_bytes) {
      const size_t size = std::min(chunk_bytes, total - at);
      std::vector<uint8_t> frame(size);
      std::memcpy(frame.data(), bytes + at, size);
      sink += frame[size / 2];
    }
  };

  std::vector<double> t_messages, t_in_place, t_copy;
  for (int i = 0; i < repeat; ++i) {
    t_messages.push_back(seconds_of(messages));
    t_in_place.push_back(seconds_of(in_place));
    t_copy.push_back(seconds_of(copy));
  }
  const double bytes = static_cast<double>(floats * sizeof(float));
  const auto line = [&](const char* name, double seconds) {
    fmt::print("{:<10} {:8.3f} ms per model  {:7.0f} MB/s  {:5.2f} x memcpy\n", name, seconds * 1e3,
               bytes / seconds / 1e6, seconds / median(t_copy));
  };
  fmt::print("{} bytes of float32 in chunks of {} KiB, median of {} (checksum {})\n",
             floats * sizeof(float), chunk_kib, repeat, sink % 10);
  line("messages", median(t_messages));
  line("in place", median(t_in_place));
  line("memcpy", median(t_copy));
  fmt::print("in place / messages: {:.2f}\n", median(t_in_place) / median(t_messages));
  return 0;
}
