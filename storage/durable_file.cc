#include "storage/durable_file.h"

#include "storage/error.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace fedgan::storage {
namespace {

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
  int get() const { return fd_; }
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

[[noreturn]] void fail(std::string_view operation, const std::filesystem::path& path) {
  throw StorageError(fmt::format("{} {}: {}", operation, path.string(), std::strerror(errno)));
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

// Writes and syncs the temporary file; the caller removes it if this throws.
void write_temporary(const std::filesystem::path& temporary, const char* data, size_t size,
                     unsigned mode) {
  FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                           static_cast<mode_t>(mode)));
  if (fd.get() < 0) fail("cannot create", temporary);
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
  try {
    write_temporary(temporary, static_cast<const char*>(data), size, mode);
    if (std::rename(temporary.c_str(), path.c_str()) != 0) fail("cannot rename over", path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
  // The rename is durable only once the directory entry is on disk.
  const std::filesystem::path directory = path.parent_path();
  fsync_directory(directory.empty() ? std::filesystem::path(".") : directory);
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

}  // namespace fedgan::storage
