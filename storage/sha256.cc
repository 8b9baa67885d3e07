#include "storage/sha256.h"

#include "storage/error.h"

#include <openssl/evp.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

namespace fedgan::storage {
namespace {

struct DigestContextDeleter {
  void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};
using DigestContext = std::unique_ptr<EVP_MD_CTX, DigestContextDeleter>;

DigestContext start_sha256() {
  DigestContext context(EVP_MD_CTX_new());
  check(context && EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) == 1,
        "OpenSSL cannot start a SHA-256 digest");
  return context;
}

void feed(EVP_MD_CTX* context, const void* data, size_t size) {
  check(EVP_DigestUpdate(context, data, size) == 1, "OpenSSL SHA-256 update failed");
}

std::string finish_hex(EVP_MD_CTX* context) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  check(EVP_DigestFinal_ex(context, digest.data(), &length) == 1 && length == 32,
        "OpenSSL SHA-256 final failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
  DigestContext context = start_sha256();
  feed(context.get(), data, size);
  return finish_hex(context.get());
}

std::string sha256_file_hex(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  check(in.is_open(), "cannot open {} to hash it: {}", path.string(), std::strerror(errno));
  DigestContext context = start_sha256();
  std::array<char, 1 << 16> block{};
  while (in) {
    in.read(block.data(), block.size());
    feed(context.get(), block.data(), static_cast<size_t>(in.gcount()));
  }
  check(in.eof(), "error reading {} to hash it", path.string());
  return finish_hex(context.get());
}

}  // namespace fedgan::storage
