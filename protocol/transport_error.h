#pragma once

#include "protocol/error.h"

#include <stdexcept>
#include <string>

namespace fedgan::protocol {

/// Why a connection (or an attempt to make one) ended. The kind is for code that reacts (retry on
/// kTimeout or kNetwork, give up on kTls), the message for the operator.
enum class TransportErrorKind {
  kConfiguration,  // bad certificate/key/CA/CRL file, bad address: fix the configuration
  kNetwork,        // resolve, connect, read or write failed; the peer went away
  kTls,            // handshake refused: certificate not trusted, expired, revoked, wrong host, ...
  kUnauthorized,   // handshake fine, but the identity is not admitted (allowlist)
  kTimeout,        // handshake, idle, frame or write deadline passed
  kProtocol,       // the peer broke framing or sent something undecodable
  kOverloaded,     // connection limit reached or the peer does not read what we send
  kClosedByPeer,   // the peer said Goodbye (status() tells why)
  kClosedLocally,  // close() was called on this side
};

const char* to_string(TransportErrorKind kind);

/// A transport failure. Thrown by synchronous calls (context construction, send() on a broken
/// connection) and handed to close handlers for asynchronous ones.
class TransportError : public std::runtime_error {
 public:
  TransportError(TransportErrorKind kind, const std::string& message,
                 wire::StatusCode status = wire::STATUS_OK)
      : std::runtime_error(message), kind_(kind), status_(status) {}

  TransportErrorKind kind() const { return kind_; }
  /// The wire status involved: sent to the peer (kProtocol, kUnauthorized) or received from it
  /// (kClosedByPeer); STATUS_OK when none applies.
  wire::StatusCode status() const { return status_; }

 private:
  TransportErrorKind kind_;
  wire::StatusCode status_;
};

}  // namespace fedgan::protocol
