#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace fedgan::client {

/// Raised for configuration mistakes, unreadable or malformed data, a local state file that does
/// not fit the model, and a task this client refuses; the message says what is wrong and, where
/// it can, what to change.
class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws ClientError with a fmt-formatted message when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw ClientError(fmt::format(format, std::forward<Args>(args)...));
}

/// `text` as it may be quoted in a message: at most `max_bytes` of it, control and non-ASCII bytes
/// replaced by '?', so that a hostile file or peer cannot write escape sequences or NULs into logs.
inline std::string printable(std::string_view text, size_t max_bytes = 64) {
  std::string result(text.substr(0, max_bytes));
  for (char& c : result) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return result;
}

}  // namespace fedgan::client
