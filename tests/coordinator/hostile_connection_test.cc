// A certified site that abuses connections rather than updates, over real mutual TLS: silence
// after the handshake, heartbeats instead of a Hello, a first frame larger than any Hello, every
// connection slot under one certificate, unbounded text, an identity off the allowlist. The
// coordinator must stay available to honest sites and its database must stay small.

#include "protocol/frame.h"
#include "storage/history.h"
#include "storage/schema.h"
#include "tests/coordinator/fake_client.h"
#include "tests/coordinator/hostile_site.h"
#include "tests/coordinator/round_test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace fedgan::coordinator::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

bool printable_ascii_or_utf8(const std::string& text) {
  for (const unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

CoordinatorOptions short_handshake(const TempDir& dir) {
  auto options = test_options(dir.path());
  options.server.handshake_timeout_seconds = 1;
  return options;
}

TEST(HostileConnection, ASiteThatNeverSaysHelloIsClosedAtTheHandshakeDeadline) {
  TempDir dir;
  RunningCoordinator coordinator(short_handshake(dir));
  const auto start = Clock::now();
  HostileSite silent(coordinator.io(), "site-1", coordinator.port());
  const auto reason = silent.closed(5s);
  ASSERT_TRUE(reason) << "a silent connection was kept open";
  EXPECT_EQ(reason->status(), wire::STATUS_DEADLINE_EXCEEDED) << reason->what();
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(HostileConnection, HeartbeatsBeforeHelloAreRefused) {
  TempDir dir;
  RunningCoordinator coordinator(short_handshake(dir));
  HostileSite site(coordinator.io(), "site-1", coordinator.port());
  wire::Envelope heartbeat;
  heartbeat.mutable_heartbeat()->set_unix_ms(1);
  site.send(heartbeat);
  const auto reason = site.closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->status(), wire::STATUS_MALFORMED) << reason->what();
}

TEST(HostileConnection, DataThatIsNotAHelloDoesNotExtendItsDeadline) {
  TempDir dir;
  RunningCoordinator coordinator(short_handshake(dir));
  HostileSite site(coordinator.io(), "site-1", coordinator.port());
  // A frame that never completes is data arriving, but not a Hello: the deadline stands.
  auto partial = protocol::encode_frame_header(100);
  site.send_frame({partial.begin(), partial.end()});
  const auto start = Clock::now();
  const auto reason = site.closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(HostileConnection, AFirstFrameLargerThanAHelloIsRefusedBeforeItIsRead) {
  TempDir dir;
  RunningCoordinator coordinator(test_options(dir.path()));
  HostileSite site(coordinator.io(), "site-1", coordinator.port());
  wire::Envelope hello;
  hello.mutable_hello()->set_minor_version(protocol::kProtocolMinorVersion);
  hello.mutable_hello()->add_codecs(wire::CODEC_FP32);
  hello.mutable_hello()->set_device(std::string(64 * 1024, 'd'));
  site.send(hello);
  const auto reason = site.closed(5s);
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->status(), wire::STATUS_FRAME_TOO_LARGE) << reason->what();
}

TEST(HostileConnection, OneCertificateCannotHoldEveryConnectionSlot) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.server.max_connections = 6;
  RunningCoordinator coordinator(options);
  std::vector<std::unique_ptr<HostileSite>> hogs;
  for (int i = 0; i < 6; ++i) {
    hogs.push_back(std::make_unique<HostileSite>(coordinator.io(), "site-1", coordinator.port()));
  }
  // Beyond its own limit, site-1's connections are closed; the slots they took are free again.
  int refused = 0;
  for (auto& hog : hogs) refused += hog->closed(3s).has_value();
  EXPECT_GE(refused, 4);
  FakeClient a(coordinator.io(), "site-2", coordinator.port());
  FakeClient b(coordinator.io(), "site-3", coordinator.port());
  auto ta = a.wait_task();
  auto tb = b.wait_task();
  ASSERT_TRUE(ta && tb) << "honest sites could not take part";
  EXPECT_EQ(a.upload(*ta, {make_delta(*ta, [](size_t, size_t) { return 0.f; })}).code(),
            wire::STATUS_OK);
  EXPECT_EQ(b.upload(*tb, {make_delta(*tb, [](size_t, size_t) { return 0.f; })}).code(),
            wire::STATUS_OK);
  EXPECT_EQ(coordinator.wait_stopped(), 0);
}

TEST(HostileConnection, HelloTextIsBoundedAndPrintableInTheHistory) {
  TempDir dir;
  auto options = test_options(dir.path());
  RunningCoordinator coordinator(options);
  HostileSite site(coordinator.io(), "site-1", coordinator.port());
  // What fits in a Hello's frame: control bytes, terminal escapes, a right-to-left override.
  // (Invalid UTF-8 never gets this far: protobuf refuses it in a string field, MALFORMED.)
  std::string nasty;
  for (int i = 0; i < 300; ++i) nasty += std::string("\x1b[2J\r\n\x00 \xe2\x80\xae", 11);
  const auto welcome = site.hello(100, [&](wire::Hello& hello) {
    hello.set_device(nasty.substr(0, 11 * 180));
    hello.set_software_version(nasty.substr(0, 11 * 130));
  });
  EXPECT_EQ(welcome.code(), wire::STATUS_OK) << welcome.message();
  coordinator.io().poll();
  std::this_thread::sleep_for(200ms);
  bool found = false;
  for (const auto& event : events_of(options)) {
    if (event.kind != "client_connected") continue;
    found = true;
    EXPECT_TRUE(printable_ascii_or_utf8(event.message)) << event.message;
    EXPECT_LE(event.message.size(), 400u) << event.message;
  }
  EXPECT_TRUE(found);
}

TEST(HostileConnection, AHelloClaimingMoreSamplesThanAllowedIsRefusedAndRecorded) {
  TempDir dir;
  auto options = test_options(dir.path());
  RunningCoordinator coordinator(options);
  HostileSite site(coordinator.io(), "site-1", coordinator.port());
  const auto answer = site.hello(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(answer.code(), wire::STATUS_SAMPLE_COUNT) << answer.message();
  std::this_thread::sleep_for(200ms);
  bool recorded = false;
  for (const auto& event : events_of(options)) {
    recorded |= event.kind == "client_refused" && event.client == "site-1" &&
                event.message.find("SAMPLE_COUNT") != std::string::npos;
  }
  EXPECT_TRUE(recorded);
}

TEST(HostileConnection, ManyHostileHellosAndGoodbyesDoNotGrowTheDatabase) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 5;  // no round starts: only the connection log grows
  RunningCoordinator coordinator(options);
  std::this_thread::sleep_for(200ms);
  const auto database = options.storage.database;
  storage::Database(database.string()).execute("PRAGMA wal_checkpoint(TRUNCATE)");
  const auto size_before = std::filesystem::file_size(database);
  const std::string filler(3500, '\x07');
  for (int i = 0; i < 40; ++i) {
    HostileSite site(coordinator.io(), "site-1", coordinator.port());
    ASSERT_EQ(site.hello(100, [&](wire::Hello& h) { h.set_device(filler); }).code(),
              wire::STATUS_OK);
    // A Goodbye whose reason is megabytes long.
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->mutable_status()->set_code(wire::STATUS_OK);
    goodbye.mutable_goodbye()->mutable_status()->set_message(std::string(4 << 20, 'g'));
    site.send(goodbye);
    site.closed(5s);
  }
  std::this_thread::sleep_for(300ms);
  // Two events per connection of a few hundred bytes each: 40 connections that each sent 4 MiB of
  // text left about 40 KB of text, and the database file (its write-ahead log folded in) grew
  // by less than 256 KiB.
  storage::Database(database.string()).execute("PRAGMA wal_checkpoint(TRUNCATE)");
  EXPECT_LT(std::filesystem::file_size(database) - size_before, 256u * 1024);
  size_t text = 0;
  for (const auto& event : events_of(options)) {
    EXPECT_LE(event.message.size(), 600u) << event.kind;
    text += event.message.size();
  }
  EXPECT_LT(text, 64u * 1024);
}

// A 1.2 site cannot read a 1.3 Task: it is refused at its Hello, told the version it needs, and
// the refusal is recorded; a 1.3 site is welcomed as before.
TEST(HostileConnection, AnOlderMinorVersionIsRefusedAtItsHello) {
  TempDir dir;
  auto options = test_options(dir.path());
  RunningCoordinator coordinator(options);
  HostileSite old_site(coordinator.io(), "site-1", coordinator.port());
  const auto refusal = old_site.hello(100, [](wire::Hello& hello) { hello.set_minor_version(2); });
  EXPECT_EQ(refusal.code(), wire::STATUS_UNSUPPORTED_VERSION) << refusal.message();
  EXPECT_NE(refusal.message().find("the site speaks protocol 1.2; this coordinator speaks 1.3 and "
                                   "admits sites of 1.3 or later"),
            std::string::npos)
      << refusal.message();
  EXPECT_TRUE(old_site.closed(5s).has_value());
  HostileSite current(coordinator.io(), "site-2", coordinator.port());
  EXPECT_EQ(current.hello(100).code(), wire::STATUS_OK);
  std::this_thread::sleep_for(200ms);
  bool recorded = false;
  for (const auto& event : events_of(options)) {
    recorded |= event.kind == "client_refused" && event.client == "site-1" &&
                event.message.find("UNSUPPORTED_VERSION") != std::string::npos &&
                event.message.find("1.3 or later") != std::string::npos;
  }
  EXPECT_TRUE(recorded) << "the refusal was not recorded";
}

TEST(HostileConnection, AnIdentityOffTheAllowlistIsRefusedInTheHandshake) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.server.allowed_identities = {"site-2", "site-3"};
  RunningCoordinator coordinator(options);
  std::optional<HostileSite> outsider;
  try {
    outsider.emplace(coordinator.io(), "site-1", coordinator.port());
  } catch (const std::exception&) {
    // Refused while connecting: just as good.
  }
  if (outsider) {
    // TLS 1.3: the client finished its side; the server's refusal arrives as an alert. Nothing
    // of the application (no Goodbye, no Ack) may reach it.
    wire::Envelope hello;
    hello.mutable_hello()->set_minor_version(protocol::kProtocolMinorVersion);
    hello.mutable_hello()->add_codecs(wire::CODEC_FP32);
    bool sent = true;
    try {
      outsider->send(hello);
    } catch (const protocol::TransportError& refused) {
      // The refusal's alert arrived before the Hello could go (a busy machine): just as good.
      EXPECT_EQ(refused.kind(), protocol::TransportErrorKind::kTls) << refused.what();
      sent = false;
    }
    if (sent) {
      EXPECT_FALSE(outsider->next(1s).has_value()) << "the refused site received a message";
      const auto reason = outsider->closed(5s);
      ASSERT_TRUE(reason);
      EXPECT_EQ(reason->kind(), protocol::TransportErrorKind::kTls) << reason->what();
    }
  }
  std::this_thread::sleep_for(300ms);
  bool recorded = false;
  for (const auto& event : events_of(options)) {
    recorded |=
        event.kind == "connection_refused" && event.message.find("site-1") != std::string::npos;
  }
  EXPECT_TRUE(recorded) << "the refusal was not recorded with the identity";
}

}  // namespace
}  // namespace fedgan::coordinator::testing
