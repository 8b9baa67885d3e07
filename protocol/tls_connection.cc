#include "protocol/tls_connection.h"

#include "protocol/protobuf_log.h"
#include "protocol/tls_context.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <cmath>

namespace fedgan::protocol {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Large enough that a 4 MiB chunk arrives in a few dozen reads; TLS records are at most 16 KiB.
constexpr size_t kReadBufferBytes = 64 * 1024;
// Subject CNs are at most 64 characters by X.520; the identity is stored and logged, so it must
// be printable.
constexpr size_t kMaxIdentityBytes = 64;

Connection::SharedFrame shared(std::vector<uint8_t> frame) {
  return std::make_shared<const std::vector<uint8_t>>(std::move(frame));
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// The subject CN of the peer's verified certificate: exactly one, non-empty, printable.
std::string peer_common_name(SSL* ssl) {
  const X509* certificate = SSL_get0_peer_certificate(ssl);
  if (certificate == nullptr) return {};
  const X509_NAME* subject = X509_get_subject_name(certificate);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length <= 0) return {};
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (name.size() > kMaxIdentityBytes) return {};
  for (const unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return {};
  }
  return name;
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
      stream_(std::move(socket), tls.native()),
      read_timer_(strand),
      write_timer_(strand),
      heartbeat_timer_(strand),
      options_(options),
      decoder_(options.max_frame_bytes),
      read_buffer_(kReadBufferBytes) {
  silence_protobuf_parse_logs();
  boost::system::error_code ec;
  const auto endpoint = stream_.lowest_layer().remote_endpoint(ec);
  if (!ec) address_ = endpoint_text(endpoint);
}

TlsConnection::~TlsConnection() = default;

void TlsConnection::accept_handshake(HandshakeHandler handler) {
  set_read_deadline(Clock::now() + options_.handshake_timeout);
  run_handshake(true, std::move(handler));
}

void TlsConnection::connect_handshake(const tcp::resolver::results_type& endpoints,
                                      const std::string& server_name, HandshakeHandler handler) {
  set_read_deadline(Clock::now() + options_.handshake_timeout);
  asio::async_connect(
      stream_.lowest_layer(), endpoints,
      [self = shared_from_this(), server_name, handler = std::move(handler)](
          const boost::system::error_code& ec, const tcp::endpoint& endpoint) mutable {
        if (self->state_ != State::kHandshaking) return handler(self->remembered());
        if (ec) {
          TransportError error(TransportErrorKind::kNetwork,
                               fmt::format("cannot connect to {}: {}", server_name, ec.message()));
          self->fail(error);
          return handler(error);
        }
        self->address_ = endpoint_text(endpoint);
        // OpenSSL checks the name during chain verification, so a mismatch fails the handshake
        // itself: an IP address against IP SANs, a name against DNS SANs (no partial wildcards).
        SSL* ssl = self->stream_.native_handle();
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        boost::system::error_code not_ip;
        asio::ip::make_address(server_name, not_ip);
        if (!not_ip) {
          X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
        } else {
          X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), server_name.size());
          SSL_set_tlsext_host_name(ssl, server_name.c_str());
        }
        self->run_handshake(false, std::move(handler));
      });
}

void TlsConnection::run_handshake(bool server, HandshakeHandler handler) {
  // A frame's last TLS record is short, and so are whole messages (Ack, TransferEnd, Heartbeat);
  // with Nagle's algorithm such a record waits for the peer's ACK of the bytes before it, which
  // Linux delays by up to 40 ms. Frames are written whole, so there is nothing for Nagle to merge.
  boost::system::error_code ec;
  stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
  if (ec) {
    TransportError error(
        TransportErrorKind::kNetwork,
        fmt::format("cannot turn off Nagle's algorithm on the connection to {}: {}", address_,
                    ec.message()));
    fail(error);
    return handler(error);
  }
  stream_.async_handshake(server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                          [self = shared_from_this(), handler = std::move(handler)](
                              const boost::system::error_code& ec) mutable {
                            self->on_handshake(ec, std::move(handler));
                          });
}

void TlsConnection::on_handshake(const boost::system::error_code& ec, HandshakeHandler handler) {
  if (state_ != State::kHandshaking) return handler(remembered());
  if (ec) {
    std::string reason = ec.message();
    const long verify = SSL_get_verify_result(stream_.native_handle());
    if (verify != X509_V_OK) reason += fmt::format(" ({})", X509_verify_cert_error_string(verify));
    TransportError error(TransportErrorKind::kTls,
                         fmt::format("TLS handshake with {} failed: {}", address_, reason));
    fail(error);
    return handler(error);
  }
  identity_ = peer_common_name(stream_.native_handle());
  tls_version_ = SSL_get_version(stream_.native_handle());
  tls_cipher_ = SSL_get_cipher_name(stream_.native_handle());
  if (identity_.empty()) {
    TransportError error(TransportErrorKind::kTls,
                         fmt::format("peer {} presented a certificate without a single printable "
                                     "subject CN of at most {} characters",
                                     address_, kMaxIdentityBytes));
    fail(error);
    return handler(error);
  }
  state_ = State::kOpen;
  // Until start() the connection neither reads nor times out; the owner starts it at once.
  set_read_deadline(Clock::time_point::max());
  last_write_ = Clock::now();
  handler(std::nullopt);
}

void TlsConnection::start(MessageHandler on_message, CloseHandler on_close) {
  asio::dispatch(strand_, [self = shared_from_this(), on_message = std::move(on_message),
                           on_close = std::move(on_close)]() mutable {
    if (self->state_ != State::kOpen) {
      if (auto error = self->remembered(); error && on_close) on_close(*error);
      return;
    }
    self->on_message_ = std::move(on_message);
    self->on_close_ = std::move(on_close);
    self->set_read_deadline(Clock::now() + self->options_.idle_timeout);
    self->read_next();
    self->schedule_heartbeat();
    self->write_next();
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
      in_frame_
          ? fmt::format("a frame was not completed within {} ms", options_.frame_timeout.count())
          : fmt::format("nothing received for {} ms", options_.idle_timeout.count());
  fail_with_goodbye(TransportError(TransportErrorKind::kTimeout,
                                   fmt::format("{}: {}", address_, what),
                                   wire::STATUS_DEADLINE_EXCEEDED));
}

// --- reading ----------------------------------------------------------------------------------

void TlsConnection::read_next() {
  read_in_flight_ = true;
  stream_.async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t bytes) { self->on_read(ec, bytes); });
}

void TlsConnection::on_read(const boost::system::error_code& ec, size_t bytes) {
  read_in_flight_ = false;
  if (state_ == State::kClosing) {
    // Our Goodbye is on its way: what the peer still sends is discarded, and reading goes on so
    // a peer blocked on writing to us cannot block the Goodbye. Once it is written, the read is
    // cancelled (see shut_down) and the TLS shutdown takes over the stream.
    if (lingering_) return start_tls_shutdown();
    if (!ec) read_next();
    return;
  }
  if (state_ != State::kOpen) return;
  if (ec) return fail(network_error(ec, "read"));
  {
    std::lock_guard lock(shared_mutex_);
    stats_.bytes_received += bytes;
  }
  std::vector<wire::Envelope> messages;
  try {
    messages = decoder_.feed(read_buffer_.data(), bytes);
  } catch (const ProtocolError& e) {
    return fail_with_goodbye(TransportError(TransportErrorKind::kProtocol,
                                            fmt::format("{} broke framing: {}", address_, e.what()),
                                            e.code()));
  }
  for (auto& message : messages) {
    {
      std::lock_guard lock(shared_mutex_);
      ++stats_.frames_received;
    }
    deliver(message);
    if (state_ != State::kOpen) return;
  }
  const auto now = Clock::now();
  if (decoder_.buffered_bytes() == 0) {
    in_frame_ = false;
  } else if (!in_frame_ || !messages.empty()) {
    in_frame_ = true;
    frame_started_ = now;
  }
  auto deadline = now + options_.idle_timeout;
  if (in_frame_) deadline = std::min(deadline, frame_started_ + options_.frame_timeout);
  set_read_deadline(deadline);
  read_next();
}

void TlsConnection::deliver(wire::Envelope& message) {
  if (message.has_heartbeat()) return;
  if (message.has_goodbye()) {
    const auto& status = message.goodbye().status();
    return fail(
        TransportError(TransportErrorKind::kClosedByPeer,
                       fmt::format("{} closed the connection: {} ({})", address_,
                                   status.message().empty() ? "no reason given" : status.message(),
                                   wire::StatusCode_Name(status.code())),
                       status.code()));
  }
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

void TlsConnection::write_next() {
  if (write_in_flight_ || (state_ != State::kOpen && state_ != State::kClosing)) return;
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
    stats_.peak_queued_bytes = std::max(stats_.peak_queued_bytes, queued_bytes_ + writing_->size());
  }
  write_in_flight_ = true;
  write_timer_.expires_after(options_.frame_timeout);
  write_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->on_write_deadline(ec);
  });
  asio::async_write(stream_, asio::buffer(*writing_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
                      self->on_write(ec, bytes);
                    });
}

void TlsConnection::on_write(const boost::system::error_code& ec, size_t bytes) {
  write_in_flight_ = false;
  write_timer_.cancel();
  if (state_ == State::kClosed) return;
  if (ec) return fail(network_error(ec, "write"));
  {
    std::lock_guard lock(shared_mutex_);
    stats_.bytes_sent += bytes;
    ++stats_.frames_sent;
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
  // The shutdown reads the peer's close_notify, and only one read may be outstanding.
  if (read_in_flight_) {
    boost::system::error_code ignored;
    stream_.lowest_layer().cancel(ignored);
  } else {
    start_tls_shutdown();
  }
}

void TlsConnection::start_tls_shutdown() {
  if (tls_shutdown_started_ || state_ != State::kClosing) return;
  tls_shutdown_started_ = true;
  stream_.async_shutdown(
      [self = shared_from_this()](const boost::system::error_code&) { self->finish_closing(); });
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
  stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.lowest_layer().close(ignored);
  queue_.clear();
  slot_.reset();
  // The handlers may hold the owner of this connection; dropping them breaks that cycle.
  auto on_close = std::move(on_close_);
  on_close_ = nullptr;
  on_message_ = nullptr;
  if (on_close) on_close(*remembered());
}

TransportError TlsConnection::network_error(const boost::system::error_code& ec,
                                            const char* what) const {
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      ec == asio::error::connection_reset) {
    return TransportError(TransportErrorKind::kNetwork,
                          fmt::format("{} closed the connection without a Goodbye", address_));
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    return TransportError(TransportErrorKind::kTls,
                          fmt::format("TLS {} error with {}: {}", what, address_, ec.message()));
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

// --- client side ------------------------------------------------------------------------------

void async_connect(asio::io_context& io, const TlsContext& tls, const ConnectTarget& target,
                   const ConnectionOptions& options, ConnectHandler handler) {
  auto strand = asio::make_strand(io);
  auto connection = std::make_shared<TlsConnection>(strand, tcp::socket(strand), tls, options);
  auto resolver = std::make_shared<tcp::resolver>(strand);
  const std::string server_name = target.server_name.empty() ? target.host : target.server_name;
  resolver->async_resolve(
      target.host, std::to_string(target.port),
      [connection, resolver, server_name, host = target.host, handler = std::move(handler)](
          const boost::system::error_code& ec, const tcp::resolver::results_type& endpoints) {
        if (ec) {
          return handler(
              nullptr, TransportError(TransportErrorKind::kNetwork,
                                      fmt::format("cannot resolve '{}': {}", host, ec.message())));
        }
        connection->connect_handshake(endpoints, server_name,
                                      [connection, handler](std::optional<TransportError> error) {
                                        if (error) return handler(nullptr, std::move(error));
                                        handler(connection, std::nullopt);
                                      });
      });
}

}  // namespace fedgan::protocol
