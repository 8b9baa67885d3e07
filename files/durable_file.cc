#include "files/durable_file.h"

#include "files/error.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace fedgan::files {
namespace {

// How often a writer starts over because another writer of the same path replaced or removed the
// temporary file it opened; each start-over means another writer made progress.
constexpr int kMaxAttempts = 1000;

// A file descriptor closed on every path out of scope; close() reports the error of an explicit
// close, which matters after writes (NFS reports write errors there).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

[[noreturn]] void fail(std::string_view operation, const std::filesystem::path& path) {
  throw FileError(fmt::format("{} {}: {}", operation, path.string(), std::strerror(errno)));
}

void write_all(int fd, const char* data, size_t size, const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) fail("cannot write", path);
    data += written;
    size -= static_cast<size_t>(written);
  }
}

void fsync_directory(const std::filesystem::path& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open directory", directory);
  if (::fsync(fd.get()) != 0) fail("cannot fsync directory", directory);
}

void lock(int fd, const std::filesystem::path& path) {
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) fail("cannot lock", path);
  }
}

// Whether the open file `fd` is still the one named `path` (another writer may have renamed it
// over its target or removed it as stale while this one waited for the lock).
bool still_named(int fd, const std::filesystem::path& path) {
  struct stat opened {};
  struct stat named {};
  if (::fstat(fd, &opened) != 0) fail("cannot stat", path);
  return ::lstat(path.c_str(), &named) == 0 && named.st_dev == opened.st_dev &&
         named.st_ino == opened.st_ino;
}

// Creates `temporary` afresh and returns it locked; -1 when another file had the name (after
// removing it if no writer held it: a crash's leftover) or this one lost it, to be tried again.
int create_locked(const std::filesystem::path& temporary, unsigned mode) {
  const int flags = O_WRONLY | O_NOFOLLOW | O_CLOEXEC;
  FileDescriptor fd(::open(temporary.c_str(), flags | O_CREAT | O_EXCL, static_cast<mode_t>(mode)));
  if (fd.get() >= 0) {
    lock(fd.get(), temporary);
    // A writer that found the file before this one locked it may have taken it for a leftover.
    return still_named(fd.get(), temporary) ? fd.release() : -1;
  }
  if (errno != EEXIST) fail("cannot create", temporary);
  FileDescriptor existing(::open(temporary.c_str(), flags));
  if (existing.get() < 0) {
    if (errno == ENOENT) return -1;  // renamed or removed meanwhile
    // A symbolic link (O_NOFOLLOW): no writer of ours made it; remove the link, not its target.
    if (errno == ELOOP) {
      if (::unlink(temporary.c_str()) != 0 && errno != ENOENT) {
        fail("cannot remove the link", temporary);
      }
      return -1;
    }
    fail("cannot open", temporary);
  }
  // Waits while another writer uses it; a leftover is locked at once and removed, never reused (it
  // may have another mode, and its old bytes must not be readable under the new mode).
  lock(existing.get(), temporary);
  if (still_named(existing.get(), temporary) && ::unlink(temporary.c_str()) != 0) {
    fail("cannot remove the leftover", temporary);
  }
  return -1;
}

// Writes and syncs through a second descriptor, so the close that reports late write errors
// happens while `locked` keeps the lock (flock belongs to the open file, not to a descriptor).
void write_synced(int locked, const char* data, size_t size,
                  const std::filesystem::path& temporary) {
  FileDescriptor fd(::fcntl(locked, F_DUPFD_CLOEXEC, 0));
  if (fd.get() < 0) fail("cannot duplicate the descriptor of", temporary);
  write_all(fd.get(), data, size, temporary);
  if (::fsync(fd.get()) != 0) fail("cannot fsync", temporary);
  if (fd.close() != 0) fail("cannot close", temporary);
}

}  // namespace

std::filesystem::path temporary_path_for(const std::filesystem::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp");
}

void write_file_atomically(const std::filesystem::path& path, const void* data, size_t size,
                           unsigned mode) {
  check(path.has_filename(), "cannot write to {}: not a file name", path.string());
  const std::filesystem::path temporary = temporary_path_for(path);
  FileDescriptor fd(-1);
  for (int attempt = 0; fd.get() < 0; ++attempt) {
    check(attempt < kMaxAttempts, "cannot write {}: other writers keep replacing {}", path.string(),
          temporary.string());
    fd = FileDescriptor(create_locked(temporary, mode));
  }
  try {
    write_synced(fd.get(), static_cast<const char*>(data), size, temporary);
    // Renamed while locked, so no other writer can take the file for a leftover first.
    if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("cannot rename over", path);
  } catch (...) {
    if (still_named(fd.get(), temporary)) ::unlink(temporary.c_str());
    throw;
  }
  fd.close();  // releases the lock; the data was synced and closed through write_synced
  // The rename is durable only once the directory entry is on disk.
  const std::filesystem::path directory = path.parent_path();
  fsync_directory(directory.empty() ? std::filesystem::path(".") : directory);
}

void write_file_atomically(const std::filesystem::path& path, std::string_view text,
                           unsigned mode) {
  write_file_atomically(path, text.data(), text.size(), mode);
}

std::vector<char> read_file(const std::filesystem::path& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail("cannot open", path);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) fail("cannot stat", path);
  std::vector<char> data(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t got = ::read(fd.get(), data.data() + done, data.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail("cannot read", path);
    check(got > 0, "{} shrank while being read", path.string());
    done += static_cast<size_t>(got);
  }
  return data;
}

}  // namespace fedgan::files
