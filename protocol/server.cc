#include "protocol/server.h"

#include "protocol/tls_connection.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>

#include <fmt/format.h>

namespace fedgan::protocol {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::shared_ptr<Server> Server::create(asio::io_context& io, const TlsContext& tls,
                                       ServerOptions options, AcceptHandler on_accept,
                                       RefuseHandler on_refuse) {
  return std::shared_ptr<Server>(
      new Server(io, tls, std::move(options), std::move(on_accept), std::move(on_refuse)));
}

Server::Server(asio::io_context& io, const TlsContext& tls, ServerOptions options,
               AcceptHandler on_accept, RefuseHandler on_refuse)
    : io_(io),
      strand_(asio::make_strand(io)),
      acceptor_(strand_),
      tls_(tls),
      options_(std::move(options)),
      allowed_(std::make_shared<const std::set<std::string>>(options_.allowed_identities.begin(),
                                                             options_.allowed_identities.end())),
      on_accept_(std::move(on_accept)),
      on_refuse_(std::move(on_refuse)),
      active_(std::make_shared<std::atomic<size_t>>(0)),
      per_identity_(std::make_shared<IdentityCounts>()) {
  options_.connection.require_greeting = true;
}

void Server::start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.bind_address, ec);
  if (ec) {
    throw TransportError(
        TransportErrorKind::kConfiguration,
        fmt::format("'{}' is not an IP address to listen on", options_.bind_address));
  }
  const tcp::endpoint endpoint(address, options_.port);
  auto& acceptor = acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw TransportError(TransportErrorKind::kConfiguration,
                         fmt::format("cannot listen on {}:{}: {}", options_.bind_address,
                                     options_.port, ec.message()));
  }
  port_ = acceptor.local_endpoint().port();
  asio::post(strand_, [self = shared_from_this()] { self->accept_next(); });
}

void Server::stop() {
  asio::post(strand_, [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

void Server::accept_next() {
  auto strand = asio::make_strand(io_);
  acceptor_.async_accept(strand,
                         [self = shared_from_this(), strand](const boost::system::error_code& ec,
                                                             tcp::socket socket) mutable {
                           if (ec == asio::error::operation_aborted || !self->acceptor_.is_open())
                             return;
                           if (!ec) self->admit(strand, std::move(socket));
                           // Errors of one accept (a peer that reset at once, descriptors
                           // exhausted) do not stop the server; the next accept is tried.
                           self->accept_next();
                         });
}

void Server::admit(asio::strand<asio::io_context::executor_type> strand, tcp::socket socket) {
  boost::system::error_code ignored;
  const auto peer = socket.remote_endpoint(ignored);
  const std::string address = fmt::format("{}:{}", peer.address().to_string(), peer.port());
  if (active_->load() >= options_.max_connections) {
    socket.close(ignored);
    if (on_refuse_) {
      on_refuse_(address,
                 TransportError(TransportErrorKind::kOverloaded,
                                fmt::format("{} refused: {} connections are open, the "
                                            "limit is {}",
                                            address, active_->load(), options_.max_connections)));
    }
    return;
  }
  ++*active_;
  // Released when the connection closes (or is destroyed), whichever comes first.
  std::shared_ptr<void> slot(nullptr, [active = active_](void*) { --*active; });
  auto connection =
      std::make_shared<TlsConnection>(strand, std::move(socket), tls_, options_.connection);
  connection->hold_until_closed(std::move(slot));
  connection->accept_handshake(
      allowed_, [self = shared_from_this(), connection](std::optional<TransportError> error) {
        self->handshake_done(connection, error);
      });
}

// The allowlist was applied inside the handshake (TlsEngine::admit_only); what is left is the
// per-identity limit, which needs the identity and so an authenticated peer.
void Server::handshake_done(const std::shared_ptr<TlsConnection>& connection,
                            const std::optional<TransportError>& error) {
  if (error) {
    if (on_refuse_) on_refuse_(connection->remote_address(), *error);
    return;
  }
  const auto& identity = connection->peer_identity();
  size_t open = 0;
  auto slot = claim_identity_slot(identity, open);
  if (!slot) {
    const std::string message = fmt::format(
        "identity '{}' already has {} open connections, the limit is {}; close one first", identity,
        open, options_.max_connections_per_identity);
    connection->close(wire::STATUS_BUSY, message);
    if (on_refuse_) {
      on_refuse_(connection->remote_address(),
                 TransportError(TransportErrorKind::kOverloaded, message, wire::STATUS_BUSY));
    }
    return;
  }
  connection->hold_until_closed(std::move(*slot));
  if (on_accept_) on_accept_(connection);
}

// A token that counts one open connection of `identity` until it is released (it holds no
// pointer, only its deleter), or nothing, with the count in `open`, when the identity is at its
// limit.
std::optional<std::shared_ptr<void>> Server::claim_identity_slot(const std::string& identity,
                                                                 size_t& open) {
  const size_t limit = options_.max_connections_per_identity;
  std::lock_guard lock(per_identity_->mutex);
  open = per_identity_->open[identity];
  if (limit != 0 && open >= limit) return std::nullopt;
  ++per_identity_->open[identity];
  return std::shared_ptr<void>(nullptr, [counts = per_identity_, identity](void*) {
    std::lock_guard lock(counts->mutex);
    if (--counts->open[identity] == 0) counts->open.erase(identity);
  });
}

size_t Server::open_connections_of(const std::string& identity) const {
  std::lock_guard lock(per_identity_->mutex);
  const auto found = per_identity_->open.find(identity);
  return found == per_identity_->open.end() ? 0 : found->second;
}

}  // namespace fedgan::protocol
