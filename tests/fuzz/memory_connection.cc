#include "tests/fuzz/memory_connection.h"

#include "protocol/frame.h"

#include <boost/asio/post.hpp>

namespace fedgan::testing {

namespace asio = boost::asio;
using protocol::TransportError;
using protocol::TransportErrorKind;

MemoryConnection::MemoryConnection(asio::io_context& io, std::string identity)
    : io_(io), identity_(std::move(identity)) {}

void MemoryConnection::start(MessageHandler on_message, CloseHandler on_close) {
  on_message_ = std::move(on_message);
  on_close_ = std::move(on_close);
}

void MemoryConnection::send(const wire::Envelope& message) {
  if (error_) throw *error_;
  // The real transport refuses a message over the frame limit the same way.
  const auto frame = protocol::encode_frame(message);
  stats_.bytes_sent += frame.size();
  ++stats_.frames_sent;
  sent_.push_back(message);
}

void MemoryConnection::send_stream(StreamSource source, std::function<void()> on_done) {
  if (error_) throw *error_;
  post([self = shared_from_this(), source = std::move(source), on_done = std::move(on_done)] {
    wire::Envelope next;
    while (self->open() && source(next)) self->sent_.push_back(next);
    if (self->open() && on_done) on_done();
  });
}

void MemoryConnection::send_frames(FrameSource source, std::function<void()> on_done) {
  if (error_) throw *error_;
  // Drained when the test polls, as the transport drains a stream one written frame at a time.
  post([self = shared_from_this(), source = std::move(source), on_done = std::move(on_done)] {
    while (self->open()) {
      const auto frame = source();
      if (!frame) break;
      self->stats_.bytes_sent += frame->size();
      ++self->stats_.frames_sent;
    }
    if (self->open() && on_done) on_done();
  });
}

void MemoryConnection::close(wire::StatusCode code, const std::string& message) {
  post([self = shared_from_this(), code, message] {
    if (!self->open()) return;
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->mutable_status()->set_code(code);
    goodbye.mutable_goodbye()->mutable_status()->set_message(message);
    self->sent_.push_back(goodbye);
    self->fail(TransportError(TransportErrorKind::kClosedLocally, "closed by this side: " + message,
                              code));
  });
}

void MemoryConnection::post(std::function<void()> task) {
  asio::post(io_, std::move(task));
}

void MemoryConnection::deliver(wire::Envelope message) {
  if (!open() || !on_message_) return;
  ++stats_.frames_received;
  try {
    on_message_(message);
  } catch (const protocol::ProtocolError& e) {
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->mutable_status()->set_code(e.code());
    sent_.push_back(goodbye);
    fail(TransportError(TransportErrorKind::kProtocol, e.what(), e.code()));
  } catch (const TransportError& e) {
    // A send on this connection after it failed (the handler's reply): it is closed already.
    fail(e);
  }
}

void MemoryConnection::drop() {
  fail(TransportError(TransportErrorKind::kNetwork, identity_ + " closed the connection"));
}

void MemoryConnection::fail(TransportError error) {
  if (error_) return;
  error_ = error;
  auto on_close = std::move(on_close_);
  on_close_ = nullptr;
  on_message_ = nullptr;
  if (on_close) on_close(*error_);
}

}  // namespace fedgan::testing
