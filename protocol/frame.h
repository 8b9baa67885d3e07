#pragma once

#include "protocol/error.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace fedgan::protocol {

/// Frame layout, all integers big-endian:
///   bytes 0-1  magic "FG"
///   byte  2    protocol major version
///   byte  3    flags (reserved, must be 0)
///   bytes 4-7  body length in bytes
///   body       one serialized wire::Envelope
/// The header is checked before the body is read: bad magic or flags (garbage, a plaintext or
/// HTTP client) are MALFORMED, another major version is UNSUPPORTED_VERSION, and a length over the
/// receiver's limit is FRAME_TOO_LARGE, all refused before any body buffer is allocated.
inline constexpr std::array<uint8_t, 2> kFrameMagic = {'F', 'G'};
inline constexpr uint8_t kProtocolMajorVersion = 1;
/// 1.1 dropped the transfers' SHA-256 (TransferEnd is empty) and Task.model_sha256. 1.2: an Ack
/// names the stage, round and nonce it answers; statuses OUT_OF_RANGE and INCOMPLETE; a site's
/// first message must be its Hello, within the handshake deadline. 1.3: a Task's hyperparameters
/// are a typed TrainingHyperparameters (Task field 9; the text map of field 5 is gone), and the
/// Goodbye that ends a finished run carries STATUS_RUN_FINISHED (docs/architecture.md, "Protocol
/// versions", says what a peer of an older minor version gets).
inline constexpr uint32_t kProtocolMinorVersion = 3;
/// The oldest minor version whose Hello the coordinator admits. A 1.2 site could not read a 1.3
/// Task (its hyperparameters are typed since 1.3), so it is refused at its Hello with
/// STATUS_UNSUPPORTED_VERSION instead of being welcomed to tasks it would refuse one by one.
inline constexpr uint32_t kMinPeerMinorVersion = 3;
inline constexpr size_t kFrameHeaderBytes = 8;
/// Default limit on a frame's body. Models travel as many chunks, so no frame needs to be large.
inline constexpr uint32_t kDefaultMaxFrameBytes = 8u << 20;

struct FrameHeader {
  uint8_t major_version = kProtocolMajorVersion;
  uint32_t body_bytes = 0;
};

/// Encodes a header for a body of `body_bytes`.
std::array<uint8_t, kFrameHeaderBytes> encode_frame_header(uint32_t body_bytes);

/// Validates and decodes the 8 header bytes at `bytes`. Throws ProtocolError.
FrameHeader decode_frame_header(const uint8_t* bytes, uint32_t max_frame_bytes);

/// Sizes `frame` for a body of `body_bytes` and writes its header; returns where the body goes.
/// Throws ProtocolError(FRAME_TOO_LARGE) when the body would exceed `max_frame_bytes`, leaving
/// `frame` alone. The one place a frame's limit and header are applied on the sending side.
uint8_t* start_frame(std::vector<uint8_t>& frame, size_t body_bytes, uint32_t max_frame_bytes);

/// Serializes `envelope` into one frame (header + body). Throws ProtocolError(FRAME_TOO_LARGE)
/// when the body would exceed `max_frame_bytes`, and MALFORMED for an envelope with no body.
std::vector<uint8_t> encode_frame(const wire::Envelope& envelope,
                                  uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

/// Parses one frame body. Throws ProtocolError(MALFORMED) for bytes that are not an Envelope or an
/// Envelope with no body set.
wire::Envelope decode_envelope(const uint8_t* body, size_t size);

/// Incremental decoder for a byte stream of frames, as read from a connection in pieces of any
/// size. Memory is bounded by one frame (header + max_frame_bytes) plus the envelopes returned.
/// The first error is remembered: every later feed() throws it again, since a stream that broke
/// framing once cannot be resynchronised. Not thread-safe.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

  /// Consumes all `size` bytes; returns the envelopes of the frames they completed, in order.
  std::vector<wire::Envelope> feed(const uint8_t* data, size_t size);

  /// Consumes bytes up to the end of the first frame they complete, or all `size` bytes when they
  /// complete none, and returns how many it consumed; the completed frame's envelope, if any, is
  /// put in `message`. For a caller that acts on each message before the next frame's header is
  /// checked (the transport raises the limit below once a peer has greeted it): it feeds the
  /// remaining bytes afterwards. Throws like feed().
  size_t feed_one(const uint8_t* data, size_t size, std::optional<wire::Envelope>& message);

  /// The limit on frame bodies from the next frame header on; a frame whose header was already
  /// read keeps the limit it was accepted under.
  void set_max_frame_bytes(uint32_t max_frame_bytes) { max_frame_bytes_ = max_frame_bytes; }
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }

  /// Bytes held for an incomplete frame (header and body so far).
  size_t buffered_bytes() const { return header_fill_ + body_.size(); }
  bool broken() const { return broken_; }

 private:
  [[noreturn]] void fail(const ProtocolError& error);

  uint32_t max_frame_bytes_;
  std::array<uint8_t, kFrameHeaderBytes> header_{};
  size_t header_fill_ = 0;
  bool have_header_ = false;
  uint32_t body_bytes_ = 0;
  std::vector<uint8_t> body_;
  bool broken_ = false;
  wire::StatusCode error_code_ = wire::STATUS_OK;
  std::string error_message_;
};

}  // namespace fedgan::protocol
