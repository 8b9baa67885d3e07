#pragma once

// A site that holds a valid certificate and says whatever it likes: the adversarial tests drive
// the coordinator with it over real mutual TLS. Unlike FakeClient it checks nothing it sends, and
// it waits for exactly the messages a test asks for. Blocking calls with deadlines, for test code.

#include "protocol/connection.h"
#include "tests/coordinator/fake_client.h"
#include "tests/protocol/transport_fixture.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::coordinator::testing {

class HostileSite {
 public:
  /// Connects as `identity` (a certificate of the test PKI), says nothing yet. Throws when the TLS
  /// connection cannot be made.
  HostileSite(boost::asio::io_context& io, const std::string& identity, uint16_t port);
  ~HostileSite();

  /// Sends any message, unchecked.
  void send(const wire::Envelope& message);
  /// Sends a frame as it is (header and body), unchecked but for the transport's own frame limit.
  void send_frame(std::vector<uint8_t> frame);
  /// Says Hello (with `edit` applied) and returns the welcome Ack's status, or the Goodbye's if the
  /// coordinator closed the connection instead.
  wire::Status hello(uint64_t num_samples = 100,
                     const std::function<void(wire::Hello&)>& edit = nullptr);
  /// The next message, or nullopt after `timeout` or once the connection has ended.
  std::optional<wire::Envelope> next(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// The next Ack, skipping heartbeat-free traffic of other kinds (tasks, chunks).
  std::optional<wire::Ack> next_ack(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// The next task and its model, skipping everything before it.
  std::optional<ReceivedTask> wait_task(
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  /// Why the connection ended, once it has (waits up to `timeout`).
  std::optional<protocol::TransportError> closed(
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// An UpdateHeader for `task` carrying `delta` (its manifest made from the task's), `samples`
  /// and `metrics`; edit it before sending.
  static wire::UpdateHeader header_for(const ReceivedTask& task,
                                       const std::vector<std::vector<float>>& delta,
                                       uint64_t samples = 100,
                                       const std::map<std::string, double>& metrics = {});
  /// The chunks of `delta` as raw little-endian float32 (NaN and infinity included), in
  /// `chunk_bytes` pieces, followed by a TransferEnd.
  static std::vector<wire::Envelope> raw_chunks(const std::vector<std::vector<float>>& delta,
                                                size_t chunk_bytes = 1 << 20);

  /// Header, then (when admitted) the raw chunks and TransferEnd; returns the admission Ack if it
  /// refused, else the verdict Ack.
  std::optional<wire::Ack> upload(const wire::UpdateHeader& header,
                                  const std::vector<std::vector<float>>& delta);

  protocol::Connection& connection() { return *connection_; }

 private:
  std::shared_ptr<protocol::TlsContext> tls_;
  std::shared_ptr<protocol::Connection> connection_;
  std::shared_ptr<Mailbox<wire::Envelope>> inbox_ = std::make_shared<Mailbox<wire::Envelope>>();
  std::shared_ptr<Mailbox<protocol::TransportError>> closed_ =
      std::make_shared<Mailbox<protocol::TransportError>>();
  std::optional<protocol::TransportError> end_;
};

}  // namespace fedgan::coordinator::testing
