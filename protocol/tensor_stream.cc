#include "protocol/tensor_stream.h"

#include "protocol/codec.h"
#include "protocol/frame.h"
#include "protocol/tensor_records.h"
#include "protocol/wire_text.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fedgan::protocol {
namespace {

// Protobuf's encoding: a field starts with its tag, (number << 3) | wire type.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t field_tag(int number, uint32_t wire_type) {
  return (static_cast<uint32_t>(number) << 3) | wire_type;
}

// A tensor name as error messages quote it (a received manifest's names come from the peer).
Printable quoted(const wire::TensorSpec& spec) {
  return Printable{spec.name(), kMaxQuotedNameBytes};
}

constexpr uint32_t kDecodableCodecs = (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16);

// The manifest of `views` under `codec`, with every check make_manifest documents.
template <typename View>
wire::Manifest manifest_of(const std::vector<View>& views, wire::Codec codec) {
  wire::Manifest manifest;
  manifest.set_codec(codec);
  uint64_t total = 0;
  for (const auto& view : views) {
    const auto& spec = view.spec;
    check(spec.dtype() == wire::DTYPE_FLOAT32 || spec.dtype() == wire::DTYPE_INT64,
          wire::STATUS_MANIFEST_DTYPE,
          "tensor '{}' has dtype {}: tensor streams carry float32 and int64 tensors", quoted(spec),
          wire::DType_Name(spec.dtype()));
    const uint64_t bytes = encoded_tensor_bytes(spec, codec);
    check(bytes == 0 || view.data != nullptr, wire::STATUS_INTERNAL,
          "tensor '{}' has {} bytes but no data", quoted(spec), bytes);
    total += bytes;
    check(total <= kMaxManifestBytes, wire::STATUS_MANIFEST_BYTES,
          "model exceeds {} bytes at tensor '{}'", kMaxManifestBytes, quoted(spec));
    *manifest.add_tensors() = spec;
  }
  manifest.set_total_bytes(total);
  return manifest;
}

std::vector<detail::TensorSpan> spans_of(const wire::Manifest& manifest) {
  std::vector<detail::TensorSpan> spans;
  spans.reserve(manifest.tensors_size());
  uint64_t begin = 0;
  for (const auto& spec : manifest.tensors()) {
    detail::TensorSpan span;
    span.begin = begin;
    span.bytes = encoded_tensor_bytes(spec, manifest.codec());
    span.element_bytes = encoded_element_bytes(spec.dtype(), manifest.codec());
    begin += span.bytes;
    spans.push_back(span);
  }
  return spans;
}

void store_int64s(const int64_t* values, size_t count, uint8_t* out) {
  for (size_t i = 0; i < count; ++i) {
    const auto bits = static_cast<uint64_t>(values[i]);
    for (int b = 0; b < 8; ++b) *out++ = static_cast<uint8_t>(bits >> (8 * b));
  }
}

void load_int64s(const uint8_t* bytes, size_t count, int64_t* out) {
  for (size_t i = 0; i < count; ++i, bytes += 8) {
    uint64_t bits = 0;
    for (int b = 0; b < 8; ++b) bits |= uint64_t{bytes[b]} << (8 * b);
    out[i] = static_cast<int64_t>(bits);
  }
}

// Called after encode_floats refused one of `count` values: throws for the first value that cannot
// be encoded, naming the tensor and the element's index within it (encode_floats knows neither).
[[noreturn]] void refuse_values(const wire::TensorSpec& spec, const float* values, size_t count,
                                uint64_t first, wire::Codec codec) {
  for (size_t i = 0; i < count; ++i) {
    const float value = values[i];
    check(std::isfinite(value), wire::STATUS_NON_FINITE,
          "tensor '{}' has {} at index {}: it cannot be sent", quoted(spec),
          std::isnan(value) ? "a NaN" : "an infinite value", first + i);
    check(codec != wire::CODEC_FP16 || (float_to_half(value) & 0x7C00u) != 0x7C00u,
          wire::STATUS_NON_FINITE,
          "tensor '{}' value {} at index {} is beyond the fp16 range (+-{}); send fp32",
          quoted(spec), value, first + i, kMaxHalf);
  }
  throw ProtocolError(wire::STATUS_INTERNAL,
                      fmt::format("tensor '{}' could not be encoded", quoted(spec)));
}

// The value of one encoded float, without the finiteness check of decode_floats.
float raw_float(const uint8_t* bytes, wire::Codec codec) {
  if (codec == wire::CODEC_FP16) {
    return half_to_float(static_cast<uint16_t>(bytes[0] | (bytes[1] << 8)));
  }
  const uint32_t bits = uint32_t{bytes[0]} | (uint32_t{bytes[1]} << 8) |
                        (uint32_t{bytes[2]} << 16) | (uint32_t{bytes[3]} << 24);
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// Called after decode_floats refused one of `count` encoded values: throws for the first that is
// not finite, naming the tensor and the element's index within it; returns if none is found.
void refuse_received(const wire::TensorSpec& spec, const uint8_t* bytes, size_t count,
                     uint64_t first, wire::Codec codec) {
  const size_t width = encoded_element_bytes(wire::DTYPE_FLOAT32, codec);
  for (size_t i = 0; i < count; ++i) {
    const float value = raw_float(bytes + i * width, codec);
    check(std::isfinite(value), wire::STATUS_NON_FINITE, "received tensor '{}' has {} at index {}",
          quoted(spec), std::isnan(value) ? "a NaN" : "an infinite value", first + i);
  }
}

}  // namespace

wire::TensorSpec tensor_spec(const std::string& name, wire::DType dtype,
                             const std::vector<int64_t>& shape) {
  wire::TensorSpec spec;
  spec.set_name(name);
  spec.set_dtype(dtype);
  for (int64_t dim : shape) spec.add_shape(dim);
  return spec;
}

wire::Manifest make_manifest(const std::vector<ConstTensorView>& tensors, wire::Codec codec) {
  return manifest_of(tensors, codec);
}

namespace detail {

void StickyError::rethrow_if_failed() const {
  if (failed_) throw ProtocolError(code_, "transfer already failed: " + message_);
}

void StickyError::fail(const ProtocolError& error) {
  if (!failed_) {
    failed_ = true;
    code_ = error.code();
    message_ = error.what();
  }
  throw error;
}

}  // namespace detail

TensorStreamWriter::TensorStreamWriter(std::vector<ConstTensorView> tensors, wire::Codec codec,
                                       size_t chunk_bytes)
    : tensors_(std::move(tensors)),
      manifest_(manifest_of(tensors_, codec)),
      spans_(spans_of(manifest_)),
      chunk_bytes_(chunk_bytes),
      total_(manifest_.total_bytes()) {
  check(chunk_bytes > 0 && chunk_bytes <= kMaxChunkBytes, wire::STATUS_INTERNAL,
        "chunk size {} is outside 1..{} bytes", chunk_bytes, kMaxChunkBytes);
}

bool TensorStreamWriter::next_chunk(wire::TensorChunk& chunk) {
  error_.rethrow_if_failed();
  if (done()) return false;
  const auto size = static_cast<size_t>(std::min<uint64_t>(chunk_bytes_, total_ - sent_));
  std::string& data = *chunk.mutable_data();
  // One resize per chunk (a no-op when the caller reuses the chunk), then encode in place.
  data.resize(size);
  auto* out = reinterpret_cast<uint8_t*>(&data[0]);
  try {
    fill(out, size);
  } catch (const ProtocolError& error) {
    error_.fail(error);
  }
  chunk.set_offset(sent_);
  sent_ += size;
  return true;
}

bool TensorStreamWriter::next_chunk_frame(std::vector<uint8_t>& frame, uint32_t max_frame_bytes) {
  using google::protobuf::io::CodedOutputStream;
  error_.rethrow_if_failed();
  if (done()) return false;
  const auto size = static_cast<size_t>(std::min<uint64_t>(chunk_bytes_, total_ - sent_));
  // Envelope { chunk = 4: TensorChunk { offset = 1 (omitted when 0, as proto3 does), data = 2 } },
  // fields in number order: byte for byte what SerializeToArray writes for the same message.
  const uint32_t offset_tag = field_tag(wire::TensorChunk::kOffsetFieldNumber, kVarint);
  const uint32_t data_tag = field_tag(wire::TensorChunk::kDataFieldNumber, kLengthDelimited);
  const uint32_t chunk_tag = field_tag(wire::Envelope::kChunkFieldNumber, kLengthDelimited);
  const size_t chunk_body =
      (sent_ == 0
           ? 0
           : CodedOutputStream::VarintSize32(offset_tag) + CodedOutputStream::VarintSize64(sent_)) +
      CodedOutputStream::VarintSize32(data_tag) + CodedOutputStream::VarintSize64(size) + size;
  const size_t body = CodedOutputStream::VarintSize32(chunk_tag) +
                      CodedOutputStream::VarintSize64(chunk_body) + chunk_body;
  uint8_t* out = start_frame(frame, body, max_frame_bytes);
  out = CodedOutputStream::WriteVarint32ToArray(chunk_tag, out);
  out = CodedOutputStream::WriteVarint64ToArray(chunk_body, out);
  if (sent_ != 0) {
    out = CodedOutputStream::WriteVarint32ToArray(offset_tag, out);
    out = CodedOutputStream::WriteVarint64ToArray(sent_, out);
  }
  out = CodedOutputStream::WriteVarint32ToArray(data_tag, out);
  out = CodedOutputStream::WriteVarint64ToArray(size, out);
  try {
    fill(out, size);
  } catch (const ProtocolError& error) {
    error_.fail(error);
  }
  sent_ += size;
  return true;
}

wire::TransferEnd TensorStreamWriter::transfer_end() const {
  check(done(), wire::STATUS_INTERNAL, "transfer_end requested after {} of {} bytes", sent_,
        total_);
  return wire::TransferEnd();
}

void TensorStreamWriter::fill(uint8_t* out, size_t size) {
  uint64_t at = sent_;
  while (size > 0) {
    const auto& span = spans_[current_];
    const uint64_t position = at - span.begin;
    const auto take = static_cast<size_t>(std::min<uint64_t>(size, span.bytes - position));
    encode_range(current_, position, take, out);
    out += take;
    size -= take;
    at += take;
    if (position + take == span.bytes) ++current_;  // also steps over empty tensors
  }
}

// Encodes bytes [position, position + size) of one tensor's encoding. Whole elements are encoded
// in place; an element split by a chunk boundary is encoded into a small buffer on both sides of
// the boundary and the part that belongs to this chunk is copied.
void TensorStreamWriter::encode_range(size_t tensor, uint64_t position, size_t size,
                                      uint8_t* out) const {
  const size_t width = spans_[tensor].element_bytes;
  uint64_t element = position / width;
  std::array<uint8_t, kMaxElementBytes> one{};
  if (const size_t skip = position % width; skip != 0 && size > 0) {
    encode_elements(tensor, element, 1, one.data());
    const size_t take = std::min(width - skip, size);
    std::memcpy(out, one.data() + skip, take);
    out += take;
    size -= take;
    ++element;
  }
  const size_t whole = size / width;
  encode_elements(tensor, element, whole, out);
  out += whole * width;
  size -= whole * width;
  if (size > 0) {
    encode_elements(tensor, element + whole, 1, one.data());
    std::memcpy(out, one.data(), size);
  }
}

void TensorStreamWriter::encode_elements(size_t tensor, uint64_t first, size_t count,
                                         uint8_t* out) const {
  if (count == 0) return;
  const auto& view = tensors_[tensor];
  if (view.spec.dtype() == wire::DTYPE_INT64) {
    store_int64s(static_cast<const int64_t*>(view.data) + first, count, out);
    return;
  }
  const float* values = static_cast<const float*>(view.data) + first;
  try {
    encode_floats(values, count, manifest_.codec(), out);
  } catch (const ProtocolError&) {
    refuse_values(view.spec, values, count, first, manifest_.codec());
  }
}

TensorStreamReader::TensorStreamReader(const wire::Manifest& manifest,
                                       std::vector<MutableTensorView> destinations)
    : codec_(manifest.codec()), destinations_(std::move(destinations)) {
  validate_manifest(manifest, manifest_of(destinations_, codec_), kDecodableCodecs);
  spans_ = spans_of(manifest);
  total_ = manifest.total_bytes();
}

void TensorStreamReader::add(const wire::TensorChunk& chunk) {
  error_.rethrow_if_failed();
  try {
    accept(chunk);
  } catch (const ProtocolError& error) {
    error_.fail(error);
  }
}

void TensorStreamReader::finish(const wire::TransferEnd& /*end*/) {
  error_.rethrow_if_failed();
  try {
    check(!finished_, wire::STATUS_MALFORMED, "a second TransferEnd for one transfer");
    check(complete(), wire::STATUS_MANIFEST_BYTES, "transfer ended after {} of {} bytes", received_,
          total_);
    finished_ = true;
  } catch (const ProtocolError& error) {
    error_.fail(error);
  }
}

void TensorStreamReader::accept(const wire::TensorChunk& chunk) {
  const std::string& data = chunk.data();
  // Every bound is checked before a byte is decoded.
  check(chunk.offset() == received_, wire::STATUS_MANIFEST_BYTES,
        "chunk at offset {} does not continue the transfer at byte {}", chunk.offset(), received_);
  check(data.size() <= total_ - received_, wire::STATUS_MANIFEST_BYTES,
        "chunk of {} bytes at offset {} runs past the {} bytes the manifest declares", data.size(),
        chunk.offset(), total_);
  check(!data.empty(), wire::STATUS_MALFORMED, "empty chunk at offset {}", chunk.offset());
  check(data.size() <= kMaxChunkBytes, wire::STATUS_FRAME_TOO_LARGE,
        "chunk of {} bytes exceeds the {}-byte limit", data.size(), kMaxChunkBytes);
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  size_t size = data.size();
  while (size > 0) {
    const auto& span = spans_[current_];
    const uint64_t position = received_ - span.begin;
    const auto take = static_cast<size_t>(std::min<uint64_t>(size, span.bytes - position));
    decode_range(current_, position, bytes, take);
    bytes += take;
    size -= take;
    received_ += take;
    if (position + take == span.bytes) ++current_;  // also steps over empty tensors
  }
}

// Decodes bytes [position, position + size) of one tensor's encoding. Whole elements are decoded
// straight from the chunk; the bytes of an element split by a chunk boundary wait in carry_.
void TensorStreamReader::decode_range(size_t tensor, uint64_t position, const uint8_t* bytes,
                                      size_t size) {
  const size_t width = spans_[tensor].element_bytes;
  if (carry_size_ > 0) {
    const uint64_t element = position / width;
    const size_t take = std::min(width - carry_size_, size);
    std::memcpy(carry_.data() + carry_size_, bytes, take);
    carry_size_ += take;
    bytes += take;
    size -= take;
    position += take;
    if (carry_size_ < width) return;
    decode_elements(tensor, element, carry_.data(), 1);
    carry_size_ = 0;
  }
  const size_t whole = size / width;
  decode_elements(tensor, position / width, bytes, whole);
  bytes += whole * width;
  size -= whole * width;
  std::memcpy(carry_.data(), bytes, size);
  carry_size_ = size;
}

void TensorStreamReader::decode_elements(size_t tensor, uint64_t first, const uint8_t* bytes,
                                         size_t count) {
  if (count == 0) return;
  const auto& view = destinations_[tensor];
  if (view.spec.dtype() == wire::DTYPE_INT64) {
    load_int64s(bytes, count, static_cast<int64_t*>(view.data) + first);
    return;
  }
  try {
    decode_floats(bytes, count, codec_, static_cast<float*>(view.data) + first);
  } catch (const ProtocolError&) {
    refuse_received(view.spec, bytes, count, first, codec_);
    throw;
  }
}

}  // namespace fedgan::protocol
