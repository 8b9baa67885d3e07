#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::pki {

/// Raised for every failure of this library: invalid input, a certificate or key that does not
/// parse or does not match, an OpenSSL failure (its error queue text is appended), a file that
/// cannot be read or written.
class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws PkiError with a fmt-formatted message when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw PkiError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::pki
