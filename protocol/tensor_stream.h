#pragma once

#include "protocol/error.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::protocol {

// A model travels as one Manifest (names, dtypes, shapes, codec, total_bytes), then TensorChunks
// that slice the concatenation of every tensor's encoded bytes in manifest order, then an empty
// TransferEnd. Encoded bytes are little-endian:
// float32 tensors as binary32 (CODEC_FP32) or binary16 (CODEC_FP16), int64 tensors as 8-byte
// integers under every codec. Chunk boundaries fall anywhere, inside an element or a tensor.
//
// Neither side ever holds the model as one buffer: the writer encodes one chunk at a time from
// the caller's tensors, the reader decodes each chunk straight into the caller's destinations,
// so peak extra memory is one chunk plus the few bytes of an element split between two chunks.
//
// Another codec (int8 quantisation, top-k sparsification) adds a wire::Codec value, its size in
// encoded_element_bytes (tensor_records.h), and an element encoder and decoder in
// tensor_stream.cc; a codec with per-tensor parameters (a scale, a count of kept entries) carries
// them in the manifest so the receiver can still size every tensor before a chunk arrives.

/// Chunk size the writer uses unless told otherwise.
inline constexpr size_t kDefaultChunkBytes = size_t{512} << 10;
/// Largest chunk either side accepts. The receiver's frame limit (kDefaultMaxFrameBytes, 8 MiB,
/// minus the envelope's few bytes) bounds chunks further: pick chunk_bytes below the peer's.
inline constexpr size_t kMaxChunkBytes = size_t{16} << 20;
/// Widest encoded element (int64): the most bytes of a split element the reader carries over.
inline constexpr size_t kMaxElementBytes = 8;

/// One tensor to send: contiguous host memory in the dtype's native layout (float for
/// DTYPE_FLOAT32, int64_t for DTYPE_INT64), not owned. `data` may be null for a tensor with no
/// elements.
struct ConstTensorView {
  wire::TensorSpec spec;
  const void* data = nullptr;  // owned by the caller, outlives the writer
};

/// Where one received tensor goes: like ConstTensorView, but writable. float32 tensors are
/// decoded into float32 memory whatever the codec.
struct MutableTensorView {
  wire::TensorSpec spec;
  void* data = nullptr;  // owned by the caller, outlives the reader
};

/// A TensorSpec from its parts.
wire::TensorSpec tensor_spec(const std::string& name, wire::DType dtype,
                             const std::vector<int64_t>& shape);

/// The manifest describing `tensors` sent with `codec`, total_bytes included. Throws
/// ProtocolError: MALFORMED for an unknown codec, MANIFEST_DTYPE for a dtype other than float32 or
/// int64, MANIFEST_SHAPE / MANIFEST_BYTES for shapes beyond the limits of tensor_records.h, and
/// INTERNAL for a null `data` on a tensor with elements.
wire::Manifest make_manifest(const std::vector<ConstTensorView>& tensors, wire::Codec codec);

namespace detail {

/// Where one tensor's encoded bytes lie in the concatenation of a transfer.
struct TensorSpan {
  uint64_t begin = 0;        // offset of its first encoded byte
  uint64_t bytes = 0;        // its encoded size
  size_t element_bytes = 0;  // encoded size of one element
};

/// The first error of a transfer, raised again by every later call: a transfer that failed once
/// cannot resume.
class StickyError {
 public:
  /// Throws ProtocolError with the remembered status when an error was recorded.
  void rethrow_if_failed() const;
  /// Records `error` (unless one is recorded already) and throws it.
  [[noreturn]] void fail(const ProtocolError& error);
  bool failed() const { return failed_; }

 private:
  bool failed_ = false;
  wire::StatusCode code_ = wire::STATUS_OK;
  std::string message_;
};

}  // namespace detail

/// Produces the chunks of one transfer lazily, one per call, so that a transport can encode the
/// next chunk only when its write queue has room. Memory: the chunk the caller passes in. The
/// first error is remembered and raised again by later calls. Not thread-safe.
class TensorStreamWriter {
 public:
  /// Describes `tensors` as make_manifest does (and throws what it throws); ProtocolError(INTERNAL)
  /// when chunk_bytes is 0 or above kMaxChunkBytes. The tensors' memory must stay unchanged until
  /// the last chunk has been produced.
  TensorStreamWriter(std::vector<ConstTensorView> tensors, wire::Codec codec,
                     size_t chunk_bytes = kDefaultChunkBytes);

  /// The manifest to send before the chunks.
  const wire::Manifest& manifest() const { return manifest_; }

  /// Fills `chunk` with the next min(chunk_bytes, remaining) bytes and their offset, and returns
  /// true; returns false, leaving `chunk` alone, once every byte went out. Passing the same chunk
  /// again reuses its buffer. Throws ProtocolError(NON_FINITE) naming the tensor and element index
  /// for a NaN or infinite value, or under CODEC_FP16 a value beyond the binary16 range; `chunk` is
  /// then unspecified.
  bool next_chunk(wire::TensorChunk& chunk);

  /// The same chunk as a whole frame, the bytes encode_frame makes of an Envelope holding it:
  /// header, Envelope, TensorChunk, and the values encoded straight into the frame. Saves the
  /// chunk's own buffer and the copy protobuf would make of it, two passes over every byte sent.
  /// Returns false, leaving `frame` alone, once every byte went out; throws what next_chunk
  /// throws, and ProtocolError(FRAME_TOO_LARGE) when the frame's body would exceed
  /// `max_frame_bytes` (nothing is consumed then).
  bool next_chunk_frame(std::vector<uint8_t>& frame, uint32_t max_frame_bytes);

  /// The TransferEnd to send after the last chunk. Throws ProtocolError(INTERNAL) before done().
  wire::TransferEnd transfer_end() const;

  /// Whether every chunk has been produced.
  bool done() const { return sent_ == total_; }
  uint64_t bytes_sent() const { return sent_; }
  uint64_t total_bytes() const { return total_; }
  size_t chunk_bytes() const { return chunk_bytes_; }
  bool failed() const { return error_.failed(); }

 private:
  void fill(uint8_t* out, size_t size);
  void encode_range(size_t tensor, uint64_t position, size_t size, uint8_t* out) const;
  void encode_elements(size_t tensor, uint64_t first, size_t count, uint8_t* out) const;

  std::vector<ConstTensorView> tensors_;
  wire::Manifest manifest_;
  std::vector<detail::TensorSpan> spans_;
  size_t chunk_bytes_;
  uint64_t total_ = 0;
  uint64_t sent_ = 0;
  size_t current_ = 0;  // index of the tensor the next chunk starts in
  detail::StickyError error_;
};

/// Decodes the chunks of one transfer straight into caller-owned destinations: every chunk is
/// checked (offset, size, finiteness) before or while it is decoded, and no buffer of the model's
/// size is ever allocated. After an error the destinations hold partial data and must not be used;
/// the first error is remembered and raised again by later calls. Not thread-safe.
class TensorStreamReader {
 public:
  /// `manifest` is the peer's, normally already checked by validate_manifest against the
  /// expected one. The reader checks it again against `destinations`, tensor for tensor, and
  /// throws what validate_manifest throws on a mismatch (MANIFEST_NAME, _DTYPE, _SHAPE, _BYTES,
  /// _MISSING, _EXTRA; MALFORMED for a codec other than fp32 or fp16), plus what make_manifest
  /// throws for the destinations themselves.
  TensorStreamReader(const wire::Manifest& manifest, std::vector<MutableTensorView> destinations);

  /// Decodes one chunk into the destinations. Throws ProtocolError: MANIFEST_BYTES for a chunk that
  /// does not start where the previous one ended (a gap or an overlap) or runs past total_bytes,
  /// both before anything is decoded; MALFORMED for an empty chunk; FRAME_TOO_LARGE above
  /// kMaxChunkBytes; NON_FINITE, naming the tensor and element index, for a NaN or infinity.
  void add(const wire::TensorChunk& chunk);

  /// Ends the transfer: throws ProtocolError MANIFEST_BYTES when bytes are missing, MALFORMED when
  /// called twice. Only after it returns may the destinations be used.
  void finish(const wire::TransferEnd& end);

  /// Whether every byte the manifest declares has arrived.
  bool complete() const { return received_ == total_; }
  uint64_t received_bytes() const { return received_; }
  uint64_t total_bytes() const { return total_; }
  /// Bytes of an element split between chunks, held until the next chunk completes it (below
  /// kMaxElementBytes): all the memory the reader holds besides its bookkeeping.
  size_t carry_bytes() const { return carry_size_; }
  bool failed() const { return error_.failed(); }

 private:
  void accept(const wire::TensorChunk& chunk);
  void decode_range(size_t tensor, uint64_t position, const uint8_t* bytes, size_t size);
  void decode_elements(size_t tensor, uint64_t first, const uint8_t* bytes, size_t count);

  wire::Codec codec_;
  std::vector<MutableTensorView> destinations_;
  std::vector<detail::TensorSpan> spans_;
  uint64_t total_ = 0;
  uint64_t received_ = 0;
  size_t current_ = 0;  // index of the tensor the next chunk starts in
  std::array<uint8_t, kMaxElementBytes> carry_{};
  size_t carry_size_ = 0;
  bool finished_ = false;
  detail::StickyError error_;
};

}  // namespace fedgan::protocol
