#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

namespace fedgan::storage {

/// Name of the temporary file write_file_atomically uses for `path`: `.<name>.tmp` in the same
/// directory (hidden, and on the same file system, so the rename is atomic).
std::filesystem::path temporary_path_for(const std::filesystem::path& path);

/// Replaces `path` with `size` bytes at `data` so that, whenever the process or the machine stops,
/// `path` holds either its old contents or all of the new ones: write a temporary file, fsync it,
/// rename it over `path`, fsync the directory. A temporary file left by an interrupted call is
/// overwritten by the next call. A new file gets `mode` (less the umask). Throws StorageError
/// (with the operating system's reason) and removes the temporary file on failure.
void write_file_atomically(const std::filesystem::path& path, const void* data, size_t size,
                           unsigned mode = 0644);

/// The whole contents of the file at `path`. Throws StorageError when it cannot be read.
std::vector<char> read_file(const std::filesystem::path& path);

}  // namespace fedgan::storage
