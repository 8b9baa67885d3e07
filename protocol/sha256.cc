#include "protocol/sha256.h"

#include "protocol/error.h"

#include <openssl/evp.h>

namespace fedgan::protocol {
namespace {

void start(EVP_MD_CTX* context) {
  check(EVP_DigestInit_ex(context, EVP_sha256(), nullptr) == 1, wire::STATUS_INTERNAL,
        "SHA-256: EVP_DigestInit_ex failed");
}

}  // namespace

void Sha256::ContextDeleter::operator()(evp_md_ctx_st* context) const {
  EVP_MD_CTX_free(context);
}

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  check(context_ != nullptr, wire::STATUS_INTERNAL, "SHA-256: EVP_MD_CTX_new failed");
  start(context_.get());
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&& other) noexcept = default;
Sha256& Sha256::operator=(Sha256&& other) noexcept = default;

void Sha256::update(const void* data, size_t size) {
  check(context_ != nullptr, wire::STATUS_INTERNAL, "SHA-256: use of a moved-from hash");
  if (size == 0) return;
  check(EVP_DigestUpdate(context_.get(), data, size) == 1, wire::STATUS_INTERNAL,
        "SHA-256: EVP_DigestUpdate failed");
}

Sha256Digest Sha256::finish() {
  check(context_ != nullptr, wire::STATUS_INTERNAL, "SHA-256: use of a moved-from hash");
  Sha256Digest digest{};
  unsigned int size = 0;
  check(EVP_DigestFinal_ex(context_.get(), digest.data(), &size) == 1 && size == digest.size(),
        wire::STATUS_INTERNAL, "SHA-256: EVP_DigestFinal_ex failed");
  start(context_.get());
  return digest;
}

Sha256Digest Sha256::digest(const void* data, size_t size) {
  Sha256 hash;
  hash.update(data, size);
  return hash.finish();
}

std::string to_hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    text[2 * i] = kDigits[bytes[i] >> 4];
    text[2 * i + 1] = kDigits[bytes[i] & 0xF];
  }
  return text;
}

}  // namespace fedgan::protocol
