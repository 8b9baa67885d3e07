#pragma once

// An in-memory protocol::Connection for driving the coordinator without sockets or TLS: what the
// coordinator sends is kept for the test to read, what the test delivers reaches the
// coordinator's message handler, and strand work runs when the test polls the io_context. It keeps
// the transport's contract that the coordinator relies on: the first error is remembered, a
// ProtocolError thrown by the handler closes the connection with a Goodbye carrying its code,
// send() after the end throws, and the close handler runs once.

#include "protocol/connection.h"

#include <boost/asio/io_context.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>

namespace fedgan::testing {

namespace wire = protocol::wire;

class MemoryConnection final : public protocol::Connection,
                               public std::enable_shared_from_this<MemoryConnection> {
 public:
  /// `io` is owned by the caller and outlives the connection.
  MemoryConnection(boost::asio::io_context& io, std::string identity);

  void start(MessageHandler on_message, CloseHandler on_close) override;
  void send(const wire::Envelope& message) override;
  void send_stream(StreamSource source, std::function<void()> on_done) override;
  void send_frames(FrameSource source, std::function<void()> on_done) override;
  void close(wire::StatusCode code, const std::string& message) override;
  void post(std::function<void()> task) override;
  const std::string& peer_identity() const override { return identity_; }
  const std::string& remote_address() const override { return address_; }
  const std::string& tls_version() const override { return none_; }
  const std::string& tls_cipher() const override { return none_; }
  std::optional<protocol::TransportError> error() const override { return error_; }
  protocol::ConnectionStats stats() const override { return stats_; }

  /// The peer sends `message`: it reaches the handler now, as a message the transport decoded.
  void deliver(wire::Envelope message);
  /// The peer vanishes (no Goodbye).
  void drop();
  /// Messages the coordinator sent that the test has not taken yet (model chunks are counted,
  /// not kept).
  std::deque<wire::Envelope>& sent() { return sent_; }
  bool open() const { return !error_; }

 private:
  void fail(protocol::TransportError error);

  boost::asio::io_context& io_;  // owned by the caller
  std::string identity_;
  std::string address_ = "memory";
  std::string none_;
  MessageHandler on_message_;
  CloseHandler on_close_;
  std::optional<protocol::TransportError> error_;
  protocol::ConnectionStats stats_;
  std::deque<wire::Envelope> sent_;
};

}  // namespace fedgan::testing
