#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::gan {

/// Element type codes of the IDX format (the MNIST file format).
enum class IdxType : uint8_t {
  kUint8 = 0x08,
  kInt8 = 0x09,
  kInt16 = 0x0B,
  kInt32 = 0x0C,
  kFloat32 = 0x0D,
  kFloat64 = 0x0E,
};

/// A decoded IDX array: its dimensions and its payload converted to host byte order.
struct IdxArray {
  IdxType type = IdxType::kUint8;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // dims' product times the element size, host byte order

  int64_t num_elements() const;
};

/// Limits that bound what a (possibly hostile) IDX file can make the reader allocate.
struct IdxLimits {
  int max_dims = 4;
  int64_t max_bytes = int64_t{1} << 31;  // payload bytes
};

/// Reads an IDX file, plain or gzip-compressed (detected from the content, not the name).
/// Validates the magic number, the element type, the dimension count and sizes, and that the
/// payload is exactly as long as the header says: a truncated file, trailing bytes or a corrupt
/// gzip stream all throw GanError naming the file and the problem. Thread-safe.
IdxArray read_idx(const std::string& path, const IdxLimits& limits = {});

/// Same as read_idx, from bytes already in memory (after gzip decompression, if any).
IdxArray parse_idx(const std::vector<uint8_t>& content, const std::string& source_name,
                   const IdxLimits& limits = {});

}  // namespace fedgan::gan
