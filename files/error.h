#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace fedgan::files {

/// Raised for every failed file operation of this library. The message names the file, the
/// operation and the operating system's reason. Libraries above raise it again as their own error
/// type where their callers expect one (storage::StorageError, pki::PkiError, ...).
class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Throws FileError with a fmt-formatted message when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw FileError(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace fedgan::files
