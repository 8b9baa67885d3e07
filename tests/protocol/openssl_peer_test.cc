// Interoperability: the real `openssl s_client` completes a mutual-TLS 1.3 handshake with our
// server, is identified by its certificate's CN, and exchanges frames with it.

#include "tests/protocol/transport_fixture.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>

namespace fedgan::protocol::testing {
namespace {

constexpr const char* kOpenssl = "/usr/bin/openssl";

TEST(OpensslPeer, SClientHandshakesIsIdentifiedAndExchangesFrames) {
  if (!std::filesystem::exists(kOpenssl)) GTEST_SKIP() << kOpenssl << " is not installed";
  const auto& pki = test_pki();
  IoThread io;
  TestServer server(io.io(), pki.options("coordinator"));

  wire::Envelope hello;
  hello.mutable_hello()->set_num_samples(777);
  const auto frame = encode_frame(hello);
  const auto input = pki.dir() / "s_client_in.bin";
  const auto output = pki.dir() / "s_client_out.bin";
  const auto log = pki.dir() / "s_client_err.txt";
  std::ofstream(input, std::ios::binary)
      .write(reinterpret_cast<const char*>(frame.data()),
             static_cast<std::streamsize>(frame.size()));

  // -quiet keeps s_client reading after its input ends, until the server closes.
  const std::string command = fmt::format(
      "{} s_client -connect 127.0.0.1:{} -tls1_3 -CAfile {} -cert {} -key {} "
      "-verify_return_error -verify_ip 127.0.0.1 -quiet < {} > {} 2> {}",
      kOpenssl, server.port(), pki.ca().string(), pki.cert("site-2").string(),
      pki.key("site-2").string(), input.string(), output.string(), log.string());
  auto exit_code = std::async(std::launch::async, [&] { return std::system(command.c_str()); });

  auto accepted = server.accepted();
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->connection->peer_identity(), "site-2");
  EXPECT_EQ(accepted->connection->tls_version(), "TLSv1.3");
  // s_client lists TLS_AES_256_GCM_SHA384 first; the coordinator's preference decides.
  EXPECT_EQ(accepted->connection->tls_cipher(), "TLS_AES_128_GCM_SHA256");
  auto received = accepted->inbox->pop();
  ASSERT_TRUE(received);
  EXPECT_EQ(received->hello().num_samples(), 777u);

  wire::Envelope ack;
  ack.mutable_ack()->mutable_status()->set_message("hello, s_client");
  accepted->connection->send(ack);
  accepted->connection->close(wire::STATUS_OK, "that is all");
  EXPECT_EQ(exit_code.get(), 0) << std::ifstream(log).rdbuf();

  std::ifstream reply_file(output, std::ios::binary);
  const std::vector<uint8_t> reply((std::istreambuf_iterator<char>(reply_file)),
                                   std::istreambuf_iterator<char>());
  FrameDecoder decoder;
  const auto messages = decoder.feed(reply.data(), reply.size());
  ASSERT_EQ(messages.size(), 2u) << "s_client received " << reply.size() << " bytes";
  EXPECT_EQ(messages[0].ack().status().message(), "hello, s_client");
  EXPECT_EQ(messages[1].goodbye().status().message(), "that is all");
}

}  // namespace
}  // namespace fedgan::protocol::testing
