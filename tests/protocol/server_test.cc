// Server's limit on connections per identity, over real loopback TLS: one certificate cannot take
// every connection slot.

#include "tests/protocol/transport_fixture.h"

#include <gmock/gmock.h>

namespace fedgan::protocol::testing {
namespace {

using ::testing::HasSubstr;

// Connects as `site` and greets the server; returns the started endpoint (or the error).
ConnectResult connect_as(boost::asio::io_context& io, const TlsContext& tls, uint16_t port) {
  auto result = connect_client(io, tls, port);
  if (result.endpoint) result.endpoint->connection->send(hello_message());
  return result;
}

bool wait_for(const std::function<bool()>& condition) {
  for (int i = 0; i < 200; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

TEST(Server, AnIdentityHoldsAtMostTwoConnectionsByDefault) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto site1 = TlsContext::client(test_pki().options("site-1"));
  auto first = connect_as(io.io(), site1, server.port());
  auto second = connect_as(io.io(), site1, server.port());
  ASSERT_TRUE(first.endpoint && second.endpoint);
  ASSERT_TRUE(server.accepted() && server.accepted());
  EXPECT_EQ(server.server().open_connections_of("site-1"), 2u);

  // The third completes TLS (its certificate is fine) and is then told BUSY.
  auto third = connect_client(io.io(), site1, server.port());
  ASSERT_TRUE(third.endpoint);
  auto told = third.endpoint->closed->pop();
  ASSERT_TRUE(told);
  EXPECT_EQ(told->kind(), TransportErrorKind::kClosedByPeer);
  EXPECT_EQ(told->status(), wire::STATUS_BUSY);
  EXPECT_THAT(told->what(), HasSubstr("identity 'site-1' already has 2 open connections"));
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kOverloaded);
  EXPECT_EQ(refusal->status(), wire::STATUS_BUSY);
  EXPECT_THAT(refusal->what(), HasSubstr("'site-1' already has 2 open connections"));
  EXPECT_FALSE(server.accepted(200ms));
  EXPECT_EQ(server.server().open_connections_of("site-1"), 2u);

  // Other identities are not affected.
  const auto site2 = TlsContext::client(test_pki().options("site-2"));
  auto other = connect_as(io.io(), site2, server.port());
  ASSERT_TRUE(other.endpoint);
  ASSERT_TRUE(server.accepted());
  EXPECT_EQ(server.server().open_connections_of("site-2"), 1u);

  // A closed connection gives its place back.
  first.endpoint->connection->close(wire::STATUS_OK, "done");
  ASSERT_TRUE(first.endpoint->closed->pop());
  EXPECT_TRUE(wait_for([&] { return server.server().open_connections_of("site-1") == 1; }));
  auto fourth = connect_as(io.io(), site1, server.port());
  ASSERT_TRUE(fourth.endpoint);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->connection->peer_identity(), "site-1");
  EXPECT_EQ(server.server().open_connections_of("site-1"), 2u);
}

TEST(Server, ZeroConnectionsPerIdentityMeansNoLimit) {
  IoThread io;
  ServerOptions options;
  options.max_connections_per_identity = 0;
  TestServer server(io.io(), test_pki().options("coordinator"), options);
  const auto site1 = TlsContext::client(test_pki().options("site-1"));
  std::vector<ConnectResult> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(connect_as(io.io(), site1, server.port()));
    ASSERT_TRUE(clients.back().endpoint);
    ASSERT_TRUE(server.accepted());
  }
  EXPECT_EQ(server.server().open_connections_of("site-1"), 4u);
  EXPECT_FALSE(server.refused(100ms));
}

}  // namespace
}  // namespace fedgan::protocol::testing
