#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>
#include <vector>

/// The one way fedgan replaces a file durably: checkpoints, a site's local state, certificates and
/// keys, the evaluation classifier's cache, sample images and run summaries all go through
/// write_file_atomically.
namespace fedgan::files {

/// Name of the temporary file write_file_atomically uses for `path`: `.<name>.tmp` in the same
/// directory (hidden, and on the same file system, so the rename is atomic).
std::filesystem::path temporary_path_for(const std::filesystem::path& path);

/// Replaces `path` with `size` bytes at `data` so that, whenever the process or the machine stops,
/// `path` holds either its old contents or all of the new ones: write a temporary file, fsync it,
/// rename it over `path`, fsync the directory.
///
/// The temporary file is always created afresh (O_EXCL, never through a symbolic link) with
/// `mode` less the umask, so a private key's bytes are never readable by others, not even while
/// being written; a temporary left by an interrupted call is removed and replaced. Writers of the
/// same `path` in several threads or processes take turns (an flock on the temporary file), so
/// the file always holds one writer's whole contents. Throws FileError (naming the file, with the
/// operating system's reason) and removes its temporary file on failure. Thread-safe.
void write_file_atomically(const std::filesystem::path& path, const void* data, size_t size,
                           unsigned mode = 0644);

/// write_file_atomically for text.
void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           unsigned mode = 0644);

/// The whole contents of the file at `path`. Throws FileError when it cannot be read.
std::vector<char> read_file(const std::filesystem::path& path);

}  // namespace fedgan::files
