#pragma once

// Certificates that fedgan-certs refuses to issue, made with OpenSSL directly for tests of the
// identity rule (pki/identity.h).

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace fedgan::pki::testing {

/// A self-signed PEM certificate whose subject holds these CNs, in order (none for an empty list).
inline std::string certificate_with_common_names(const std::vector<std::string>& common_names) {
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  const std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  // Without a CN the subject still needs a name, or OpenSSL has nothing to print.
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("fedgan tests"), -1, -1, 0);
  for (const std::string& cn : common_names) {
    X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.data()),
                               static_cast<int>(cn.size()), -1, 0);
  }
  const bool made = key != nullptr && X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
                    X509_set_issuer_name(cert.get(), subject) == 1 &&
                    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) != nullptr &&
                    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400) != nullptr &&
                    X509_set_pubkey(cert.get(), key.get()) == 1 &&
                    X509_sign(cert.get(), key.get(), EVP_sha256()) > 0;
  const std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  if (!made || PEM_write_bio_X509(out.get(), cert.get()) != 1) {
    throw std::runtime_error("cannot make a test certificate");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace fedgan::pki::testing
