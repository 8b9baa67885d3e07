#include "protocol/frame.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace fedgan::protocol {
namespace {

using Bytes = std::vector<uint8_t>;

wire::Envelope heartbeat(int64_t ms) {
  wire::Envelope e;
  e.mutable_heartbeat()->set_unix_ms(ms);
  return e;
}

// Feeds `bytes` and returns the ProtocolError it raises; fails the test if none is raised.
ProtocolError feed_error(FrameDecoder& decoder, const Bytes& bytes) {
  try {
    decoder.feed(bytes.data(), bytes.size());
  } catch (const ProtocolError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ProtocolError";
  return ProtocolError(wire::STATUS_OK, "");
}

Bytes header(uint8_t m0, uint8_t m1, uint8_t major, uint8_t flags, uint32_t length) {
  return {m0,
          m1,
          major,
          flags,
          static_cast<uint8_t>(length >> 24),
          static_cast<uint8_t>(length >> 16),
          static_cast<uint8_t>(length >> 8),
          static_cast<uint8_t>(length)};
}

TEST(FrameHeader, EncodesMagicVersionAndBigEndianLength) {
  const auto h = encode_frame_header(0x01020304);
  EXPECT_EQ(Bytes(h.begin(), h.end()), header('F', 'G', 1, 0, 0x01020304));
  EXPECT_EQ(decode_frame_header(h.data(), 0x7fffffff).body_bytes, 0x01020304u);
}

TEST(FrameDecoder, DecodesFramesFedOneByteAtATimeAndManyAtOnce) {
  Bytes stream;
  for (int64_t ms : {1, 2, 3}) {
    const auto frame = encode_frame(heartbeat(ms));
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  FrameDecoder bytewise;
  std::vector<int64_t> seen;
  for (uint8_t b : stream) {
    for (const auto& e : bytewise.feed(&b, 1)) seen.push_back(e.heartbeat().unix_ms());
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 2, 3}));
  FrameDecoder whole;
  EXPECT_EQ(whole.feed(stream.data(), stream.size()).size(), 3u);
  EXPECT_EQ(whole.buffered_bytes(), 0u);
}

TEST(FrameDecoder, OversizeLengthIsRefusedFromTheHeaderAloneBeforeAllocation) {
  FrameDecoder decoder(1024);
  const auto error = feed_error(decoder, header('F', 'G', 1, 0, 0xFFFFFFF0));
  EXPECT_EQ(error.code(), wire::STATUS_FRAME_TOO_LARGE);
  EXPECT_NE(std::string(error.what()).find("4294967280 bytes exceeds the limit of 1024"),
            std::string::npos);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);  // the body buffer was never sized
}

TEST(FrameDecoder, FeedOneStopsAtTheEndOfTheFirstCompleteFrame) {
  Bytes stream;
  for (int64_t ms : {1, 2}) {
    const auto frame = encode_frame(heartbeat(ms));
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  const size_t first_frame = stream.size() / 2;
  FrameDecoder decoder;
  std::optional<wire::Envelope> message;
  EXPECT_EQ(decoder.feed_one(stream.data(), stream.size(), message), first_frame);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->heartbeat().unix_ms(), 1);
  message.reset();
  // A piece that completes no frame is consumed whole.
  EXPECT_EQ(decoder.feed_one(stream.data() + first_frame, 3, message), 3u);
  EXPECT_FALSE(message);
  EXPECT_EQ(
      decoder.feed_one(stream.data() + first_frame + 3, stream.size() - first_frame - 3, message),
      stream.size() - first_frame - 3);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->heartbeat().unix_ms(), 2);
}

TEST(FrameDecoder, ANewLimitAppliesFromTheNextHeader) {
  wire::Envelope big;
  big.mutable_ack()->mutable_status()->set_message(std::string(2000, 'x'));
  const auto big_frame = encode_frame(big);
  const auto small_frame = encode_frame(heartbeat(1));

  // Raised after a small first frame, as the transport does once a peer has greeted it.
  FrameDecoder raised(1024);
  EXPECT_EQ(raised.feed(small_frame.data(), small_frame.size()).size(), 1u);
  raised.set_max_frame_bytes(4096);
  EXPECT_EQ(raised.max_frame_bytes(), 4096u);
  EXPECT_EQ(raised.feed(big_frame.data(), big_frame.size()).size(), 1u);

  // Lowered while a frame is half read: that frame keeps the limit it was accepted under, the
  // next one is checked against the new limit.
  FrameDecoder lowered(4096);
  EXPECT_EQ(lowered.feed(big_frame.data(), 100).size(), 0u);
  lowered.set_max_frame_bytes(1024);
  EXPECT_EQ(lowered.feed(big_frame.data() + 100, big_frame.size() - 100).size(), 1u);
  EXPECT_EQ(feed_error(lowered, big_frame).code(), wire::STATUS_FRAME_TOO_LARGE);
}

TEST(FrameDecoder, TruncatedFrameYieldsNothingAndHoldsOnlyWhatArrived) {
  const auto frame = encode_frame(heartbeat(99));
  FrameDecoder decoder;
  EXPECT_TRUE(decoder.feed(frame.data(), frame.size() - 1).empty());
  EXPECT_EQ(decoder.buffered_bytes(), frame.size() - 1);
  EXPECT_EQ(decoder.feed(&frame.back(), 1).size(), 1u);
}

TEST(FrameDecoder, GarbageBytesAreMalformedAndNamed) {
  FrameDecoder decoder;
  const Bytes http = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
  const auto error = feed_error(decoder, http);
  EXPECT_EQ(error.code(), wire::STATUS_MALFORMED);
  EXPECT_NE(std::string(error.what()).find("not a fedgan frame"), std::string::npos);
}

TEST(FrameDecoder, OtherMajorVersionIsRejectedBeforeTheBodyIsParsed) {
  FrameDecoder decoder;
  Bytes frame = header('F', 'G', 2, 0, 3);
  frame.insert(frame.end(), {0xde, 0xad, 0xbe});  // a body this version could not parse
  const auto error = feed_error(decoder, frame);
  EXPECT_EQ(error.code(), wire::STATUS_UNSUPPORTED_VERSION);
  EXPECT_NE(std::string(error.what()).find("major version 2, this side speaks 1"),
            std::string::npos);
}

TEST(FrameDecoder, ReservedFlagsAreMalformed) {
  FrameDecoder decoder;
  EXPECT_EQ(feed_error(decoder, header('F', 'G', 1, 0x80, 0)).code(), wire::STATUS_MALFORMED);
}

TEST(FrameDecoder, UndecodableBodyIsMalformed) {
  FrameDecoder decoder;
  Bytes frame = header('F', 'G', 1, 0, 4);
  frame.insert(frame.end(), {0xff, 0xff, 0xff, 0xff});  // field 0x1fffffff, bad wire type
  const auto error = feed_error(decoder, frame);
  EXPECT_EQ(error.code(), wire::STATUS_MALFORMED);
  EXPECT_NE(std::string(error.what()).find("not a valid fedgan message"), std::string::npos);
}

TEST(FrameDecoder, EmptyEnvelopeIsMalformed) {
  FrameDecoder decoder;
  const auto error = feed_error(decoder, header('F', 'G', 1, 0, 0));
  EXPECT_EQ(error.code(), wire::STATUS_MALFORMED);
  EXPECT_NE(std::string(error.what()).find("no message"), std::string::npos);
}

TEST(FrameDecoder, RemembersItsFirstErrorAndRefusesLaterInput) {
  FrameDecoder decoder;
  feed_error(decoder, header('F', 'G', 9, 0, 0));
  EXPECT_TRUE(decoder.broken());
  const auto good = encode_frame(heartbeat(1));
  const auto error = feed_error(decoder, Bytes(good.begin(), good.end()));
  EXPECT_EQ(error.code(), wire::STATUS_UNSUPPORTED_VERSION);
  EXPECT_NE(std::string(error.what()).find("stream already failed"), std::string::npos);
}

TEST(EncodeFrame, RefusesMessagesOverTheLimitAndEmptyEnvelopes) {
  wire::Envelope big;
  big.mutable_chunk()->set_data(std::string(2048, 'x'));
  try {
    encode_frame(big, 1024);
    ADD_FAILURE() << "expected FRAME_TOO_LARGE";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code(), wire::STATUS_FRAME_TOO_LARGE);
  }
  EXPECT_THROW(encode_frame(wire::Envelope()), ProtocolError);
  EXPECT_EQ(encode_frame(big, 4096).size(), kFrameHeaderBytes + big.ByteSizeLong());
}

}  // namespace
}  // namespace fedgan::protocol
