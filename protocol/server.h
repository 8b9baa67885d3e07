#pragma once

#include "protocol/connection.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace fedgan::protocol {

class TlsConnection;

struct ServerOptions {
  /// Address to listen on ("0.0.0.0" or "::" for every interface).
  std::string bind_address = "127.0.0.1";
  /// 0 picks a free port (see Server::port()).
  uint16_t port = 0;
  /// Connections in handshake or open at once; one more is closed right after accept, before any
  /// TLS work is spent on it.
  size_t max_connections = 256;
  /// When not empty, only these identities (certificate CNs, see pki/identity.h) are
  /// admitted. Any other client is refused inside the TLS handshake: it gets a handshake_failure
  /// alert and no application data, and the RefuseHandler a kUnauthorized error naming it.
  std::vector<std::string> allowed_identities;
  /// Connections one identity may hold open at once (from its handshake until the connection has
  /// closed); 0 = no limit. One more is refused after its handshake with Goodbye{BUSY} (the
  /// RefuseHandler gets kOverloaded), so one certificate cannot take every connection slot. Two
  /// leave room for a site that reconnects while its previous connection is still closing.
  size_t max_connections_per_identity = 2;
  /// Limits of each accepted connection. The server sets require_greeting on every one.
  ConnectionOptions connection;
};

/// Accepts mutual-TLS connections: each accepted socket gets its own strand and runs the handshake
/// under the handshake deadline; a peer whose certificate does not chain to the federation CA
/// (or is expired, revoked, not a client certificate, or names an identity not admitted) never
/// reaches the layer above. Accepted connections must greet within the handshake deadline
/// (ConnectionOptions::require_greeting).
class Server : public std::enable_shared_from_this<Server> {
 public:
  /// An authenticated, admitted connection, not yet started: the receiver calls start().
  using AcceptHandler = std::function<void(std::shared_ptr<Connection> connection)>;
  /// A connection refused before it reached the layer above (TLS failure, timeout, allowlist,
  /// connection limits), for logging: kTls, kTimeout, kNetwork, kUnauthorized (allowlist; the
  /// message names the identity) or kOverloaded (a connection limit).
  using RefuseHandler =
      std::function<void(const std::string& remote_address, const TransportError& reason)>;

  /// `tls` must be a server context and outlive the server and its connections (owner: caller).
  /// Handlers are called on the connection's strand, possibly on several threads at once.
  static std::shared_ptr<Server> create(boost::asio::io_context& io, const TlsContext& tls,
                                        ServerOptions options, AcceptHandler on_accept,
                                        RefuseHandler on_refuse);

  /// Binds and listens synchronously (TransportError(kConfiguration) if the address cannot be
  /// bound), then accepts until stop().
  void start();
  /// Stops accepting; open connections are not affected. Thread-safe.
  void stop();
  /// The port bound by start().
  uint16_t port() const { return port_; }
  /// Connections in handshake or open.
  size_t active_connections() const { return active_->load(); }
  /// Open connections (admitted, not yet closed) of one identity. Thread-safe.
  size_t open_connections_of(const std::string& identity) const;

 private:
  Server(boost::asio::io_context& io, const TlsContext& tls, ServerOptions options,
         AcceptHandler on_accept, RefuseHandler on_refuse);
  void accept_next();
  void admit(boost::asio::strand<boost::asio::io_context::executor_type> strand,
             boost::asio::ip::tcp::socket socket);
  void handshake_done(const std::shared_ptr<TlsConnection>& connection,
                      const std::optional<TransportError>& error);
  std::optional<std::shared_ptr<void>> claim_identity_slot(const std::string& identity,
                                                           size_t& open);

  // Open connections per identity; shared with the tokens that release a count when their
  // connection closes, which may be after the server is gone.
  struct IdentityCounts {
    mutable std::mutex mutex;
    std::map<std::string, size_t> open;
  };

  boost::asio::io_context& io_;  // owned by the caller, outlives the server
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::ip::tcp::acceptor acceptor_;
  const TlsContext& tls_;  // owned by the caller, outlives the server
  ServerOptions options_;
  std::shared_ptr<const std::set<std::string>> allowed_;
  AcceptHandler on_accept_;
  RefuseHandler on_refuse_;
  std::shared_ptr<std::atomic<size_t>> active_;
  std::shared_ptr<IdentityCounts> per_identity_;
  uint16_t port_ = 0;
};

}  // namespace fedgan::protocol
