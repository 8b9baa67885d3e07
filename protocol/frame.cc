#include "protocol/frame.h"

#include <algorithm>

namespace fedgan::protocol {

std::array<uint8_t, kFrameHeaderBytes> encode_frame_header(uint32_t body_bytes) {
  return {kFrameMagic[0],
          kFrameMagic[1],
          kProtocolMajorVersion,
          0,
          static_cast<uint8_t>(body_bytes >> 24),
          static_cast<uint8_t>(body_bytes >> 16),
          static_cast<uint8_t>(body_bytes >> 8),
          static_cast<uint8_t>(body_bytes)};
}

FrameHeader decode_frame_header(const uint8_t* bytes, uint32_t max_frame_bytes) {
  check(bytes[0] == kFrameMagic[0] && bytes[1] == kFrameMagic[1], wire::STATUS_MALFORMED,
        "not a fedgan frame: the stream starts with bytes 0x{:02x} 0x{:02x}, expected 'FG' "
        "(is the peer speaking another protocol, or plaintext to a TLS port?)",
        bytes[0], bytes[1]);
  check(bytes[2] == kProtocolMajorVersion, wire::STATUS_UNSUPPORTED_VERSION,
        "peer speaks fedgan protocol major version {}, this side speaks {}; upgrade the older side",
        bytes[2], kProtocolMajorVersion);
  check(bytes[3] == 0, wire::STATUS_MALFORMED, "frame flags 0x{:02x} are reserved and must be 0",
        bytes[3]);
  FrameHeader header;
  header.major_version = bytes[2];
  header.body_bytes = (uint32_t{bytes[4]} << 24) | (uint32_t{bytes[5]} << 16) |
                      (uint32_t{bytes[6]} << 8) | uint32_t{bytes[7]};
  check(header.body_bytes <= max_frame_bytes, wire::STATUS_FRAME_TOO_LARGE,
        "frame of {} bytes exceeds the limit of {} bytes", header.body_bytes, max_frame_bytes);
  return header;
}

std::vector<uint8_t> encode_frame(const wire::Envelope& envelope, uint32_t max_frame_bytes) {
  check(envelope.body_case() != wire::Envelope::BODY_NOT_SET, wire::STATUS_MALFORMED,
        "refusing to send an envelope with no message in it");
  const size_t body_bytes = envelope.ByteSizeLong();
  std::vector<uint8_t> frame;
  uint8_t* body = start_frame(frame, body_bytes, max_frame_bytes);
  check(envelope.SerializeToArray(body, static_cast<int>(body_bytes)), wire::STATUS_INTERNAL,
        "protobuf serialization of a {}-byte envelope failed", body_bytes);
  return frame;
}

uint8_t* start_frame(std::vector<uint8_t>& frame, size_t body_bytes, uint32_t max_frame_bytes) {
  check(body_bytes <= max_frame_bytes, wire::STATUS_FRAME_TOO_LARGE,
        "message of {} bytes exceeds the frame limit of {} bytes; send large data as chunks",
        body_bytes, max_frame_bytes);
  frame.resize(kFrameHeaderBytes + body_bytes);
  const auto header = encode_frame_header(static_cast<uint32_t>(body_bytes));
  return std::copy(header.begin(), header.end(), frame.data());
}

wire::Envelope decode_envelope(const uint8_t* body, size_t size) {
  wire::Envelope envelope;
  check(envelope.ParseFromArray(body, static_cast<int>(size)), wire::STATUS_MALFORMED,
        "frame body of {} bytes is not a valid fedgan message", size);
  check(envelope.body_case() != wire::Envelope::BODY_NOT_SET, wire::STATUS_MALFORMED,
        "frame holds an envelope with no message (an unknown message type from a newer peer?)");
  return envelope;
}

FrameDecoder::FrameDecoder(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::fail(const ProtocolError& error) {
  broken_ = true;
  error_code_ = error.code();
  error_message_ = error.what();
  header_fill_ = 0;
  have_header_ = false;
  body_ = {};  // releases the buffer, not just its contents
  throw error;
}

std::vector<wire::Envelope> FrameDecoder::feed(const uint8_t* data, size_t size) {
  std::vector<wire::Envelope> complete;
  size_t used = 0;
  do {
    std::optional<wire::Envelope> message;
    used += feed_one(data + used, size - used, message);
    if (!message) break;
    complete.push_back(std::move(*message));
  } while (used < size);
  return complete;
}

size_t FrameDecoder::feed_one(const uint8_t* data, size_t size,
                              std::optional<wire::Envelope>& message) {
  if (broken_) throw ProtocolError(error_code_, "stream already failed: " + error_message_);
  size_t used = 0;
  try {
    while (used < size) {
      if (!have_header_) {
        const size_t take = std::min(kFrameHeaderBytes - header_fill_, size - used);
        std::copy_n(data + used, take, header_.begin() + header_fill_);
        header_fill_ += take;
        used += take;
        if (header_fill_ < kFrameHeaderBytes) break;
        // The limit is enforced here, before the body buffer is sized.
        body_bytes_ = decode_frame_header(header_.data(), max_frame_bytes_).body_bytes;
        have_header_ = true;
        body_.clear();
        body_.reserve(body_bytes_);
      }
      const size_t take = std::min<size_t>(body_bytes_ - body_.size(), size - used);
      body_.insert(body_.end(), data + used, data + used + take);
      used += take;
      if (body_.size() < body_bytes_) break;
      message = decode_envelope(body_.data(), body_.size());
      have_header_ = false;
      header_fill_ = 0;
      body_.clear();
      break;
    }
  } catch (const ProtocolError& error) {
    fail(error);
  }
  return used;
}

}  // namespace fedgan::protocol
