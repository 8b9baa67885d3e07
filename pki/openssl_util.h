#pragma once

// Internal to the pki library (it includes OpenSSL headers, which public headers never do): RAII
// handles for OpenSSL objects, parsing and encoding PEM, times, names and serial numbers.

#include "pki/credentials.h"
#include "pki/error.h"
#include "pki/openssl_errors.h"

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace fedgan::pki::detail {

inline constexpr int64_t kSecondsPerDay = 86400;
inline constexpr int kMaxValidityDays = 36500;

template <auto FreeFunction>
struct Free {
  template <typename T>
  void operator()(T* handle) const {
    FreeFunction(handle);
  }
};
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, Free<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Free<ASN1_TIME_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, Free<ASN1_STRING_free>>;
using BigNumPtr = std::unique_ptr<BIGNUM, Free<BN_free>>;
using BioPtr = std::unique_ptr<BIO, Free<BIO_free>>;
using CrlPtr = std::unique_ptr<X509_CRL, Free<X509_CRL_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Free<X509_EXTENSION_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Free<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Free<GENERAL_NAMES_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Free<X509_NAME_free>>;
using RevokedPtr = std::unique_ptr<X509_REVOKED, Free<X509_REVOKED_free>>;
using X509Ptr = std::unique_ptr<X509, Free<X509_free>>;
struct OpenSslFree {
  void operator()(void* p) const { OPENSSL_free(p); }
};
using OpenSslString = std::unique_ptr<char, OpenSslFree>;

/// The OpenSSL error queue as text, never empty.
std::string openssl_errors();

template <typename... Args>
void check_ssl(bool ok, fmt::format_string<Args...> format, Args&&... args) {
  if (!ok) {
    throw PkiError(fmt::format(format, std::forward<Args>(args)...) +
                   " (OpenSSL: " + openssl_errors() + ")");
  }
}

// failure here never shows up later in an unrelated SSL_get_error() of the same thread.
struct ErrorQueueScope {
  ErrorQueueScope() { ERR_clear_error(); }
  ~ErrorQueueScope() { ERR_clear_error(); }
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

// Never prompts: a library must not block on a terminal for an encrypted key's passphrase.
int no_passphrase(char*, int, int, void*);

BioPtr memory_bio(const std::string& text);

// Runs `write(bio)` into a memory BIO and returns what it wrote.
template <typename Write>
std::string to_pem(Write write, const char* what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check_ssl(bio != nullptr && write(bio.get()) == 1, "cannot encode the {} as PEM", what);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
}

X509Ptr parse_certificate(const std::string& pem);
KeyPtr parse_private_key(const std::string& pem);
CrlPtr parse_crl(const std::string& pem);

std::string format_utc(int64_t unix_seconds);
int64_t to_unix(const ASN1_TIME* time);
Asn1TimePtr make_time(int64_t unix_seconds);

// RFC 2253 form, with non-ASCII characters left as UTF-8 instead of escaped to \XX bytes.
std::string name_text(const X509_NAME* name);
std::string serial_hex(const ASN1_INTEGER* serial);

// Every CN of `name`, as UTF-8. A CN with an embedded NUL is refused: it could make
// "site-1\0.evil" compare equal to "site-1" in C string code.
std::vector<std::string> common_names(const X509_NAME* name);

// A CA certificate and its key, parsed.
struct LoadedCa {
  X509Ptr cert;
  KeyPtr key;
};

// The CA of `ca`, checked to be a CA whose key matches its certificate.
LoadedCa load_ca(const Credentials& ca);

}  // namespace fedgan::pki::detail
