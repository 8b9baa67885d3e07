#include "protocol/tls_connection.h"

#include "protocol/protobuf_log.h"
#include "protocol/tls_context.h"
#include "protocol/wire_text.h"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <cmath>

namespace fedgan::protocol {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Plaintext is gathered record by record (four of them) into a buffer of this size before it goes
// to the decoder; larger would only hold memory, since feeding the decoder is a plain copy.
constexpr size_t kPlainReadBytes = 64 * 1024;

Connection::SharedFrame shared(std::vector<uint8_t> frame) {
  return std::make_shared<const std::vector<uint8_t>>(std::move(frame));
}

wire::Envelope goodbye(wire::StatusCode code, const std::string& message) {
  wire::Envelope envelope;
  auto* status = envelope.mutable_goodbye()->mutable_status();
  status->set_code(code);
  status->set_message(message);
  return envelope;
}

}  // namespace

TlsConnection::TlsConnection(Strand strand, tcp::socket socket, const TlsContext& tls,
                             const ConnectionOptions& options)
    : strand_(strand),
      socket_(std::move(socket)),
      tls_context_(tls.native().native_handle()),
      read_timer_(strand),
      write_timer_(strand),
      heartbeat_timer_(strand),
      options_(options),
      decoder_(options.require_greeting
                   ? std::min(options.max_greeting_frame_bytes, options.max_frame_bytes)
                   : options.max_frame_bytes),
      cipher_in_(TlsEngine::kCipherReadBytes),
      read_buffer_(kPlainReadBytes),
      greeted_(!options.require_greeting) {
  silence_protobuf_parse_logs();
  boost::system::error_code ec;
  const auto endpoint = socket_.remote_endpoint(ec);
  if (!ec) address_ = endpoint_text(endpoint);
}

TlsConnection::~TlsConnection() = default;

void TlsConnection::start(MessageHandler on_message, CloseHandler on_close) {
  asio::dispatch(strand_, [self = shared_from_this(), on_message = std::move(on_message),
                           on_close = std::move(on_close)]() mutable {
    if (self->state_ != State::kOpen) {
      if (auto error = self->remembered(); error && on_close) on_close(*error);
      return;
    }
    self->on_message_ = std::move(on_message);
    self->on_close_ = std::move(on_close);
    self->set_read_deadline(self->next_read_deadline(Clock::now()));
    self->schedule_heartbeat();
    self->write_next();
    // Records that came with the handshake's last flight are already in the engine.
    self->receive();
  });
}

// --- deadlines --------------------------------------------------------------------------------

// One timer serves the handshake, idle and per-frame deadlines: it is re-armed only when the
// deadline moves earlier, and a wait that fires early re-arms itself for the current deadline.
void TlsConnection::set_read_deadline(Clock::time_point deadline) {
  const bool earlier = deadline < read_deadline_;
  read_deadline_ = deadline;
  if (earlier || read_timer_.expiry() == Clock::time_point()) wait_read_deadline();
}

void TlsConnection::wait_read_deadline() {
  read_timer_.expires_at(read_deadline_);
  read_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->on_read_deadline(ec);
  });
}

void TlsConnection::on_read_deadline(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted || state_ == State::kClosed) return;
  if (Clock::now() < read_deadline_) return wait_read_deadline();
  if (state_ == State::kHandshaking) {
    return fail(TransportError(TransportErrorKind::kTimeout,
                               fmt::format("{}: no TLS handshake within {} ms", address_,
                                           options_.handshake_timeout.count())));
  }
  const std::string what =
      !greeted_ && Clock::now() >= greeting_deadline_
          ? fmt::format(
                "no first message within {} ms of connecting (the TLS handshake and the "
                "first message share that deadline)",
                options_.handshake_timeout.count())
      : in_frame_
          ? fmt::format("a frame was not completed within {} ms", options_.frame_timeout.count())
          : fmt::format("nothing received for {} ms", options_.idle_timeout.count());
  fail_with_goodbye(TransportError(TransportErrorKind::kTimeout,
                                   fmt::format("{}: {}", address_, what),
                                   wire::STATUS_DEADLINE_EXCEEDED));
}

// --- reading ----------------------------------------------------------------------------------

void TlsConnection::read_next() {
  read_in_flight_ = true;
  socket_.async_read_some(asio::buffer(cipher_in_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t bytes) { self->on_read(ec, bytes); });
}

void TlsConnection::on_read(const boost::system::error_code& ec, size_t bytes) {
  read_in_flight_ = false;
  if (state_ == State::kClosing) return on_read_while_closing(ec, bytes);
  if (state_ != State::kOpen) return;
  if (ec) return fail(network_error(ec, "read"));
  engine_->feed(cipher_in_.data(), bytes);
  receive();
}

// Decrypts, decodes and delivers everything the engine holds, then reads on.
void TlsConnection::receive() {
  bool delivered = false;
  while (true) {
    size_t filled = 0;
    const auto result = decrypt_into_read_buffer(filled);
    // Plaintext before a close_notify or a bad record is delivered first: it may be a Goodbye.
    if (filled > 0) {
      const auto delivery = deliver_read_buffer(filled);
      if (!delivery) return;
      delivered = delivered || *delivery;
    }
    if (result == TlsEngine::Result::kClosed) return fail(closed_without_goodbye());
    if (result == TlsEngine::Result::kError) {
      return fail(
          TransportError(TransportErrorKind::kTls,
                         fmt::format("TLS read error with {}: {}", address_, engine_->error())));
    }
    if (result == TlsEngine::Result::kWantRead) break;
  }
  if (engine_->has_output()) write_next();  // what reading required, such as a key update
  const auto now = Clock::now();
  if (decoder_.buffered_bytes() == 0) {
    in_frame_ = false;
  } else if (!in_frame_ || delivered) {
    in_frame_ = true;
    frame_started_ = now;
  }
  set_read_deadline(next_read_deadline(now));
  read_next();
}

// Idle, or the fixed greeting deadline while the first message is awaited; sooner if a frame
// has started and must be finished.
TlsConnection::Clock::time_point TlsConnection::next_read_deadline(Clock::time_point now) const {
  auto deadline = greeted_ ? now + options_.idle_timeout : greeting_deadline_;
  if (in_frame_) deadline = std::min(deadline, frame_started_ + options_.frame_timeout);
  return deadline;
}

// Fills read_buffer_ with plaintext, a record at a time, until it is full (kDone) or the engine
// needs more ciphertext (kWantRead), the peer closed (kClosed) or a record failed (kError).
TlsEngine::Result TlsConnection::decrypt_into_read_buffer(size_t& filled) {
  filled = 0;
  while (filled < read_buffer_.size()) {
    size_t got = 0;
    const auto result =
        engine_->read(read_buffer_.data() + filled, read_buffer_.size() - filled, got);
    if (result != TlsEngine::Result::kDone) return result;
    filled += got;
  }
  return TlsEngine::Result::kDone;
}

// Decodes the first `filled` bytes of read_buffer_ and delivers the messages they complete, each
// before the next frame is decoded (the first message changes the frame limit). Returns whether
// any were delivered, or nothing once the connection is no longer open.
std::optional<bool> TlsConnection::deliver_read_buffer(size_t filled) {
  {
    std::lock_guard lock(shared_mutex_);
    stats_.bytes_received += filled;
  }
  bool delivered = false;
  for (size_t used = 0; used < filled;) {
    std::optional<wire::Envelope> message;
    try {
      used += decoder_.feed_one(read_buffer_.data() + used, filled - used, message);
    } catch (const ProtocolError& e) {
      fail_with_goodbye(TransportError(TransportErrorKind::kProtocol,
                                       fmt::format("{} broke framing: {}", address_, e.what()),
                                       e.code()));
      return std::nullopt;
    }
    if (!message) break;
    {
      std::lock_guard lock(shared_mutex_);
      ++stats_.frames_received;
    }
    deliver(*message);
    if (state_ != State::kOpen) return std::nullopt;
    delivered = true;
  }
  return delivered;
}

// Our Goodbye is on its way: what the peer still sends is discarded, and reading goes on so a
// peer blocked on writing to us cannot block the Goodbye. The peer's close_notify or end of
// stream ends the close once our own close_notify is out (see shut_down).
void TlsConnection::on_read_while_closing(const boost::system::error_code& ec, size_t bytes) {
  if (!ec) {
    engine_->feed(cipher_in_.data(), bytes);
    size_t discarded = 0;
    auto result = TlsEngine::Result::kDone;
    while (result == TlsEngine::Result::kDone) result = decrypt_into_read_buffer(discarded);
    if (result == TlsEngine::Result::kWantRead) return read_next();
  }
  peer_closed_ = true;
  if (close_notify_sent_) finish_closing();
}

void TlsConnection::deliver(wire::Envelope& message) {
  if (message.has_goodbye()) {
    const auto& status = message.goodbye().status();
    // The peer's words reach logs and the coordinator's database: bounded and made printable.
    return fail(TransportError(
        TransportErrorKind::kClosedByPeer,
        fmt::format("{} closed the connection: {} ({})", address_,
                    status.message().empty() ? "no reason given"
                                             : printable(status.message(), kMaxPeerMessageBytes),
                    wire::StatusCode_Name(status.code())),
        status.code()));
  }
  if (greeting_rules_broken_by(message) || message.has_heartbeat()) return;
  if (!on_message_) return;
  try {
    on_message_(message);
  } catch (const ProtocolError& e) {
    fail_with_goodbye(TransportError(TransportErrorKind::kProtocol, e.what(), e.code()));
  } catch (const std::exception& e) {
    // The text of a local failure stays local; the peer only learns that it was internal.
    fail_with_goodbye(
        TransportError(TransportErrorKind::kProtocol,
                       fmt::format("handling a message from {} failed: {}", address_, e.what()),
                       wire::STATUS_INTERNAL));
  }
}

// Applies ConnectionOptions::require_greeting to a message other than Goodbye; returns true when
// it broke them (the connection is then closing).
bool TlsConnection::greeting_rules_broken_by(const wire::Envelope& message) {
  if (greeted_) return false;
  if (message.has_heartbeat()) {
    fail_with_goodbye(TransportError(
        TransportErrorKind::kProtocol,
        fmt::format("{}: the first message must be Hello, not a heartbeat", address_),
        wire::STATUS_MALFORMED));
    return true;
  }
  // The first message is delivered now: from here on the normal limits apply.
  greeted_ = true;
  decoder_.set_max_frame_bytes(options_.max_frame_bytes);
  return false;
}

// --- writing ----------------------------------------------------------------------------------

void TlsConnection::send(const wire::Envelope& message) {
  if (auto error = remembered()) throw *error;
  auto frame = shared(encode_frame(message, options_.max_frame_bytes));
  asio::post(strand_, [self = shared_from_this(), frame = std::move(frame)]() mutable {
    self->enqueue(Outgoing{std::move(frame), {}, {}, {}});
  });
}

void TlsConnection::send_stream(StreamSource source, std::function<void()> on_done) {
  if (auto error = remembered()) throw *error;
  asio::post(strand_, [self = shared_from_this(), source = std::move(source),
                       on_done = std::move(on_done)]() mutable {
    self->enqueue(Outgoing{{}, std::move(source), {}, std::move(on_done)});
  });
}

void TlsConnection::send_frames(FrameSource source, std::function<void()> on_done) {
  if (auto error = remembered()) throw *error;
  asio::post(strand_, [self = shared_from_this(), source = std::move(source),
                       on_done = std::move(on_done)]() mutable {
    self->enqueue(Outgoing{{}, {}, std::move(source), std::move(on_done)});
  });
}

void TlsConnection::enqueue(Outgoing item) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;
  {
    std::lock_guard lock(shared_mutex_);
    queued_bytes_ += item.frame ? item.frame->size() : 0;
  }
  if (queued_bytes_ > options_.max_queued_bytes) {
    return fail(TransportError(
        TransportErrorKind::kOverloaded,
        fmt::format("{} is not reading: {} bytes waiting to be sent, the limit is {}", address_,
                    queued_bytes_, options_.max_queued_bytes)));
  }
  queue_.push_back(std::move(item));
  write_next();
}

// Moves the next frame into writing_: a queued frame, or the next frame of the stream at the
// front of the queue (finished streams are popped and their on_done called).
bool TlsConnection::take_next_frame() {
  while (!queue_.empty()) {
    Outgoing& front = queue_.front();
    if (front.frame) {
      writing_ = std::move(front.frame);
      queue_.pop_front();
      return true;
    }
    if (front.frames) {
      if (auto frame = front.frames()) {
        const size_t body = frame->size() - std::min(frame->size(), kFrameHeaderBytes);
        check(body <= options_.max_frame_bytes, wire::STATUS_FRAME_TOO_LARGE,
              "a frame of {} bytes exceeds the limit of {}", body, options_.max_frame_bytes);
        writing_ = std::move(frame);
        return true;
      }
    } else if (front.messages) {
      wire::Envelope next;
      if (front.messages(next)) {
        writing_ = shared(encode_frame(next, options_.max_frame_bytes));
        return true;
      }
    }
    auto on_done = std::move(front.on_done);
    queue_.pop_front();
    if (on_done) on_done();
  }
  return false;
}

// Writes the engine's pending ciphertext, or else encrypts the next slice of the frame in hand,
// or of the next frame, and writes that.
void TlsConnection::write_next() {
  if (write_in_flight_ || (state_ != State::kOpen && state_ != State::kClosing)) return;
  if (!engine_->has_output()) {
    if (!writing_) {
      bool have_frame = false;
      try {
        have_frame = take_next_frame();
      } catch (const std::exception& e) {
        return fail_with_goodbye(TransportError(
            TransportErrorKind::kProtocol,
            fmt::format("producing the next message for {} failed: {}", address_, e.what()),
            wire::STATUS_INTERNAL));
      }
      if (!have_frame) {
        if (state_ == State::kClosing) shut_down();
        return;
      }
      {
        std::lock_guard lock(shared_mutex_);
        queued_bytes_ -= std::min(queued_bytes_, writing_->size());
        stats_.peak_queued_bytes =
            std::max(stats_.peak_queued_bytes, queued_bytes_ + writing_->size());
      }
      writing_offset_ = 0;
      write_timer_.expires_after(options_.frame_timeout);
      write_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        self->on_write_deadline(ec);
      });
    }
    const size_t slice = std::min(TlsEngine::kWriteSliceBytes, writing_->size() - writing_offset_);
    if (!engine_->write(writing_->data() + writing_offset_, slice)) {
      return fail(
          TransportError(TransportErrorKind::kTls,
                         fmt::format("TLS write error with {}: {}", address_, engine_->error())));
    }
    writing_offset_ += slice;
  }
  engine_->take_output(cipher_out_);
  write_in_flight_ = true;
  asio::async_write(socket_, asio::buffer(cipher_out_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->on_write(ec);
                    });
}

void TlsConnection::on_write(const boost::system::error_code& ec) {
  write_in_flight_ = false;
  if (state_ == State::kClosed) return;
  if (ec) return fail(network_error(ec, "write"));
  // The last slice's ciphertext goes out in the same write as its encryption: the frame is sent.
  if (writing_ && writing_offset_ == writing_->size() && !engine_->has_output()) {
    write_timer_.cancel();
    {
      std::lock_guard lock(shared_mutex_);
      stats_.bytes_sent += writing_->size();
      ++stats_.frames_sent;
    }
    writing_.reset();
  }
  last_write_ = Clock::now();
  write_next();
}

void TlsConnection::on_write_deadline(const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted || !write_in_flight_ || state_ == State::kClosed) {
    return;
  }
  if (write_timer_.expiry() > Clock::now()) return;  // a later write re-armed the timer
  fail(TransportError(TransportErrorKind::kTimeout,
                      fmt::format("{} did not take a frame within {} ms", address_,
                                  options_.frame_timeout.count())));
}

void TlsConnection::schedule_heartbeat() {
  if (options_.heartbeat_interval.count() <= 0) return;
  heartbeat_timer_.expires_after(options_.heartbeat_interval);
  heartbeat_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->state_ != State::kOpen) return;
    const bool quiet = !self->write_in_flight_ && self->queue_.empty() &&
                       Clock::now() - self->last_write_ >= self->options_.heartbeat_interval;
    if (quiet) {
      wire::Envelope heartbeat;
      heartbeat.mutable_heartbeat()->set_unix_ms(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count());
      self->enqueue(
          Outgoing{shared(encode_frame(heartbeat, self->options_.max_frame_bytes)), {}, {}, {}});
    }
    self->schedule_heartbeat();
  });
}

// --- closing ----------------------------------------------------------------------------------

void TlsConnection::close(wire::StatusCode code, const std::string& message) {
  asio::dispatch(strand_, [self = shared_from_this(), code, message] {
    if (self->state_ != State::kOpen) return;
    self->remember(TransportError(TransportErrorKind::kClosedLocally,
                                  fmt::format("closed by this side: {}", message), code));
    self->state_ = State::kClosing;
    // Graceful: what was queued before close() still goes out, then the Goodbye.
    self->queue_.push_back(Outgoing{shared(encode_frame(goodbye(code, message))), {}, {}, {}});
    self->write_next();
  });
}

void TlsConnection::post(std::function<void()> task) {
  asio::post(strand_, [self = shared_from_this(), task = std::move(task)] { task(); });
}

void TlsConnection::fail_with_goodbye(TransportError error) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;
  remember(error);
  state_ = State::kClosing;
  queue_.clear();
  {
    std::lock_guard lock(shared_mutex_);
    queued_bytes_ = 0;
  }
  // Only protocol statuses are explained to the peer; an internal failure stays local.
  const bool internal = error.status() == wire::STATUS_INTERNAL;
  queue_.push_back(Outgoing{
      shared(encode_frame(goodbye(error.status(), internal ? "internal error" : error.what()))),
      {},
      {},
      {}});
  write_next();
}

// Called once the Goodbye is written: sends TLS close_notify and waits (two seconds at most) for
// the peer to close. Closing the socket at once could make the kernel reset the connection and
// discard the Goodbye before the peer reads it.
void TlsConnection::shut_down() {
  if (state_ != State::kClosing || lingering_) return;
  lingering_ = true;
  write_in_flight_ = true;  // nothing else is written from here on
  write_timer_.expires_after(std::min(options_.frame_timeout, std::chrono::milliseconds(2000)));
  write_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec != asio::error::operation_aborted) self->finish_closing();
  });
  engine_->shutdown();
  engine_->take_output(cipher_out_);
  asio::async_write(socket_, asio::buffer(cipher_out_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      self->close_notify_sent_ = true;
                      if (ec || self->peer_closed_) return self->finish_closing();
                      if (!self->read_in_flight_) self->read_next();
                    });
}

void TlsConnection::finish_closing() {
  if (state_ == State::kClosed) return;
  write_in_flight_ = false;
  fail(*remembered());
}

void TlsConnection::fail(TransportError error) {
  if (state_ == State::kClosed) return;
  remember(error);
  state_ = State::kClosed;
  boost::system::error_code ignored;
  read_timer_.cancel();
  write_timer_.cancel();
  heartbeat_timer_.cancel();
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  queue_.clear();
  slots_.clear();
  // The handlers may hold the owner of this connection; dropping them breaks that cycle.
  auto on_close = std::move(on_close_);
  on_close_ = nullptr;
  on_message_ = nullptr;
  if (on_close) on_close(*remembered());
}

TransportError TlsConnection::closed_without_goodbye() const {
  return TransportError(TransportErrorKind::kNetwork,
                        fmt::format("{} closed the connection without a Goodbye", address_));
}

TransportError TlsConnection::network_error(const boost::system::error_code& ec,
                                            const char* what) const {
  if (ec == asio::error::eof || ec == asio::error::connection_reset) {
    return closed_without_goodbye();
  }
  return TransportError(TransportErrorKind::kNetwork,
                        fmt::format("{} from {} failed: {}", what, address_, ec.message()));
}

// --- shared state -----------------------------------------------------------------------------

void TlsConnection::remember(const TransportError& error) {
  std::lock_guard lock(shared_mutex_);
  if (!error_) error_ = error;
}

std::optional<TransportError> TlsConnection::remembered() const {
  std::lock_guard lock(shared_mutex_);
  return error_;
}

std::optional<TransportError> TlsConnection::error() const {
  return remembered();
}

ConnectionStats TlsConnection::stats() const {
  std::lock_guard lock(shared_mutex_);
  return stats_;
}

// --- options ----------------------------------------------------------------------------------

namespace {

std::chrono::milliseconds milliseconds_of(double seconds) {
  const double ms = std::min(seconds * 1000.0, 1e12);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

}  // namespace

ConnectionOptions connection_options_from_seconds(double handshake, double idle, double frame,
                                                  double heartbeat) {
  ConnectionOptions options;
  options.handshake_timeout = milliseconds_of(handshake);
  options.idle_timeout = milliseconds_of(idle);
  options.frame_timeout = milliseconds_of(frame);
  options.heartbeat_interval = milliseconds_of(heartbeat);
  return options;
}

}  // namespace fedgan::protocol
