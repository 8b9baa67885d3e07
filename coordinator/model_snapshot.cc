#include "coordinator/model_snapshot.h"

#include "protocol/frame.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fedgan::coordinator {
namespace {

namespace wire = protocol::wire;

// Binary16 rounds a magnitude below this to at most its largest finite value (65504), and this
// one, the midpoint to the next power of two, to infinity.
constexpr double kHalfOverflow = 65520.0;

// Whether every value is finite and, under CODEC_FP16, of a magnitude binary16 holds. A sum in
// double is finite exactly when every float32 value is (it cannot overflow); four partial sums and
// maxima let the compiler vectorise the pass without reordering any one of them.
bool encodable(const float* values, size_t count, wire::Codec codec) {
  double sums[4] = {0.0, 0.0, 0.0, 0.0};
  float largest[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  size_t i = 0;
  for (; i + 4 <= count; i += 4) {
    for (size_t lane = 0; lane < 4; ++lane) {
      sums[lane] += static_cast<double>(values[i + lane]);
      largest[lane] = std::max(largest[lane], std::fabs(values[i + lane]));
    }
  }
  for (; i < count; ++i) {
    sums[0] += static_cast<double>(values[i]);
    largest[0] = std::max(largest[0], std::fabs(values[i]));
  }
  if (!std::isfinite((sums[0] + sums[1]) + (sums[2] + sums[3]))) return false;
  const float most = std::max(std::max(largest[0], largest[1]), std::max(largest[2], largest[3]));
  return codec != wire::CODEC_FP16 || static_cast<double>(most) < kHalfOverflow;
}

// The writer's own encoding reports the first value that cannot be encoded, naming its tensor and
// index; the fast check above only says whether there is one.
void throw_first_unencodable(const std::vector<protocol::ConstTensorView>& views,
                             wire::Codec codec) {
  protocol::TensorStreamWriter writer(views, codec);
  wire::TensorChunk chunk;
  while (writer.next_chunk(chunk)) {
  }
}

}  // namespace

ModelSnapshot::ModelSnapshot(const GlobalModel& model, wire::Codec codec)
    : writer_(model.views(), codec) {
  const auto values = model.const_views();
  const auto& tensors = model.layout().tensors;
  for (size_t t = 0; t < values.size(); ++t) {
    if (!encodable(values[t], tensors[t].size, codec))
      throw_first_unencodable(model.views(), codec);
  }
}

void ModelSnapshot::encode_up_to(size_t count) {
  while (frames_.size() < count && !writer_.done()) {
    std::vector<uint8_t> frame;
    writer_.next_chunk_frame(frame, protocol::kDefaultMaxFrameBytes);
    frames_.push_back(std::make_shared<const std::vector<uint8_t>>(std::move(frame)));
  }
  if (writer_.done() && !end_) end_ = writer_.transfer_end();
}

protocol::Connection::SharedFrame ModelSnapshot::frame(size_t index) {
  std::lock_guard lock(mutex_);
  encode_up_to(index + 1);
  return index < frames_.size() ? frames_[index] : nullptr;
}

wire::TransferEnd ModelSnapshot::transfer_end() {
  std::lock_guard lock(mutex_);
  encode_up_to(std::numeric_limits<size_t>::max());
  return *end_;
}

void ModelSnapshot::finish() {
  std::lock_guard lock(mutex_);
  encode_up_to(std::numeric_limits<size_t>::max());
}

}  // namespace fedgan::coordinator
