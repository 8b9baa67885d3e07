#pragma once

// A client for coordinator tests, built directly on the protocol library: it can behave (receive
// the model, upload a delta) and misbehave (wrong round, stale nonce, bad manifest, NaN, ...).
// Blocking calls with deadlines, for test code.

#include "protocol/connection.h"
#include "tests/protocol/transport_fixture.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::coordinator::testing {

namespace wire = protocol::wire;
using protocol::testing::Mailbox;

/// Connects to the coordinator on 127.0.0.1:`port` with `tls` and starts the connection, its
/// messages going to `inbox` and its end to `closed`; throws naming `who` when it cannot.
std::shared_ptr<protocol::Connection> connect_test_site(
    boost::asio::io_context& io, const protocol::TlsContext& tls, uint16_t port,
    const protocol::ConnectionOptions& options, std::shared_ptr<Mailbox<wire::Envelope>> inbox,
    std::shared_ptr<Mailbox<protocol::TransportError>> closed, const std::string& who);

/// A task and the model that came with it (every byte of it received and finite).
struct ReceivedTask {
  wire::Task task;
  std::vector<std::vector<float>> model;  // one vector per manifest tensor
};

/// What to upload, and how to get it wrong.
struct Upload {
  Upload(std::vector<std::vector<float>> values, uint64_t samples = 100)
      : delta(std::move(values)), num_samples(samples) {}

  std::vector<std::vector<float>> delta;  // one vector per manifest tensor
  uint64_t num_samples = 100;
  std::map<std::string, double> metrics;
  std::optional<uint64_t> round;     // default: the task's
  std::optional<std::string> nonce;  // default: the task's
  /// Edits the manifest sent in the header (drop or add a tensor, change a shape).
  std::function<void(wire::Manifest&)> edit_manifest;
  /// Writes values as they are (NaN and infinity included), bypassing the sender's checks.
  bool raw = false;
};

class FakeClient {
 public:
  /// Connects as `identity` (a certificate of the test PKI) and says Hello.
  FakeClient(boost::asio::io_context& io, const std::string& identity, uint16_t port,
             uint64_t num_samples = 100);
  ~FakeClient();

  /// The next task and its model, or nullopt after `timeout`.
  std::optional<ReceivedTask> wait_task(
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Uploads; returns the status of the header's Ack when it refused the upload, else the final
  /// Ack's status.
  wire::Status upload(const ReceivedTask& task, const Upload& upload);
  /// Closes the connection.
  void disconnect();
  bool connected() const;
  /// How the connection ended (the coordinator's Goodbye, say), or nullopt after `timeout`.
  std::optional<protocol::TransportError> wait_closed(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  std::optional<wire::Envelope> next_message(std::chrono::milliseconds timeout);
  std::optional<wire::Status> wait_ack(std::chrono::milliseconds timeout);

  std::shared_ptr<protocol::TlsContext> tls_;
  std::shared_ptr<protocol::Connection> connection_;
  std::shared_ptr<Mailbox<wire::Envelope>> inbox_ = std::make_shared<Mailbox<wire::Envelope>>();
  std::shared_ptr<Mailbox<protocol::TransportError>> closed_ =
      std::make_shared<Mailbox<protocol::TransportError>>();
};

/// A delta for `task`: value(tensor, index) for every element.
std::vector<std::vector<float>> make_delta(const ReceivedTask& task,
                                           const std::function<float(size_t, size_t)>& value);

}  // namespace fedgan::coordinator::testing
