#include "pki/openssl_util.h"

#include <climits>
#include <ctime>

namespace fedgan::pki::detail {

std::string openssl_errors() {
  const std::string text = drain_openssl_errors();
  return text.empty() ? "no detail in the OpenSSL error queue" : text;
}

int no_passphrase(char*, int, int, void*) {
  return -1;
}

BioPtr memory_bio(const std::string& text) {
  check(text.size() <= static_cast<size_t>(INT_MAX), "PEM text of {} bytes is too large",
        text.size());
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  check_ssl(bio != nullptr, "cannot allocate a memory BIO");
  return bio;
}

X509Ptr parse_certificate(const std::string& pem) {
  X509Ptr cert(PEM_read_bio_X509(memory_bio(pem).get(), nullptr, no_passphrase, nullptr));
  check_ssl(cert != nullptr, "not a PEM certificate (expected \"-----BEGIN CERTIFICATE-----\")");
  return cert;
}

KeyPtr parse_private_key(const std::string& pem) {
  check(pem.find("ENCRYPTED") == std::string::npos,
        "the private key is encrypted; fedgan needs an unencrypted key protected by file mode "
        "0600 (decrypt it with `openssl pkey -in KEY -out KEY.plain`)");
  KeyPtr key(PEM_read_bio_PrivateKey(memory_bio(pem).get(), nullptr, no_passphrase, nullptr));
  check_ssl(key != nullptr, "not a PEM private key (expected \"-----BEGIN PRIVATE KEY-----\")");
  return key;
}

CrlPtr parse_crl(const std::string& pem) {
  CrlPtr crl(PEM_read_bio_X509_CRL(memory_bio(pem).get(), nullptr, no_passphrase, nullptr));
  check_ssl(crl != nullptr, "not a PEM CRL (expected \"-----BEGIN X509 CRL-----\")");
  return crl;
}

std::string format_utc(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

int64_t to_unix(const ASN1_TIME* time) {
  std::tm tm{};
  check_ssl(time != nullptr && ASN1_TIME_to_tm(time, &tm) == 1, "malformed certificate time");
  return static_cast<int64_t>(timegm(&tm));
}

Asn1TimePtr make_time(int64_t unix_seconds) {
  Asn1TimePtr time(ASN1_TIME_set(nullptr, static_cast<std::time_t>(unix_seconds)));
  check_ssl(time != nullptr, "cannot represent the time {}", format_utc(unix_seconds));
  return time;
}

// RFC 2253 form, with non-ASCII characters left as UTF-8 instead of escaped to \XX bytes.
std::string name_text(const X509_NAME* name) {
  constexpr unsigned long kFlags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  return to_pem([&](BIO* bio) { return X509_NAME_print_ex(bio, name, 0, kFlags) >= 0; },
                "distinguished name");
}

std::string serial_hex(const ASN1_INTEGER* serial) {
  BigNumPtr number(ASN1_INTEGER_to_BN(serial, nullptr));
  check_ssl(number != nullptr, "malformed serial number");
  OpenSslString hex(BN_bn2hex(number.get()));
  check_ssl(hex != nullptr, "cannot format a serial number");
  return hex.get();
}

// Every CN of `name`, as UTF-8. A CN with an embedded NUL is refused: it could make
// "site-1\0.evil" compare equal to "site-1" in C string code.
std::vector<std::string> common_names(const X509_NAME* name) {
  std::vector<std::string> names;
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    check_ssl(length >= 0, "the subject CN is not valid text");
    const OpenSslString owner(reinterpret_cast<char*>(utf8));
    const std::string cn(owner.get(), static_cast<size_t>(length));
    check(cn.find('\0') == std::string::npos, "the subject CN contains a NUL byte");
    names.push_back(cn);
  }
  return names;
}
LoadedCa load_ca(const Credentials& ca) {
  LoadedCa loaded{parse_certificate(ca.certificate_pem), parse_private_key(ca.private_key_pem)};
  check(X509_check_ca(loaded.cert.get()) == 1,
        "the certificate {} is not a CA (it lacks basicConstraints CA:TRUE): issue certificates "
        "with the federation CA",
        name_text(X509_get_subject_name(loaded.cert.get())));
  check_ssl(X509_check_private_key(loaded.cert.get(), loaded.key.get()) == 1,
            "the CA private key does not belong to the CA certificate");
  return loaded;
}

}  // namespace fedgan::pki::detail
