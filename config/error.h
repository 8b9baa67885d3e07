#pragma once

#include <stdexcept>

namespace fedgan::config {

/// Raised for a configuration file that cannot be read or does not fit the fields; the message
/// names the file, the line and the key. The coordinator and the client raise it again as their
/// own error type.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fedgan::config
