#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::storage {

/// Raised for every failed database statement, refused schema, invalid record or failed checkpoint
/// file operation in the storage library. The message names the database or file, the statement
/// or operation and SQLite's or the operating system's explanation.
class StorageError : public std::runtime_error {
 public:
  /// `sqlite_code` is SQLite's extended result code (SQLITE_CONSTRAINT_UNIQUE, SQLITE_BUSY, ...)
  /// when the error came from SQLite, and 0 otherwise.
  explicit StorageError(const std::string& message, int sqlite_code = 0)
      : std::runtime_error(message), sqlite_code_(sqlite_code) {}

  int sqlite_code() const noexcept { return sqlite_code_; }

 private:
  int sqlite_code_;
};

/// Throws StorageError with a fmt-formatted message when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw StorageError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::storage
