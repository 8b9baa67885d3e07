#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

// OpenSSL's digest context, forward-declared so this header does not pull in OpenSSL.
struct evp_md_ctx_st;

namespace fedgan::protocol {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

/// Incremental SHA-256 (OpenSSL's EVP interface underneath). Feed bytes with update() in pieces
/// of any size; finish() returns the digest and starts a new, empty message. Every OpenSSL failure
/// throws ProtocolError(STATUS_INTERNAL). Movable, not copyable; a moved-from object may only be
/// destroyed or assigned to. Not thread-safe.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;

  /// Adds `size` bytes at `data` to the message.
  void update(const void* data, size_t size);

  /// Digest of everything added since construction or the previous finish(); resets the state.
  Sha256Digest finish();

  /// SHA-256 of one buffer.
  static Sha256Digest digest(const void* data, size_t size);

 private:
  struct ContextDeleter {
    void operator()(evp_md_ctx_st* context) const;
  };
  std::unique_ptr<evp_md_ctx_st, ContextDeleter> context_;
};

/// Lower-case hexadecimal text of `size` bytes, e.g. for logging a digest.
std::string to_hex(const uint8_t* bytes, size_t size);

inline std::string to_hex(const Sha256Digest& digest) {
  return to_hex(digest.data(), digest.size());
}

}  // namespace fedgan::protocol
