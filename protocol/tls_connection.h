#pragma once

// Internal to the protocol library: the Asio/OpenSSL implementation behind Connection, shared by
// async_connect (client side) and Server (server side). Its handshake is in tls_handshake.cc, the
// rest in tls_connection.cc; TLS itself is a TlsEngine fed and drained over the socket.

#include "protocol/connection.h"
#include "protocol/tls_engine.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace fedgan::protocol {

class TlsConnection final : public Connection, public std::enable_shared_from_this<TlsConnection> {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  using HandshakeHandler = std::function<void(std::optional<TransportError>)>;

  /// `socket` must have been created on `strand`. `tls` is owned by the caller and outlives this.
  TlsConnection(Strand strand, boost::asio::ip::tcp::socket socket, const TlsContext& tls,
                const ConnectionOptions& options);
  ~TlsConnection() override;

  /// Server side: runs the handshake under the handshake deadline; on success the peer identity
  /// is known. A client whose identity is not in `allowed` (when it is not empty), or whose
  /// certificate names no usable identity, is refused inside the handshake (TlsEngine::admit_only)
  /// and never receives application data; `handler` then gets kUnauthorized naming the identity,
  /// or kTls. `handler` runs on the strand.
  void accept_handshake(std::shared_ptr<const std::set<std::string>> allowed,
                        HandshakeHandler handler);
  /// Client side: connects to one of `endpoints`, checks the server name, runs the handshake.
  void connect_handshake(const boost::asio::ip::tcp::resolver::results_type& endpoints,
                         const std::string& server_name, HandshakeHandler handler);
  /// Held until the connection is closed (Server counts live connections, in all and per
  /// identity, with such tokens). Call on the strand, or before the handshake starts.
  void hold_until_closed(std::shared_ptr<void> token) { slots_.push_back(std::move(token)); }

  void start(MessageHandler on_message, CloseHandler on_close) override;
  void send(const wire::Envelope& message) override;
  void send_stream(StreamSource source, std::function<void()> on_done) override;
  void send_frames(FrameSource source, std::function<void()> on_done) override;
  void close(wire::StatusCode code, const std::string& message) override;
  void post(std::function<void()> task) override;
  const std::string& peer_identity() const override { return identity_; }
  const std::string& remote_address() const override { return address_; }
  const std::string& tls_version() const override { return tls_version_; }
  const std::string& tls_cipher() const override { return tls_cipher_; }
  std::optional<TransportError> error() const override;
  ConnectionStats stats() const override;

 private:
  enum class State { kHandshaking, kOpen, kClosing, kClosed };
  // A ready frame, or a stream (of messages or of frames) with what runs after its last frame.
  struct Outgoing {
    SharedFrame frame;
    StreamSource messages;
    FrameSource frames;
    std::function<void()> on_done;
  };
  using Clock = std::chrono::steady_clock;

  static std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);
  bool create_engine(bool server, std::shared_ptr<const std::set<std::string>> allowed,
                     HandshakeHandler& handler);
  void run_handshake(HandshakeHandler handler);
  void step_handshake();
  void handshake_failed(const std::string& reason);
  void handshake_done();
  void end_handshake(std::optional<TransportError> error);
  void set_read_deadline(Clock::time_point deadline);
  void wait_read_deadline();
  void on_read_deadline(const boost::system::error_code& ec);
  void read_next();
  void on_read(const boost::system::error_code& ec, size_t bytes);
  void receive();
  TlsEngine::Result decrypt_into_read_buffer(size_t& filled);
  std::optional<bool> deliver_read_buffer(size_t filled);
  void on_read_while_closing(const boost::system::error_code& ec, size_t bytes);
  void deliver(wire::Envelope& message);
  bool greeting_rules_broken_by(const wire::Envelope& message);
  Clock::time_point next_read_deadline(Clock::time_point now) const;
  void enqueue(Outgoing item);
  void write_next();
  bool take_next_frame();
  void on_write(const boost::system::error_code& ec);
  void on_write_deadline(const boost::system::error_code& ec);
  void schedule_heartbeat();
  void fail(TransportError error);
  void fail_with_goodbye(TransportError error);
  void finish_closing();
  void shut_down();
  TransportError closed_without_goodbye() const;
  TransportError network_error(const boost::system::error_code& ec, const char* what) const;
  std::optional<TransportError> remembered() const;
  void remember(const TransportError& error);

  Strand strand_;
  boost::asio::ip::tcp::socket socket_;
  ssl_ctx_st* tls_context_;  // owned by the caller's TlsContext, which outlives this
  std::unique_ptr<TlsEngine> engine_;
  HandshakeHandler handshake_handler_;
  boost::asio::steady_timer read_timer_;
  boost::asio::steady_timer write_timer_;
  boost::asio::steady_timer heartbeat_timer_;
  ConnectionOptions options_;
  FrameDecoder decoder_;
  std::vector<uint8_t> cipher_in_;    // one socket read of ciphertext
  std::vector<uint8_t> read_buffer_;  // plaintext decrypted from it, on its way to the decoder
  std::vector<uint8_t> cipher_out_;   // the ciphertext of the socket write in flight
  State state_ = State::kHandshaking;
  Clock::time_point read_deadline_;
  Clock::time_point frame_started_;
  bool in_frame_ = false;
  bool read_in_flight_ = false;
  bool lingering_ = false;
  bool peer_closed_ = false;  // the peer's close_notify or end of stream arrived while closing
  bool close_notify_sent_ = false;
  // Whether the peer's first message has been delivered (always, without require_greeting), and
  // until then the fixed deadline for the handshake and that message together.
  bool greeted_;
  Clock::time_point greeting_deadline_;

  std::deque<Outgoing> queue_;
  SharedFrame writing_;        // the frame being encrypted and sent, a slice at a time
  size_t writing_offset_ = 0;  // how much of it is encrypted
  bool write_in_flight_ = false;
  Clock::time_point last_write_;

  MessageHandler on_message_;
  CloseHandler on_close_;
  std::string identity_;
  std::string address_;
  std::string tls_version_;
  std::string tls_cipher_;
  std::vector<std::shared_ptr<void>> slots_;  // see hold_until_closed

  // Read by other threads (send, error, stats); written on the strand.
  mutable std::mutex shared_mutex_;
  std::optional<TransportError> error_;
  ConnectionStats stats_;
  size_t queued_bytes_ = 0;
};

}  // namespace fedgan::protocol
