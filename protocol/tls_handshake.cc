// The handshake half of TlsConnection (declared in tls_connection.h): connecting, running the TLS
// handshake over the socket a flight at a time, and checking the peer's identity. The other half,
// tls_connection.cc, carries frames once the connection is open.

#include "protocol/tls_connection.h"

#include "pki/identity.h"
#include "protocol/tls_context.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

namespace fedgan::protocol {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::string without_identity(const std::string& address) {
  return fmt::format(
      "peer {} presented a certificate without a single printable subject CN of at most {} bytes",
      address, pki::kMaxIdentityBytes);
}

}  // namespace

std::string TlsConnection::endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

void TlsConnection::accept_handshake(std::shared_ptr<const std::set<std::string>> allowed,
                                     HandshakeHandler handler) {
  greeting_deadline_ = Clock::now() + options_.handshake_timeout;
  set_read_deadline(greeting_deadline_);
  if (create_engine(true, std::move(allowed), handler)) run_handshake(std::move(handler));
}

bool TlsConnection::create_engine(bool server, std::shared_ptr<const std::set<std::string>> allowed,
                                  HandshakeHandler& handler) {
  try {
    engine_ = std::make_unique<TlsEngine>(tls_context_, server);
    if (server) engine_->admit_only(std::move(allowed));
    return true;
  } catch (const TransportError& error) {
    fail(error);
    handler(error);
    return false;
  }
}

void TlsConnection::connect_handshake(const tcp::resolver::results_type& endpoints,
                                      const std::string& server_name, HandshakeHandler handler) {
  greeting_deadline_ = Clock::now() + options_.handshake_timeout;
  set_read_deadline(greeting_deadline_);
  asio::async_connect(
      socket_, endpoints,
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
        if (!self->create_engine(false, nullptr, handler)) return;
        // OpenSSL checks the name during chain verification, so a mismatch fails the handshake
        // itself: an IP address against IP SANs, a name against DNS SANs (no partial wildcards).
        SSL* ssl = self->engine_->native();
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
        self->run_handshake(std::move(handler));
      });
}

void TlsConnection::run_handshake(HandshakeHandler handler) {
  // A frame's last TLS record is short, and so are whole messages (Ack, TransferEnd, Heartbeat);
  // with Nagle's algorithm such a record waits for the peer's ACK of the bytes before it, which
  // Linux delays by up to 40 ms. Frames are written whole, so there is nothing for Nagle to merge.
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  if (ec) {
    TransportError error(
        TransportErrorKind::kNetwork,
        fmt::format("cannot turn off Nagle's algorithm on the connection to {}: {}", address_,
                    ec.message()));
    fail(error);
    return handler(error);
  }
  handshake_handler_ = std::move(handler);
  step_handshake();
}

// One step: send what the engine has for the peer, or else read what it waits for. Every step
// first checks the state, since the handshake deadline may have closed the connection meanwhile.
void TlsConnection::step_handshake() {
  if (state_ != State::kHandshaking) return end_handshake(remembered());
  const auto result = engine_->handshake();
  if (engine_->has_output()) {
    // Also after a failure: the alert it holds tells the peer why.
    engine_->take_output(cipher_out_);
    return asio::async_write(
        socket_, asio::buffer(cipher_out_),
        [self = shared_from_this(), result](const boost::system::error_code& ec, size_t) {
          if (self->state_ != State::kHandshaking) {
            return self->end_handshake(self->remembered());
          }
          if (result == TlsEngine::Result::kError) {
            return self->handshake_failed(self->engine_->error());
          }
          if (ec) return self->handshake_failed(ec.message());
          self->step_handshake();
        });
  }
  if (result == TlsEngine::Result::kError) return handshake_failed(engine_->error());
  if (result == TlsEngine::Result::kDone) return handshake_done();
  socket_.async_read_some(
      asio::buffer(cipher_in_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t bytes) {
        if (self->state_ != State::kHandshaking) return self->end_handshake(self->remembered());
        if (ec == asio::error::eof) {
          return self->handshake_failed("the peer closed the connection");
        }
        if (ec) return self->handshake_failed(ec.message());
        self->engine_->feed(self->cipher_in_.data(), bytes);
        self->step_handshake();
      });
}

void TlsConnection::handshake_failed(const std::string& reason) {
  if (const auto& refused = engine_->refused_identity()) {
    // Refused by admit_only(): its own words, not OpenSSL's ("application verification failure").
    TransportError error =
        refused->empty()
            ? TransportError(TransportErrorKind::kTls, without_identity(address_))
            : TransportError(TransportErrorKind::kUnauthorized,
                             fmt::format("{}: identity '{}' is not admitted to this federation "
                                         "(refused in the TLS handshake)",
                                         address_, *refused),
                             wire::STATUS_UNAUTHENTICATED);
    fail(error);
    return end_handshake(error);
  }
  std::string text = reason;
  const long verify = SSL_get_verify_result(engine_->native());
  if (verify != X509_V_OK) text += fmt::format(" ({})", X509_verify_cert_error_string(verify));
  TransportError error(TransportErrorKind::kTls,
                       fmt::format("TLS handshake with {} failed: {}", address_, text));
  fail(error);
  end_handshake(error);
}

void TlsConnection::handshake_done() {
  SSL* ssl = engine_->native();
  identity_ = pki::certificate_identity(SSL_get0_peer_certificate(ssl));
  tls_version_ = SSL_get_version(ssl);
  tls_cipher_ = SSL_get_cipher_name(ssl);
  if (identity_.empty()) {
    TransportError error(TransportErrorKind::kTls, without_identity(address_));
    fail(error);
    return end_handshake(error);
  }
  state_ = State::kOpen;
  // Until start() the connection does not read; the owner starts it at once. Only a connection
  // that waits for its greeting keeps a deadline meanwhile: the handshake's, which the first
  // message shares.
  set_read_deadline(greeted_ ? Clock::time_point::max() : greeting_deadline_);
  last_write_ = Clock::now();
  end_handshake(std::nullopt);
}

void TlsConnection::end_handshake(std::optional<TransportError> error) {
  // The handler may hold the connection's owner: it is released once it has run.
  auto handler = std::move(handshake_handler_);
  handshake_handler_ = nullptr;
  if (handler) handler(std::move(error));
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
