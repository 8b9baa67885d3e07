// The greeting rules a Server applies to every connection (ConnectionOptions::require_greeting):
// the TLS handshake and the first message share one fixed deadline, heartbeats do not count as a
// greeting, and the first frame is small. Over real loopback TLS with short deadlines.

#include "tests/protocol/raw_peer.h"
#include "tests/protocol/transport_fixture.h"

#include <gmock/gmock.h>

#include <future>

namespace fedgan::protocol::testing {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

RawTlsOptions site1_raw() {
  return {test_pki().ca(), test_pki().cert("site-1"), test_pki().key("site-1")};
}

// A handshake deadline of 500 ms; idle and frame deadlines far beyond it, so only the greeting
// deadline can close a connection in these tests.
ServerOptions greeting_server(std::chrono::milliseconds handshake = 500ms) {
  ServerOptions options;
  options.connection = fast_options();
  options.connection.handshake_timeout = handshake;
  options.connection.idle_timeout = 10s;
  options.connection.frame_timeout = 10s;
  return options;
}

std::vector<uint8_t> frame_of(const wire::Envelope& message) {
  return encode_frame(message);
}

wire::Envelope heartbeat() {
  wire::Envelope message;
  message.mutable_heartbeat()->set_unix_ms(1);
  return message;
}

TEST(Greeting, APeerThatSendsNothingIsClosedAtTheHandshakeDeadline) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"), greeting_server());
  const auto start = Clock::now();
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  auto told = client.read_until_closed();
  const auto elapsed = Clock::now() - start;
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].goodbye().status().code(), wire::STATUS_DEADLINE_EXCEEDED);
  EXPECT_THAT(told[0].goodbye().status().message(), HasSubstr("no first message within 500 ms"));
  EXPECT_GE(elapsed, 450ms);
  EXPECT_LT(elapsed, 1500ms);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kTimeout);
  EXPECT_EQ(ended->status(), wire::STATUS_DEADLINE_EXCEEDED);
  EXPECT_THAT(ended->what(), HasSubstr("no first message within 500 ms"));
}

// Bytes arriving do not move the greeting deadline: a first frame trickled a byte every 50 ms,
// each well within the frame deadline, is cut off at the handshake deadline all the same.
TEST(Greeting, DataThatArrivesWithoutAMessageDoesNotExtendTheDeadline) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"), greeting_server());
  const auto start = Clock::now();
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto trickle = std::async(std::launch::async, [&client] {
    const auto header = encode_frame_header(100);
    for (uint8_t byte : header) {
      if (!client.write({byte}).empty()) return;
      std::this_thread::sleep_for(50ms);
    }
    for (int i = 0; i < 20; ++i) {
      if (!client.write({0}).empty()) return;
      std::this_thread::sleep_for(50ms);
    }
  });
  // The connection remembers its error when the deadline passes; its close handler runs only once
  // the Goodbye's linger is over, since this peer never closes.
  while (!accepted->connection->error() && Clock::now() - start < 5s) {
    std::this_thread::sleep_for(5ms);
  }
  const auto elapsed = Clock::now() - start;
  trickle.wait();
  auto ended = accepted->connection->error();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kTimeout);
  EXPECT_THAT(ended->what(), HasSubstr("no first message within 500 ms"));
  EXPECT_GE(elapsed, 450ms);
  EXPECT_LT(elapsed, 1200ms);  // the trickle alone lasts 1.4 s
  auto told = client.read_until_closed();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].goodbye().status().code(), wire::STATUS_DEADLINE_EXCEEDED);
}

// Heartbeats used to keep a connection that never said Hello alive. Now the first heartbeat ends
// it, long before the deadline.
TEST(Greeting, AHeartbeatAsTheFirstMessageIsMalformed) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"), greeting_server(5s));
  const auto start = Clock::now();
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  ASSERT_EQ(client.write(frame_of(heartbeat())), "");
  auto told = client.read_until_closed();
  EXPECT_LT(Clock::now() - start, 2s);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].goodbye().status().code(), wire::STATUS_MALFORMED);
  EXPECT_THAT(told[0].goodbye().status().message(),
              HasSubstr("the first message must be Hello, not a heartbeat"));
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kProtocol);
  EXPECT_EQ(ended->status(), wire::STATUS_MALFORMED);
  EXPECT_EQ(accepted->inbox->size(), 0u);
}

// The header alone is enough: the server does not wait for a body it would not accept.
TEST(Greeting, AFirstFrameOverTheGreetingLimitIsRefusedFromItsHeader) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"), greeting_server(5s));
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  const auto header = encode_frame_header(100 * 1024);
  const auto start = Clock::now();
  ASSERT_EQ(client.write({header.begin(), header.end()}), "");
  auto told = client.read_until_closed();
  EXPECT_LT(Clock::now() - start, 1s);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].goodbye().status().code(), wire::STATUS_FRAME_TOO_LARGE);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->status(), wire::STATUS_FRAME_TOO_LARGE);
  EXPECT_THAT(ended->what(), HasSubstr("102400 bytes exceeds the limit of 4096"));
}

// Once greeted, the normal frame limit applies, even to a frame that arrived in the same read as
// the Hello.
TEST(Greeting, FramesBehindTheFirstMessageHaveTheNormalLimit) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"), greeting_server(5s));
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  wire::Envelope large;
  large.mutable_ack()->mutable_status()->set_message(std::string(100 * 1024, 'x'));
  auto bytes = frame_of(hello_message(7));
  const auto second = frame_of(large);
  bytes.insert(bytes.end(), second.begin(), second.end());
  ASSERT_EQ(client.write(bytes), "");
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto first = accepted->inbox->pop();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->hello().num_samples(), 7u);
  auto next = accepted->inbox->pop();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->ack().status().message().size(), 100u * 1024);
  EXPECT_FALSE(accepted->connection->error());
}

TEST(Greeting, AGreetedPeerLivesOnWithHeartbeatsPastTheHandshakeDeadline) {
  IoThread io;
  auto options = greeting_server(400ms);
  options.connection.idle_timeout = 1000ms;
  options.connection.heartbeat_interval = 100ms;
  TestServer server(io.io(), test_pki().options("coordinator"), options);
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port(), "127.0.0.1", "", options.connection);
  ASSERT_TRUE(client.endpoint);
  client.endpoint->connection->send(hello_message());
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(accepted->inbox->pop());
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(accepted->connection->error());
  EXPECT_FALSE(client.endpoint->connection->error());
  EXPECT_GT(accepted->connection->stats().frames_received, 5u);
}

TEST(Greeting, AGoodbyeBeforeHelloJustEndsTheConnection) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"), greeting_server(5s));
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  wire::Envelope goodbye;
  goodbye.mutable_goodbye()->mutable_status()->set_message("changed my mind");
  ASSERT_EQ(client.write(frame_of(goodbye)), "");
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kClosedByPeer);
  EXPECT_THAT(ended->what(), HasSubstr("changed my mind"));
}

}  // namespace
}  // namespace fedgan::protocol::testing
