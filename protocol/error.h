#pragma once

#include "protocol/fedgan.pb.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::protocol {

namespace wire = ::fedgan::wire::v1;

/// Raised for every protocol violation: the code is what the peer is told (a fixed enum), the
/// message what the local operator reads. Thrown by the pure decoding layer; the transport turns
/// it into a Reject/Goodbye for the peer and closes the connection.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(wire::StatusCode code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  wire::StatusCode code() const { return code_; }

 private:
  wire::StatusCode code_;
};

/// Throws ProtocolError(code, message) when `condition` is false.
template <typename... Args>
void check(bool condition, wire::StatusCode code, fmt::format_string<Args...> format,
           Args&&... args) {
  if (!condition) throw ProtocolError(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::protocol
