#include "protocol/certificate_identity.h"

#include "protocol/wire_text.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace fedgan::protocol {

std::string certificate_identity(const X509* certificate) {
  if (certificate == nullptr) return {};
  const X509_NAME* subject = X509_get_subject_name(certificate);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  std::string name;
  if (length > 0) name.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (name.empty()) return {};
  // printable() escapes NUL and every other control character, so a name that "site-1\0.evil"
  // could be confused with is refused here too.
  if (name.size() > kMaxIdentityBytes || printable(name, kMaxIdentityBytes) != name) return {};
  return name;
}

std::string peer_certificate_identity(const SSL* ssl) {
  return certificate_identity(SSL_get0_peer_certificate(ssl));
}

}  // namespace fedgan::protocol
