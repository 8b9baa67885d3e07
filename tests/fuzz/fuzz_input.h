#pragma once

// Reads choices out of a fuzzer's input bytes. Once the bytes run out every read returns zero, so
// any input is a complete script.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace fedgan::testing {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return offset_ >= size_; }
  uint8_t byte() { return empty() ? 0 : data_[offset_++]; }
  bool flag() { return (byte() & 1) != 0; }
  /// A value in [0, n), n >= 1.
  size_t pick(size_t n) { return byte() % n; }
  uint64_t u64() {
    uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value = (value << 8) | byte();
    return value;
  }
  double f64() {
    const uint64_t bits = u64();
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }
  /// Up to `max` bytes, as many as the next two bytes say.
  std::string bytes(size_t max) {
    const size_t wanted = ((size_t{byte()} << 8) | byte()) % (max + 1);
    const size_t count = std::min(wanted, size_ - std::min(offset_, size_));
    std::string out(reinterpret_cast<const char*>(data_ + offset_), count);
    offset_ += count;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t offset_ = 0;
};

}  // namespace fedgan::testing
