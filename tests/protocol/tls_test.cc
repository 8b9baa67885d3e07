// Mutual TLS over real loopback sockets with real certificates: who gets in, who does not, and
// what each side is told.

#include "tests/protocol/raw_peer.h"
#include "tests/protocol/transport_fixture.h"

#include <gmock/gmock.h>

namespace fedgan::protocol::testing {
namespace {

using ::testing::HasSubstr;

wire::Envelope hello(uint64_t samples) {
  wire::Envelope message;
  message.mutable_hello()->set_num_samples(samples);
  message.mutable_hello()->add_codecs(wire::CODEC_FP32);
  return message;
}

TEST(MutualTls, CarriesMessagesBothWaysAndExposesTheClientIdentity) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto client_tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), client_tls, server.port());
  ASSERT_FALSE(client.error) << client.error->what();
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->connection->peer_identity(), "site-1");
  EXPECT_EQ(accepted->connection->tls_version(), "TLSv1.3");
  EXPECT_EQ(accepted->connection->tls_cipher(), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(client.endpoint->connection->tls_cipher(), "TLS_AES_128_GCM_SHA256");
  EXPECT_EQ(client.endpoint->connection->peer_identity(), "coordinator");

  client.endpoint->connection->send(hello(1234));
  auto received = accepted->inbox->pop();
  ASSERT_TRUE(received);
  EXPECT_EQ(received->hello().num_samples(), 1234u);

  wire::Envelope ack;
  ack.mutable_ack()->mutable_status()->set_message("welcome");
  accepted->connection->send(ack);
  auto reply = client.endpoint->inbox->pop();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->ack().status().message(), "welcome");
}

TEST(MutualTls, PlaintextClientIsRefused) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  boost::asio::io_context plain_io;
  auto socket = connect_plain(plain_io, server.port());
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  boost::asio::write(socket, boost::asio::buffer(request));
  drain(socket);
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kTls);
  EXPECT_THAT(refusal->what(), HasSubstr("TLS handshake"));
  EXPECT_EQ(server.accepted_count(), 0u);
}

TEST(MutualTls, ClientWithoutCertificateIsRefused) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  RawTlsClient client(server.port(), {test_pki().ca(), {}, {}});
  // Under TLS 1.3 the client finishes its side before the server judges its (absent) certificate;
  // the refusal arrives as an alert on the first read.
  client.handshake();
  std::string ended;
  EXPECT_TRUE(client.read_until_closed(&ended).empty());
  EXPECT_THAT(ended, HasSubstr("certificate required"));
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kTls);
  EXPECT_THAT(refusal->what(), HasSubstr("did not return a certificate"));
  EXPECT_FALSE(server.accepted(200ms));
}

// A certificate the federation CA did not sign, an expired one, a revoked one: each is refused in
// the handshake and the server's reason says which.
struct RefusedClientCase {
  std::string name;
  std::string expected_reason;
};

// gtest prints a case by the certificate it presents.
void PrintTo(const RefusedClientCase& c, std::ostream* os) {
  *os << c.name;
}

class RefusedClientCertificate : public ::testing::TestWithParam<RefusedClientCase> {};

TEST_P(RefusedClientCertificate, NeverReachesTheLayerAbove) {
  IoThread io;
  auto server_options = test_pki().options("coordinator");
  server_options.crl_file = test_pki().crl();
  TestServer server(io.io(), server_options);
  const auto client_tls = TlsContext::client(test_pki().options(GetParam().name));
  auto client = connect_client(io.io(), client_tls, server.port());
  if (client.endpoint) {
    auto ended = client.endpoint->closed->pop();
    ASSERT_TRUE(ended);
    EXPECT_EQ(ended->kind(), TransportErrorKind::kTls) << ended->what();
  }
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kTls);
  EXPECT_THAT(refusal->what(), HasSubstr(GetParam().expected_reason));
  EXPECT_FALSE(server.accepted(200ms));
}

INSTANTIATE_TEST_SUITE_P(
    MutualTls, RefusedClientCertificate,
    ::testing::Values(RefusedClientCase{"intruder", "unable to get local issuer certificate"},
                      RefusedClientCase{"site-old", "certificate has expired"},
                      RefusedClientCase{"site-revoked", "certificate revoked"}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (char& c : name) c = c == '-' ? '_' : c;
      return name;
    });

TEST(MutualTls, CrlDoesNotStopOtherClients) {
  IoThread io;
  auto server_options = test_pki().options("coordinator");
  server_options.crl_file = test_pki().crl();
  TestServer server(io.io(), server_options);
  const auto client_tls = TlsContext::client(test_pki().options("site-2"));
  auto client = connect_client(io.io(), client_tls, server.port());
  ASSERT_FALSE(client.error) << client.error->what();
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->connection->peer_identity(), "site-2");
}

TEST(MutualTls, ClientRefusesAServerWithoutTheDialledHostName) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto client_tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), client_tls, server.port(), "127.0.0.1", "fedgan.example");
  ASSERT_TRUE(client.error);
  EXPECT_EQ(client.error->kind(), TransportErrorKind::kTls);
  EXPECT_THAT(client.error->what(), HasSubstr("hostname mismatch"));
}

TEST(MutualTls, ClientRefusesAServerWithoutTheDialledIpAddress) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator-by-name"));
  const auto client_tls = TlsContext::client(test_pki().options("site-1"));
  auto by_ip = connect_client(io.io(), client_tls, server.port(), "127.0.0.1");
  ASSERT_TRUE(by_ip.error);
  EXPECT_THAT(by_ip.error->what(), HasSubstr("IP address mismatch"));
  auto by_name = connect_client(io.io(), client_tls, server.port(), "localhost");
  EXPECT_FALSE(by_name.error) << by_name.error->what();
}

TEST(MutualTls, ClientRefusesAServerOfAnotherCa) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));
  const auto client_tls = TlsContext::client(test_pki().options("site-1", "other-ca"));
  auto client = connect_client(io.io(), client_tls, server.port());
  ASSERT_TRUE(client.error);
  EXPECT_EQ(client.error->kind(), TransportErrorKind::kTls);
  EXPECT_THAT(client.error->what(), HasSubstr("certificate verify failed"));
}

TEST(MutualTls, ClientCertificateCannotActAsTheServer) {
  IoThread io;
  TestServer server(io.io(), test_pki().options("site-3"));
  const auto client_tls = TlsContext::client(test_pki().options("site-1"));
  auto client = connect_client(io.io(), client_tls, server.port(), "127.0.0.1", "site-3");
  ASSERT_TRUE(client.error);
  EXPECT_EQ(client.error->kind(), TransportErrorKind::kTls);
}

TEST(MutualTls, Tls12IsRefusedUnlessAllowed) {
  IoThread io;
  const RawTlsOptions tls12{test_pki().ca(), test_pki().cert("site-1"), test_pki().key("site-1"),
                            true};
  {
    TestServer server(io.io(), test_pki().options("coordinator"));
    RawTlsClient client(server.port(), tls12);
    EXPECT_NE(client.handshake(), "");
    auto refusal = server.refused();
    ASSERT_TRUE(refusal);
    EXPECT_THAT(refusal->what(), HasSubstr("unsupported protocol"));
  }
  auto options = test_pki().options("coordinator");
  options.allow_tls12 = true;
  TestServer server(io.io(), options);
  RawTlsClient client(server.port(), tls12);
  EXPECT_EQ(client.handshake(), "");
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->connection->tls_version(), "TLSv1.2");
}

// A certificate of the federation CA whose identity is not on the allowlist is refused inside the
// TLS handshake: under TLS 1.3 the client finishes its side first, then reads the server's alert
// (handshake_failure: OpenSSL 3.0 cannot send access_denied there, docs/security.md) and not one
// byte of application data.
TEST(MutualTls, AllowlistRefusesOtherIdentitiesInsideTheHandshake) {
  IoThread io;
  ServerOptions options;
  options.allowed_identities = {"site-2"};
  TestServer server(io.io(), test_pki().options("coordinator"), options);
  RawTlsClient outsider(server.port(),
                        {test_pki().ca(), test_pki().cert("site-1"), test_pki().key("site-1")});
  EXPECT_EQ(outsider.handshake(), "");
  std::string ended;
  EXPECT_TRUE(outsider.read_until_closed(&ended).empty());
  EXPECT_EQ(outsider.plaintext_bytes_read(), 0u);
  EXPECT_THAT(ended, HasSubstr("alert handshake failure"));
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kUnauthorized);
  EXPECT_EQ(refusal->status(), wire::STATUS_UNAUTHENTICATED);
  EXPECT_THAT(refusal->what(), HasSubstr("identity 'site-1' is not admitted"));
  EXPECT_THAT(refusal->what(), HasSubstr("refused in the TLS handshake"));
  EXPECT_FALSE(server.accepted(200ms));

  // Our own client hears of it as a TLS error, either from the handshake or from its first read.
  const auto outsider_tls = TlsContext::client(test_pki().options("site-3"));
  auto ours = connect_client(io.io(), outsider_tls, server.port());
  std::optional<TransportError> ours_ended = ours.error;
  if (ours.endpoint) ours_ended = ours.endpoint->closed->pop();
  ASSERT_TRUE(ours_ended);
  EXPECT_EQ(ours_ended->kind(), TransportErrorKind::kTls) << ours_ended->what();
  EXPECT_THAT(ours_ended->what(), HasSubstr("handshake failure"));
  if (ours.endpoint) {
    EXPECT_EQ(ours.endpoint->inbox->size(), 0u);
  }
  refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_THAT(refusal->what(), HasSubstr("identity 'site-3' is not admitted"));

  const auto member_tls = TlsContext::client(test_pki().options("site-2"));
  auto member = connect_client(io.io(), member_tls, server.port());
  ASSERT_FALSE(member.error);
  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->connection->peer_identity(), "site-2");
}

// Under TLS 1.2 the server judges the client's certificate before its own Finished, so the
// refused client's handshake itself fails.
TEST(MutualTls, AllowlistRefusesATls12ClientInItsHandshake) {
  IoThread io;
  auto tls = test_pki().options("coordinator");
  tls.allow_tls12 = true;
  ServerOptions options;
  options.allowed_identities = {"site-2"};
  TestServer server(io.io(), tls, options);
  RawTlsClient outsider(
      server.port(), {test_pki().ca(), test_pki().cert("site-1"), test_pki().key("site-1"), true});
  EXPECT_THAT(outsider.handshake(), HasSubstr("handshake failure"));
  auto refusal = server.refused();
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->kind(), TransportErrorKind::kUnauthorized);
  EXPECT_THAT(refusal->what(), HasSubstr("identity 'site-1' is not admitted"));
}

TEST(TlsContext, ReportsUnusableFilesByName) {
  auto options = test_pki().options("site-1");
  options.private_key_file = test_pki().key("site-2");
  try {
    TlsContext::client(options);
    FAIL() << "a key of another certificate was accepted";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), TransportErrorKind::kConfiguration);
    EXPECT_THAT(e.what(), HasSubstr("key values mismatch"));
  }
  options = test_pki().options("site-1");
  options.ca_file = test_pki().dir() / "missing.pem";
  EXPECT_THROW(
      {
        try {
          TlsContext::server(options);
        } catch (const TransportError& e) {
          EXPECT_THAT(e.what(), HasSubstr("missing.pem' does not exist"));
          throw;
        }
      },
      TransportError);
}

}  // namespace
}  // namespace fedgan::protocol::testing
