#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace fedgan::storage {

/// SHA-256 of `size` bytes at `data`, as 64 lowercase hex digits (what `sha256sum` prints).
std::string sha256_hex(const void* data, size_t size);

/// SHA-256 of the contents of the file at `path`, read in blocks. Throws StorageError when the
/// file cannot be read.
std::string sha256_file_hex(const std::filesystem::path& path);

}  // namespace fedgan::storage
