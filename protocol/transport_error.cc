#include "protocol/transport_error.h"

namespace fedgan::protocol {

const char* to_string(TransportErrorKind kind) {
  switch (kind) {
    case TransportErrorKind::kConfiguration:
      return "configuration";
    case TransportErrorKind::kNetwork:
      return "network";
    case TransportErrorKind::kTls:
      return "tls";
    case TransportErrorKind::kUnauthorized:
      return "unauthorized";
    case TransportErrorKind::kTimeout:
      return "timeout";
    case TransportErrorKind::kProtocol:
      return "protocol";
    case TransportErrorKind::kOverloaded:
      return "overloaded";
    case TransportErrorKind::kClosedByPeer:
      return "closed by peer";
    case TransportErrorKind::kClosedLocally:
      return "closed locally";
  }
  return "unknown";
}

}  // namespace fedgan::protocol
