#include "gan/data/idx.h"

#include "gan/error.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

namespace fedgan::gan {
namespace {

// Payload is read in chunks of this size so that a header declaring a large (but allowed) size
// over a short file costs memory in proportion to the file, not to the claim.
constexpr size_t kReadChunk = size_t{1} << 22;

int element_size(IdxType type) {
  switch (type) {
    case IdxType::kUint8:
    case IdxType::kInt8:
      return 1;
    case IdxType::kInt16:
      return 2;
    case IdxType::kInt32:
    case IdxType::kFloat32:
      return 4;
    case IdxType::kFloat64:
      return 8;
  }
  return 0;
}

bool is_known_type(uint8_t code) {
  switch (static_cast<IdxType>(code)) {
    case IdxType::kUint8:
    case IdxType::kInt8:
    case IdxType::kInt16:
    case IdxType::kInt32:
    case IdxType::kFloat32:
    case IdxType::kFloat64:
      return true;
  }
  return false;
}

/// A source of bytes: either memory or a (possibly gzip-compressed) file. read() returns fewer
/// bytes than asked only at the end of the data; stream corruption throws.
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  virtual size_t read(uint8_t* dst, size_t n) = 0;
};

class MemoryReader : public ByteReader {
 public:
  explicit MemoryReader(const std::vector<uint8_t>& content) : content_(content) {}

  size_t read(uint8_t* dst, size_t n) override {
    size_t take = std::min(n, content_.size() - pos_);
    if (take > 0) std::memcpy(dst, content_.data() + pos_, take);
    pos_ += take;
    return take;
  }

 private:
  const std::vector<uint8_t>& content_;  // owned by the caller of parse_idx, outlives the reader
  size_t pos_ = 0;
};

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

class GzReader : public ByteReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    errno = 0;
    file_.reset(gzopen(path.c_str(), "rb"));
    check(file_ != nullptr, "{}: cannot open: {}", path,
          errno != 0 ? std::strerror(errno) : "out of memory");
  }

  size_t read(uint8_t* dst, size_t n) override {
    size_t total = 0;
    while (total < n) {
      unsigned int want = static_cast<unsigned int>(std::min<size_t>(n - total, INT_MAX / 2));
      int got = gzread(file_.get(), dst + total, want);
      if (got < 0) fail_stream();
      total += static_cast<size_t>(got);
      if (static_cast<unsigned int>(got) < want) {
        // A short read is either the clean end of the data or a gzip stream cut short.
        int errnum = Z_OK;
        gzerror(file_.get(), &errnum);
        if (errnum != Z_OK) fail_stream();
        break;
      }
    }
    return total;
  }

 private:
  [[noreturn]] void fail_stream() {
    int errnum = Z_OK;
    const char* message = gzerror(file_.get(), &errnum);
    throw GanError(fmt::format("{}: corrupt or truncated gzip stream: {} (zlib error {})", path_,
                               message != nullptr ? message : "unknown error", errnum));
  }

  std::string path_;
  std::unique_ptr<gzFile_s, GzCloser> file_;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string dims_string(const std::vector<int64_t>& dims) {
  return fmt::format("{}", fmt::join(dims, " x "));
}

/// Reads and validates the magic number and the dimensions; returns the payload size in bytes.
int64_t read_header(ByteReader& in, const std::string& name, const IdxLimits& limits,
                    IdxArray& out) {
  uint8_t magic[4];
  size_t got = in.read(magic, 4);
  check(got == 4, "{}: too short for an IDX file: {} bytes, the magic number alone is 4", name,
        got);
  check(magic[0] == 0 && magic[1] == 0,
        "{}: bad magic number 0x{:02x}{:02x}{:02x}{:02x}: an IDX file starts with two zero bytes "
        "(is this an IDX file?)",
        name, magic[0], magic[1], magic[2], magic[3]);
  check(is_known_type(magic[2]),
        "{}: unknown element type code 0x{:02x} in the magic number (expected 0x08, 0x09, 0x0b, "
        "0x0c, 0x0d or 0x0e)",
        name, magic[2]);
  out.type = static_cast<IdxType>(magic[2]);
  const int ndims = magic[3];
  check(ndims >= 1 && ndims <= limits.max_dims,
        "{}: header declares {} dimensions, expected 1 to {} (IdxLimits::max_dims)", name, ndims,
        limits.max_dims);

  std::vector<uint8_t> raw(static_cast<size_t>(ndims) * 4);
  got = in.read(raw.data(), raw.size());
  check(got == raw.size(), "{}: truncated header: {} dimensions need {} bytes, file has {}", name,
        ndims, raw.size(), got);
  out.dims.resize(ndims);
  for (int i = 0; i < ndims; ++i) out.dims[i] = big_endian_u32(raw.data() + 4 * i);

  // Multiply step by step against the limit so that no product can overflow.
  int64_t bytes = element_size(out.type);
  for (int i = 0; i < ndims; ++i) {
    const int64_t dim = out.dims[i];
    check(dim > 0, "{}: dimension {} is 0 (dimensions {}); an IDX array must not be empty", name, i,
          dims_string(out.dims));
    check(dim <= limits.max_bytes / bytes,
          "{}: header declares dimensions {} of {}-byte elements, over the limit of {} payload "
          "bytes (IdxLimits::max_bytes)",
          name, dims_string(out.dims), element_size(out.type), limits.max_bytes);
    bytes *= dim;
  }
  return bytes;
}

/// Reads exactly `size` payload bytes, growing the buffer as data arrives.
void read_payload(ByteReader& in, const std::string& name, int64_t size,
                  std::vector<uint8_t>& out) {
  const size_t want = static_cast<size_t>(size);
  out.clear();
  out.reserve(std::min(want, kReadChunk));
  while (out.size() < want) {
    const size_t before = out.size();
    const size_t chunk = std::min(want - before, kReadChunk);
    out.resize(before + chunk);
    const size_t got = in.read(out.data() + before, chunk);
    if (got < chunk) {
      out.resize(before + got);
      break;
    }
  }
  check(out.size() == want, "{}: truncated: header declares {} payload bytes, file has {}", name,
        want, out.size());
  uint8_t extra[1];
  check(in.read(extra, 1) == 0,
        "{}: trailing bytes after the {} payload bytes the header declares (wrong dimensions or "
        "a concatenated file?)",
        name, want);
}

/// IDX stores elements big-endian; rebuild each one as a host integer, which is correct on any
/// host byte order.
void to_host_order(std::vector<uint8_t>& bytes, int size) {
  if (size == 1) return;
  for (size_t at = 0; at + size <= bytes.size(); at += size) {
    uint8_t* p = bytes.data() + at;
    if (size == 2) {
      uint16_t v = static_cast<uint16_t>((p[0] << 8) | p[1]);
      std::memcpy(p, &v, 2);
    } else if (size == 4) {
      uint32_t v = big_endian_u32(p);
      std::memcpy(p, &v, 4);
    } else {
      uint64_t v = (uint64_t{big_endian_u32(p)} << 32) | big_endian_u32(p + 4);
      std::memcpy(p, &v, 8);
    }
  }
}

IdxArray read_all(ByteReader& in, const std::string& name, const IdxLimits& limits) {
  check(limits.max_dims >= 1 && limits.max_bytes >= 1,
        "{}: invalid IdxLimits (max_dims {}, max_bytes {}); both must be positive", name,
        limits.max_dims, limits.max_bytes);
  IdxArray array;
  const int64_t payload = read_header(in, name, limits, array);
  read_payload(in, name, payload, array.bytes);
  to_host_order(array.bytes, element_size(array.type));
  return array;
}

}  // namespace

int64_t IdxArray::num_elements() const {
  // A default-constructed array holds nothing; a parsed one always has at least one dimension.
  if (dims.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path, const IdxLimits& limits) {
  GzReader in(path);
  return read_all(in, path, limits);
}

IdxArray parse_idx(const std::vector<uint8_t>& content, const std::string& source_name,
                   const IdxLimits& limits) {
  MemoryReader in(content);
  return read_all(in, source_name, limits);
}

}  // namespace fedgan::gan
