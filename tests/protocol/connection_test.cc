// The connection's limits and life cycle over real loopback TLS: deadlines, broken framing,
// the connection limit, heartbeats, streams of shared frames, and how an ended connection behaves.

#include "tests/protocol/raw_peer.h"
#include "tests/protocol/transport_fixture.h"

#include <gmock/gmock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <filesystem>

namespace fedgan::protocol::testing {
namespace {

using ::testing::HasSubstr;

RawTlsOptions site1_raw() {
  return {test_pki().ca(), test_pki().cert("site-1"), test_pki().key("site-1")};
}

ServerOptions with_connection(const ConnectionOptions& connection) {
  ServerOptions options;
  options.connection = connection;
  return options;
}

// TCP_NODELAY of every socket of this process connected to `port`, from either end (the listening
// socket, which has no peer, is left out).
std::vector<int> nodelay_of_sockets_on_port(uint16_t port) {
  std::vector<int> flags;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(entry.path().filename().string());
    sockaddr_in local{}, peer{};
    socklen_t local_size = sizeof local, peer_size = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        local.sin_family != AF_INET ||
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
      continue;
    }
    if (ntohs(local.sin_port) != port && ntohs(peer.sin_port) != port) continue;
    int flag = -1;
    socklen_t flag_size = sizeof flag;
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &flag, &flag_size) != 0) flag = -1;
    flags.push_back(flag);
  }
  return flags;
}

// Frames end in short TLS records; with Nagle's algorithm each would wait for the peer's delayed
// ACK (up to 40 ms on Linux), which showed as downloads of 55 ms instead of 15 ms in federations.
TEST(Connection, BothEndsSendShortRecordsWithoutWaitingForAcks) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port());
  ASSERT_TRUE(client.endpoint);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_THAT(nodelay_of_sockets_on_port(server.port()), ::testing::ElementsAre(1, 1));
}

TEST(Connection, PeerSilentDuringTheHandshakeIsCutOff) {
  IoThread io;
  auto fast = fast_options();
  fast.handshake_timeout = 300ms;
  TestServer server(io.io(), test_pki().options("coordinator"), with_connection(fast));
  boost::asio::io_context plain_io;
  auto socket = connect_plain(plain_io, server.port());
  const auto start = std::chrono::steady_clock::now();
  drain(socket);  // returns when the server closes
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1900ms);
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kTimeout);
  EXPECT_THAT(refusal->what(), HasSubstr("no TLS handshake within 300 ms"));
}

TEST(Connection, IdlePeerIsClosedWithDeadlineExceeded) {
  IoThread io;
  auto server_side = fast_options();
  server_side.idle_timeout = 300ms;
  TestServer server(io.io(), test_pki().options("coordinator"), with_connection(server_side));
  auto silent = fast_options();
  silent.heartbeat_interval = 0ms;
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port(), "127.0.0.1", "", silent);
  ASSERT_TRUE(client.endpoint);
  client.endpoint->connection->send(hello_message());  // greeted, then silent
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto server_end = accepted->closed->pop();
  ASSERT_TRUE(server_end);
  EXPECT_EQ(server_end->kind(), TransportErrorKind::kTimeout);
  EXPECT_THAT(server_end->what(), HasSubstr("nothing received for 300 ms"));
  auto client_end = client.endpoint->closed->pop();
  ASSERT_TRUE(client_end);
  EXPECT_EQ(client_end->kind(), TransportErrorKind::kClosedByPeer);
  EXPECT_EQ(client_end->status(), wire::STATUS_DEADLINE_EXCEEDED);
}

TEST(Connection, HeartbeatsKeepAQuietConnectionOpen) {
  IoThread io;
  auto options = fast_options();
  // Ten heartbeats per idle period: a busy test machine may delay a few without a false timeout.
  options.idle_timeout = 1000ms;
  options.heartbeat_interval = 100ms;
  TestServer server(io.io(), test_pki().options("coordinator"), with_connection(options));
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port(), "127.0.0.1", "", options);
  ASSERT_TRUE(client.endpoint);
  // The server requires a greeting before it accepts heartbeats.
  client.endpoint->connection->send(hello_message());
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(accepted->inbox->pop());
  std::this_thread::sleep_for(2500ms);
  EXPECT_FALSE(accepted->connection->error());
  EXPECT_FALSE(client.endpoint->connection->error());
  EXPECT_EQ(accepted->inbox->size(), 0u) << "heartbeats are not delivered";
  EXPECT_GT(accepted->connection->stats().frames_received, 5u);
}

TEST(Connection, FrameThatNeverCompletesIsClosedAtTheFrameDeadline) {
  IoThread io;
  auto options = fast_options();
  options.frame_timeout = 300ms;
  TestServer server(io.io(), test_pki().options("coordinator"), with_connection(options));
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  auto partial = encode_frame_header(1000);
  std::vector<uint8_t> bytes(partial.begin(), partial.end());
  bytes.resize(bytes.size() + 10, 0);
  ASSERT_EQ(client.write(bytes), "");
  auto told = client.read_until_closed();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].goodbye().status().code(), wire::STATUS_DEADLINE_EXCEEDED);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kTimeout);
  EXPECT_THAT(ended->what(), HasSubstr("frame was not completed within 300 ms"));
}

// Bytes that break framing get a Goodbye naming the problem, then the connection closes.
struct BrokenFramingCase {
  std::string name;
  std::vector<uint8_t> bytes;
  wire::StatusCode expected;
};

// gtest prints a case by its name, not its bytes.
void PrintTo(const BrokenFramingCase& c, std::ostream* os) {
  *os << c.name;
}

class BrokenFraming : public ::testing::TestWithParam<BrokenFramingCase> {};

TEST_P(BrokenFraming, IsAnsweredWithGoodbyeAndClosed) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  ASSERT_EQ(client.write(GetParam().bytes), "");
  auto told = client.read_until_closed();
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].goodbye().status().code(), GetParam().expected);
  EXPECT_FALSE(told[0].goodbye().status().message().empty());
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kProtocol);
  EXPECT_EQ(ended->status(), GetParam().expected) << ended->what();
}

std::vector<uint8_t> header_bytes(uint32_t length, uint8_t version = kProtocolMajorVersion) {
  auto header = encode_frame_header(length);
  header[2] = version;
  return {header.begin(), header.end()};
}

INSTANTIATE_TEST_SUITE_P(
    Connection, BrokenFraming,
    ::testing::Values(
        BrokenFramingCase{"garbage",
                          {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'},
                          wire::STATUS_MALFORMED},
        BrokenFramingCase{"oversize_frame", header_bytes(1u << 30), wire::STATUS_FRAME_TOO_LARGE},
        BrokenFramingCase{"other_major_version", header_bytes(4, 2),
                          wire::STATUS_UNSUPPORTED_VERSION}),
    [](const auto& info) { return info.param.name; });

TEST(Connection, ConnectionLimitRefusesTheExtraConnection) {
  IoThread io;
  ServerOptions options;
  options.max_connections = 2;
  TestServer server(io.io(), test_pki().options("coordinator"), options);
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto first = connect_client(io.io(), tls, server.port());
  auto second = connect_client(io.io(), tls, server.port());
  ASSERT_TRUE(first.endpoint && second.endpoint);
  ASSERT_TRUE(server.accepted() && server.accepted());
  EXPECT_EQ(server.server().active_connections(), 2u);

  auto third = connect_client(io.io(), tls, server.port());
  EXPECT_FALSE(third.endpoint);
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kOverloaded);

  first.endpoint->connection->close(wire::STATUS_OK, "done");
  ASSERT_TRUE(first.endpoint->closed->pop());
  for (int i = 0; i < 100 && server.server().active_connections() > 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto fourth = connect_client(io.io(), tls, server.port());
  EXPECT_TRUE(fourth.endpoint) << (fourth.error ? fourth.error->what() : "");
}

TEST(Connection, ClosedConnectionRemembersWhyAndRefusesToSend) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port());
  ASSERT_TRUE(client.endpoint);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  wire::Envelope last;
  last.mutable_heartbeat();
  last.mutable_ack()->mutable_status()->set_message("last words");
  client.endpoint->connection->send(last);
  client.endpoint->connection->close(wire::STATUS_OK, "training finished");

  // What was queued before close() still arrives, then the Goodbye ends the server's side.
  auto received = accepted->inbox->pop();
  ASSERT_TRUE(received);
  EXPECT_EQ(received->ack().status().message(), "last words");
  auto server_end = accepted->closed->pop();
  ASSERT_TRUE(server_end);
  EXPECT_EQ(server_end->kind(), TransportErrorKind::kClosedByPeer);
  EXPECT_THAT(server_end->what(), HasSubstr("training finished"));

  auto client_end = client.endpoint->closed->pop();
  ASSERT_TRUE(client_end);
  EXPECT_EQ(client_end->kind(), TransportErrorKind::kClosedLocally);
  ASSERT_TRUE(client.endpoint->connection->error());
  EXPECT_EQ(client.endpoint->connection->error()->kind(), TransportErrorKind::kClosedLocally);
  try {
    client.endpoint->connection->send(last);
    FAIL() << "send on a closed connection did not throw";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportErrorKind::kClosedLocally);
  }
  EXPECT_THROW(accepted->connection->send(last), TransportError);
}

TEST(Connection, HandlerRejectionReachesThePeerWithItsStatus) {
  IoThread io;
  auto tls_server = TlsContext::server(test_pki().options("coordinator"));
  Mailbox<TransportError> server_closed;
  auto server = Server::create(
      io.io(), tls_server, ServerOptions{},
      [&](std::shared_ptr<Connection> connection) {
        connection->start(
            [](wire::Envelope&) {
              throw ProtocolError(wire::STATUS_WRONG_ROUND, "round 7 is over; this is round 8");
            },
            [&](const TransportError& reason) { server_closed.push(reason); });
      },
      nullptr);
  server->start();
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server->port());
  ASSERT_TRUE(client.endpoint);
  wire::Envelope update;
  update.mutable_update()->set_round(7);
  client.endpoint->connection->send(update);
  auto ended = client.endpoint->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kClosedByPeer);
  EXPECT_EQ(ended->status(), wire::STATUS_WRONG_ROUND);
  EXPECT_THAT(ended->what(), HasSubstr("round 7 is over"));
  auto server_end = server_closed.pop();
  ASSERT_TRUE(server_end);
  EXPECT_EQ(server_end->status(), wire::STATUS_WRONG_ROUND);
  server->stop();
}

TEST(Connection, PeerThatStopsReadingHitsTheQueueLimitNotMemory) {
  IoThread io;
  auto options = fast_options();
  options.max_queued_bytes = 4 << 20;
  options.frame_timeout = 2s;
  TestServer server(io.io(), test_pki().options("coordinator"), with_connection(options));
  RawTlsClient client(server.port(), site1_raw());  // handshakes, then never reads
  ASSERT_EQ(client.handshake(), "");
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  wire::Envelope chunk;
  chunk.mutable_chunk()->set_data(std::string(1 << 20, 'x'));
  try {
    for (int i = 0; i < 64; ++i) accepted->connection->send(chunk);
  } catch (const TransportError&) {
    // Expected once the connection has failed.
  }
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_TRUE(ended->kind() == TransportErrorKind::kOverloaded ||
              ended->kind() == TransportErrorKind::kTimeout)
      << ended->what();
  EXPECT_LE(accepted->connection->stats().peak_queued_bytes, (4u << 20) + (2u << 20));
}

// Frames encoded once, as a round's model chunks are for all of its clients.
std::vector<Connection::SharedFrame> chunk_frames(size_t count, size_t bytes) {
  std::vector<Connection::SharedFrame> frames;
  for (size_t i = 0; i < count; ++i) {
    wire::Envelope chunk;
    chunk.mutable_chunk()->set_offset(i * bytes);
    chunk.mutable_chunk()->set_data(std::string(bytes, static_cast<char>('a' + i)));
    frames.push_back(std::make_shared<const std::vector<uint8_t>>(encode_frame(chunk)));
  }
  return frames;
}

Connection::FrameSource source_of(std::vector<Connection::SharedFrame> frames) {
  return [frames = std::move(frames), next = size_t{0}]() mutable {
    return next < frames.size() ? frames[next++] : nullptr;
  };
}

TEST(Connection, SharedFramesGoOutInOrderBetweenTheMessagesAroundThem) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port());
  ASSERT_TRUE(client.endpoint);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  wire::Envelope before, after;
  before.mutable_ack()->mutable_status()->set_message("before");
  after.mutable_ack()->mutable_status()->set_message("after");
  Mailbox<bool> done;
  accepted->connection->send(before);
  accepted->connection->send_frames(source_of(chunk_frames(3, 1000)), [&] { done.push(true); });
  accepted->connection->send(after);

  auto first = client.endpoint->inbox->pop();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->ack().status().message(), "before");
  for (size_t i = 0; i < 3; ++i) {
    auto chunk = client.endpoint->inbox->pop();
    ASSERT_TRUE(chunk && chunk->has_chunk());
    EXPECT_EQ(chunk->chunk().offset(), i * 1000);
    EXPECT_EQ(chunk->chunk().data(), std::string(1000, static_cast<char>('a' + i)));
  }
  auto last = client.endpoint->inbox->pop();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->ack().status().message(), "after");
  EXPECT_TRUE(done.pop());
}

TEST(Connection, ASharedFrameBeyondTheFrameLimitEndsTheConnection) {
  IoThread io;
  auto options = fast_options();
  options.max_frame_bytes = 4096;
  TestServer server(io.io(), test_pki().options("coordinator"), with_connection(options));
  const auto tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), tls, server.port());
  ASSERT_TRUE(client.endpoint);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  accepted->connection->send_frames(source_of(chunk_frames(1, 5000)), nullptr);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_THAT(ended->what(), HasSubstr("exceeds the limit of 4096"));
  // The peer hears of an internal failure and never sees the frame.
  auto client_end = client.endpoint->closed->pop();
  ASSERT_TRUE(client_end);
  EXPECT_EQ(client_end->kind(), TransportErrorKind::kClosedByPeer);
  EXPECT_EQ(client.endpoint->inbox->size(), 0u);
}

// A peer's Goodbye reason reaches the close handler, and from there the coordinator's log and
// database: bounded and printable, whatever the peer sent.
TEST(Connection, APeersGoodbyeReasonIsBoundedAndPrintable) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  RawTlsClient client(server.port(), site1_raw());
  ASSERT_EQ(client.handshake(), "");
  wire::Envelope goodbye;
  goodbye.mutable_goodbye()->mutable_status()->set_message("forged\nlog line " +
                                                           std::string(1 << 20, 'x'));
  auto bytes = encode_frame(hello_message());
  const auto frame = encode_frame(goodbye);
  bytes.insert(bytes.end(), frame.begin(), frame.end());
  ASSERT_EQ(client.write(bytes), "");
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  auto ended = accepted->closed->pop();
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->kind(), TransportErrorKind::kClosedByPeer);
  const std::string reason = ended->what();
  EXPECT_LT(reason.size(), 400u);
  EXPECT_EQ(reason.find('\n'), std::string::npos);
  EXPECT_THAT(reason, HasSubstr("forged\\x0alog line xxx"));
  EXPECT_THAT(reason, HasSubstr("... (1048592 bytes)"));
}

}  // namespace
}  // namespace fedgan::protocol::testing
