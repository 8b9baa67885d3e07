#pragma once

#include "protocol/frame.h"
#include "protocol/transport_error.h"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace fedgan::protocol {

class TlsContext;

/// Limits that protect each side from a slow, silent or hostile peer. Defaults suit a federation
/// over the internet; tests shorten them.
struct ConnectionOptions {
  /// TCP connect (client side) plus the whole TLS handshake must finish within this.
  std::chrono::milliseconds handshake_timeout{10'000};
  /// A connection on which no byte arrives for this long is closed. Each side sends heartbeats
  /// (below) so an idle but healthy peer is never cut off.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Once the first byte of a frame has arrived, the whole frame must arrive within this; and a
  /// frame handed to the socket must be written within this (the peer must keep reading).
  std::chrono::milliseconds frame_timeout{30'000};
  /// A Heartbeat goes out when nothing else was written for this long; zero disables them.
  std::chrono::milliseconds heartbeat_interval{15'000};
  /// Largest frame body accepted from the peer (refused before allocation) and sent to it.
  uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  /// Encoded frames waiting to be written; a peer that does not read makes the queue grow, and
  /// passing this limit closes the connection (kOverloaded) instead of growing memory.
  size_t max_queued_bytes = size_t{64} << 20;
  /// Greeting rules, for the side that waits to be greeted (Server sets this on every connection it
  /// accepts; a client keeps false). Until the peer's first message other than Heartbeat and
  /// Goodbye has been delivered to the message handler:
  /// - the read deadline is fixed at handshake start + handshake_timeout: the TLS handshake and
  ///   the first message share it, and data arriving does not extend it (a frame already started
  ///   must still finish within frame_timeout); on expiry the peer gets
  ///   Goodbye{DEADLINE_EXCEEDED} and the close handler kTimeout;
  /// - a Heartbeat from the peer is a protocol violation (Goodbye{MALFORMED}, kProtocol): it would
  ///   otherwise keep a connection that never says Hello alive;
  /// - the frame limit is max_greeting_frame_bytes: a larger first frame is refused
  ///   (FRAME_TOO_LARGE) from its header, before its body is buffered.
  /// From the first message on, max_frame_bytes, idle_timeout and frame_timeout apply.
  bool require_greeting = false;
  /// The frame limit for the first message under require_greeting (a Hello takes under 100
  /// bytes); at most max_frame_bytes applies.
  uint32_t max_greeting_frame_bytes = 4096;
};

/// ConnectionOptions from durations in seconds, as configuration files give them; the other limits
/// keep their defaults. A duration beyond 10^9 seconds is clamped so it cannot overflow.
ConnectionOptions connection_options_from_seconds(double handshake, double idle, double frame,
                                                  double heartbeat);

/// Byte and frame counters of one connection (heartbeats included).
struct ConnectionStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  /// Largest amount of encoded frames held for writing at once (queue plus the frame in flight).
  size_t peak_queued_bytes = 0;
};

/// One established mutual-TLS connection carrying framed wire::Envelope messages.
///
/// Every operation runs on the connection's own strand; handlers are called there, one at a time,
/// so they need no locking against each other but must not block for long. At most one write is
/// in flight; later messages wait in a bounded queue. The first error (timeout, TLS alert, broken
/// framing, peer Goodbye, local close) is remembered: the close handler is called once with it,
/// and send() throws it from then on. Heartbeats are sent and consumed here; a Goodbye from the
/// peer ends the connection with kClosedByPeer. Held by shared_ptr: the pending operations keep it
/// alive until the connection is closed.
class Connection {
 public:
  /// Called for each received message other than Heartbeat and Goodbye. A ProtocolError thrown by
  /// the handler closes the connection with a Goodbye carrying its code; other exceptions close it
  /// with STATUS_INTERNAL (their text stays local).
  using MessageHandler = std::function<void(wire::Envelope& message)>;
  using CloseHandler = std::function<void(const TransportError& reason)>;
  /// Produces the next message of a stream into `next`; returns false when the stream is done.
  /// Called on the strand only when the previous frame of the stream has been written, so a
  /// stream of any length holds one frame in memory. An exception ends the connection.
  using StreamSource = std::function<bool(wire::Envelope& next)>;
  /// One frame (encode_frame: header and body), encoded once and shared, e.g. a chunk of the model
  /// that every client of a round downloads.
  using SharedFrame = std::shared_ptr<const std::vector<uint8_t>>;
  /// Produces the next frame of a stream, or null when the stream is done. Called like a
  /// StreamSource.
  using FrameSource = std::function<SharedFrame()>;

  virtual ~Connection() = default;

  /// Starts reading, heartbeats and the idle deadline. Call once.
  virtual void start(MessageHandler on_message, CloseHandler on_close) = 0;

  /// Queues one message. Thread-safe. Throws the remembered TransportError once the connection
  /// has failed or been closed, and ProtocolError(FRAME_TOO_LARGE) for a message over the frame
  /// limit.
  virtual void send(const wire::Envelope& message) = 0;

  /// Queues a stream of messages (the chunks of a model) behind the messages queued before it;
  /// messages queued later go out after its last one. `on_done` runs on the strand after the
  /// stream's last frame was written. Thread-safe; throws like send().
  virtual void send_stream(StreamSource source, std::function<void()> on_done) = 0;

  /// send_stream for frames already encoded: they are written as they are, without a copy. A frame
  /// whose body exceeds this connection's frame limit ends the connection (ProtocolError
  /// FRAME_TOO_LARGE), as a message that does not decode does.
  virtual void send_frames(FrameSource source, std::function<void()> on_done) = 0;

  /// Sends what is queued, then Goodbye{code, message}, shuts TLS down and closes. Thread-safe;
  /// a no-op once the connection has failed or is closing.
  virtual void close(wire::StatusCode code, const std::string& message) = 0;

  /// Runs `task` on the connection's strand, after the handler that is running there (if any), so
  /// another thread can act on state that only the connection's handlers touch. Thread-safe.
  /// Tasks posted after the connection has closed still run (they must check what they act on).
  virtual void post(std::function<void()> task) = 0;

  /// The peer certificate's subject CN: a client's federation identity on the coordinator side.
  virtual const std::string& peer_identity() const = 0;
  /// "address:port" of the peer.
  virtual const std::string& remote_address() const = 0;
  /// Negotiated protocol ("TLSv1.3").
  virtual const std::string& tls_version() const = 0;
  /// Negotiated cipher suite ("TLS_AES_128_GCM_SHA256").
  virtual const std::string& tls_cipher() const = 0;
  /// The remembered error, if the connection has ended. Thread-safe.
  virtual std::optional<TransportError> error() const = 0;
  /// Counters; thread-safe.
  virtual ConnectionStats stats() const = 0;
};

/// Where a client connects to, and the name its certificate must carry.
struct ConnectTarget {
  std::string host;  // name or IP address
  uint16_t port = 0;
  /// Checked against the server certificate's DNS or IP subjectAltName; defaults to `host`.
  std::string server_name;
};

using ConnectHandler =
    std::function<void(std::shared_ptr<Connection> connection, std::optional<TransportError>)>;

/// Resolves, connects and runs the TLS handshake as a client, verifying the server's chain against
/// the context's CA and its subjectAltName against `target.server_name` (an IP address is matched
/// against IP SANs, a name against DNS SANs). Calls `handler` once, on the new connection's
/// strand, with the connection (not yet started) or the error (kNetwork, kTls, kTimeout).
/// `tls` must outlive the connection (its owner is the caller).
void async_connect(boost::asio::io_context& io, const TlsContext& tls, const ConnectTarget& target,
                   const ConnectionOptions& options, ConnectHandler handler);

}  // namespace fedgan::protocol
