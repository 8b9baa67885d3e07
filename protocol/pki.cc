#include "protocol/pki.h"

#include "protocol/certificate_identity.h"
#include "protocol/openssl_errors.h"
#include "protocol/wire_text.h"

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <utility>

namespace fedgan::protocol::pki {
namespace {

constexpr int64_t kSecondsPerDay = 86400;
constexpr int kMaxValidityDays = 36500;
constexpr size_t kMaxPemFileBytes = 1u << 20;

// unique_ptr deleter calling an OpenSSL free function: std::unique_ptr<X509, Free<X509_free>>.
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

std::string openssl_errors() {
  const std::string text = drain_openssl_errors();
  return text.empty() ? "no detail in the OpenSSL error queue" : text;
}

/// Throws PkiError(message) when `condition` is false.
template <typename... Args>
void check(bool condition, fmt::format_string<Args...> format, Args&&... args) {
  if (!condition) throw PkiError(fmt::format(format, std::forward<Args>(args)...));
}

/// check() for the result of an OpenSSL call: the message gets the OpenSSL error queue appended.
template <typename... Args>
void check_ssl(bool ok, fmt::format_string<Args...> format, Args&&... args) {
  if (!ok) {
    throw PkiError(fmt::format(format, std::forward<Args>(args)...) +
                   " (OpenSSL: " + openssl_errors() + ")");
  }
}

// Leaves this thread's OpenSSL error queue empty on entry and exit of a public function, so a
// failure here never shows up later in an unrelated SSL_get_error() of the same thread.
struct ErrorQueueScope {
  ErrorQueueScope() { ERR_clear_error(); }
  ~ErrorQueueScope() { ERR_clear_error(); }
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

// Never prompts: a library must not block on a terminal for an encrypted key's passphrase.
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

// Runs `write(bio)` into a memory BIO and returns what it wrote.
template <typename Write>
std::string to_pem(Write write, const char* what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check_ssl(bio != nullptr && write(bio.get()) == 1, "cannot encode the {} as PEM", what);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : std::string();
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

// ---- Input validation -------------------------------------------------------------------------

void validate_common_name(const std::string& cn) {
  check(!cn.empty(), "the common name (CN) is empty: give the site or host name");
  check(cn.size() <= kMaxCommonNameBytes, "the common name \"{}...\" is {} bytes long; at most {}",
        cn.substr(0, 16), cn.size(), kMaxCommonNameBytes);
  for (size_t i = 0; i < cn.size(); ++i) {
    const auto c = static_cast<unsigned char>(cn[i]);
    check(c >= 0x20 && c != 0x7f,
          "the common name contains a control character (byte 0x{:02x} at "
          "offset {}); use printable text",
          c, i);
  }
  check(cn.front() != ' ' && cn.back() != ' ',
        "the common name \"{}\" has leading or trailing spaces, which would make look-alike "
        "identities",
        cn);
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

void validate_dns_name(const std::string& name) {
  check(!name.empty() && name.size() <= 253, "DNS name \"{}\" must be 1 to 253 characters", name);
  const size_t start = name.rfind("*.", 0) == 0 ? 2 : 0;  // one leading wildcard label
  std::istringstream labels(name.substr(start));
  std::string label;
  size_t count = 0;
  while (std::getline(labels, label, '.')) {
    ++count;
    check(!label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
              std::all_of(label.begin(), label.end(), is_label_char),
          "\"{}\" is not a valid DNS name: use letters, digits, '-' and dots (an IP address "
          "belongs in the IP addresses)",
          name);
  }
  check(count > 0 && name.back() != '.', "\"{}\" is not a valid DNS name (trailing dot)", name);
}

// The 4 or 16 address bytes of IPv4 or IPv6 text.
std::string parse_ip_address(const std::string& text) {
  unsigned char bytes[16];
  const bool clean = text.find('\0') == std::string::npos;
  if (clean && inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    return std::string(reinterpret_cast<char*>(bytes), 4);
  }
  if (clean && inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    return std::string(reinterpret_cast<char*>(bytes), 16);
  }
  throw PkiError(fmt::format(
      "\"{}\" is not an IPv4 or IPv6 address (like 10.0.0.5 or ::1); host names belong in the "
      "DNS names",
      text));
}

std::string format_ip_address(const ASN1_OCTET_STRING* bytes) {
  const int length = ASN1_STRING_length(bytes);
  char text[INET6_ADDRSTRLEN] = {};
  const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : -1;
  if (family < 0 || inet_ntop(family, ASN1_STRING_get0_data(bytes), text, sizeof text) == nullptr) {
    return fmt::format("<{}-byte address>", length);
  }
  return text;
}

// ---- Certificate construction ------------------------------------------------------------------

struct Validity {
  int64_t not_before = 0;
  int64_t not_after = 0;
};

// Applies the defaults of CertificateOptions; `ca_not_after` is 0 for a self-signed certificate.
Validity resolve_validity(const CertificateOptions& options, int64_t ca_not_after) {
  check(options.validity_days >= 1 && options.validity_days <= kMaxValidityDays,
        "validity of {} days is out of range: use 1 to {}", options.validity_days,
        kMaxValidityDays);
  Validity v;
  v.not_before = options.not_before_unix != 0 ? options.not_before_unix
                                              : std::time(nullptr) - kClockSkewSeconds;
  if (options.not_after_unix != 0) {
    v.not_after = options.not_after_unix;
    check(ca_not_after == 0 || v.not_after <= ca_not_after,
          "the certificate would be valid until {}, after its CA expires ({}): choose an earlier "
          "end or a new CA",
          format_utc(v.not_after), format_utc(ca_not_after));
  } else {
    v.not_after = v.not_before + options.validity_days * kSecondsPerDay;
    if (ca_not_after != 0) v.not_after = std::min(v.not_after, ca_not_after);
  }
  check(v.not_after > v.not_before, "the certificate would end ({}) before it starts ({}){}",
        format_utc(v.not_after), format_utc(v.not_before),
        ca_not_after != 0 && v.not_after == ca_not_after ? ": the CA has expired, create a new one"
                                                         : "");
  return v;
}

KeyPtr generate_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  check_ssl(key != nullptr, "cannot generate an ECDSA P-256 key");
  return key;
}

void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  check_ssl(RAND_bytes(bytes, sizeof bytes) == 1, "cannot draw a random serial number");
  bytes[0] |= 0x01;  // never zero, so the serial is a positive integer
  BigNumPtr number(BN_bin2bn(bytes, sizeof bytes, nullptr));
  check_ssl(number != nullptr && BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(cert)),
            "cannot set the serial number");
}

// An unsigned v3 certificate for `key` named `common_name`, issued by `issuer` (itself if null).
X509Ptr new_certificate(const std::string& common_name, const Validity& validity, EVP_PKEY* key,
                        X509* issuer) {
  X509Ptr cert(X509_new());
  NamePtr name(X509_NAME_new());
  check_ssl(cert != nullptr && name != nullptr, "cannot allocate a certificate");
  check_ssl(X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(common_name.data()),
                                       static_cast<int>(common_name.size()), -1, 0) == 1,
            "the common name is not valid UTF-8");
  set_random_serial(cert.get());
  const X509_NAME* issuer_name = issuer ? X509_get_subject_name(issuer) : name.get();
  check_ssl(X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
                X509_set_subject_name(cert.get(), name.get()) == 1 &&
                X509_set_issuer_name(cert.get(), issuer_name) == 1 &&
                X509_set1_notBefore(cert.get(), make_time(validity.not_before).get()) == 1 &&
                X509_set1_notAfter(cert.get(), make_time(validity.not_after).get()) == 1 &&
                X509_set_pubkey(cert.get(), key) == 1,
            "cannot fill in the certificate for \"{}\"", common_name);
  return cert;
}

void add_extension(X509* cert, X509V3_CTX* context, int nid, const char* value) {
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, context, nid, value));
  check_ssl(extension != nullptr && X509_add_ext(cert, extension.get(), -1) == 1,
            "cannot add the {} extension \"{}\"", OBJ_nid2sn(nid), value);
}

// Appends one name of `type` (GEN_DNS: IA5String text, GEN_IPADD: address bytes) to `names`.
void push_general_name(GENERAL_NAMES* names, int type, const std::string& data) {
  Asn1StringPtr value(type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new());
  GeneralNamePtr name(GENERAL_NAME_new());
  check_ssl(value != nullptr && name != nullptr &&
                ASN1_STRING_set(value.get(), data.data(), static_cast<int>(data.size())) == 1,
            "cannot allocate a subjectAltName entry");
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  check_ssl(sk_GENERAL_NAME_push(names, name.get()) > 0, "cannot add a subjectAltName entry");
  name.release();
}

void add_subject_alt_names(X509* cert, const std::vector<std::string>& dns_names,
                           const std::vector<std::string>& ip_bytes) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  check_ssl(names != nullptr, "cannot allocate subjectAltNames");
  for (const auto& dns : dns_names) push_general_name(names.get(), GEN_DNS, dns);
  for (const auto& ip : ip_bytes) push_general_name(names.get(), GEN_IPADD, ip);
  check_ssl(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1,
            "cannot add the subjectAltName extension");
}

void sign(X509* cert, EVP_PKEY* key) {
  check_ssl(X509_sign(cert, key, EVP_sha256()) > 0, "cannot sign the certificate");
}

Credentials encode(X509* cert, EVP_PKEY* key) {
  return {to_pem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert); }, "certificate"),
          to_pem(
              [&](BIO* bio) {
                return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
              },
              "private key")};
}

struct LoadedCa {
  X509Ptr cert;
  KeyPtr key;
};

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

enum class Role { kServer, kClient };

Credentials issue(const Credentials& ca_credentials, const CertificateOptions& options, Role role) {
  const ErrorQueueScope scope;
  validate_common_name(options.common_name);
  for (const auto& dns : options.dns_names) validate_dns_name(dns);
  std::vector<std::string> ip_bytes;
  for (const auto& ip : options.ip_addresses) ip_bytes.push_back(parse_ip_address(ip));
  check(role == Role::kClient || !options.dns_names.empty() || !ip_bytes.empty(),
        "the server certificate for \"{}\" needs at least one DNS name or IP address: clients "
        "check the address they dial against these, not against the CN",
        options.common_name);
  const LoadedCa ca = load_ca(ca_credentials);
  const Validity validity = resolve_validity(options, to_unix(X509_get0_notAfter(ca.cert.get())));
  const KeyPtr key = generate_key();
  const X509Ptr cert = new_certificate(options.common_name, validity, key.get(), ca.cert.get());
  // Peers are known by the identity the transport reads back from the certificate; a name it
  // would not admit (C1 controls, text-reordering or line-separator characters) is refused here.
  check(certificate_identity(cert.get()) == options.common_name,
        "the common name \"{}\" holds characters that logs would show escaped; a peer with it "
        "would be refused in the TLS handshake",
        printable(options.common_name, 4 * kMaxCommonNameBytes));
  X509V3_CTX context;
  X509V3_set_ctx(&context, ca.cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), &context, NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), &context, NID_ext_key_usage,
                role == Role::kServer ? "serverAuth" : "clientAuth");
  add_extension(cert.get(), &context, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), &context, NID_authority_key_identifier, "keyid:always");
  if (!options.dns_names.empty() || !ip_bytes.empty()) {
    add_subject_alt_names(cert.get(), options.dns_names, ip_bytes);
  }
  sign(cert.get(), ca.key.get());
  return encode(cert.get(), key.get());
}

// ---- CRL construction --------------------------------------------------------------------------

void add_revoked(X509_CRL* crl, const ASN1_INTEGER* serial, const ASN1_TIME* when) {
  RevokedPtr entry(X509_REVOKED_new());
  // The setters copy their argument; their parameters are not const only for historical reasons.
  check_ssl(entry != nullptr &&
                X509_REVOKED_set_serialNumber(entry.get(), const_cast<ASN1_INTEGER*>(serial)) &&
                X509_REVOKED_set_revocationDate(entry.get(), const_cast<ASN1_TIME*>(when)) &&
                X509_CRL_add0_revoked(crl, entry.get()),
            "cannot add a revoked serial number to the CRL");
  entry.release();
}

// Copies the entries of `previous_pem` into `crl`, recording their serials; returns its number.
int64_t carry_over(X509_CRL* crl, const LoadedCa& ca, const std::string& previous_pem,
                   std::set<std::string>& serials) {
  const CrlPtr previous = parse_crl(previous_pem);
  check_ssl(X509_CRL_verify(previous.get(), ca.key.get()) == 1,
            "the previous CRL was not signed by this CA");
  const STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(previous.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    const X509_REVOKED* entry = sk_X509_REVOKED_value(entries, i);
    const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(entry);
    if (serials.insert(serial_hex(serial)).second) {
      add_revoked(crl, serial, X509_REVOKED_get0_revocationDate(entry));
    }
  }
  const Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(previous.get(), NID_crl_number, nullptr, nullptr)));
  int64_t value = 0;
  if (number != nullptr && ASN1_INTEGER_get_int64(&value, number.get()) != 1) value = 0;
  ERR_clear_error();  // a CRL number too large for int64 only means "start afresh"
  return value;
}

void revoke(X509_CRL* crl, const LoadedCa& ca, const std::string& certificate_pem,
            const ASN1_TIME* now, std::set<std::string>& serials) {
  const X509Ptr cert = parse_certificate(certificate_pem);
  const std::string subject = name_text(X509_get_subject_name(cert.get()));
  check(X509_check_issued(ca.cert.get(), cert.get()) == X509_V_OK &&
            X509_verify(cert.get(), ca.key.get()) == 1,
        "cannot revoke {}: it was not issued by this CA", subject);
  check(X509_cmp(ca.cert.get(), cert.get()) != 0,
        "cannot revoke the CA certificate {} in its own CRL: create a new CA and reissue every "
        "certificate instead",
        subject);
  ERR_clear_error();
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
  if (serials.insert(serial_hex(serial)).second) add_revoked(crl, serial, now);
}

void add_crl_extensions(X509_CRL* crl, X509* ca_cert, int64_t crl_number) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, ca_cert, nullptr, nullptr, crl, 0);
  ExtensionPtr aki(
      X509V3_EXT_conf_nid(nullptr, &context, NID_authority_key_identifier, "keyid:always"));
  const Asn1IntegerPtr number(ASN1_INTEGER_new());
  check_ssl(aki != nullptr && X509_CRL_add_ext(crl, aki.get(), -1) == 1 && number != nullptr &&
                ASN1_INTEGER_set_int64(number.get(), crl_number) == 1 &&
                X509_CRL_add1_ext_i2d(crl, NID_crl_number, number.get(), 0, 0) == 1,
            "cannot add the CRL extensions");
}

// ---- Files
// ---------------------------------------------------------------------------------------

std::string errno_text(int error) {
  return std::strerror(error);
}

void write_all(int fd, const std::string& text, const std::filesystem::path& path) {
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    const int error = errno;
    if (n < 0 && error == EINTR) continue;
    check(n > 0, "cannot write {}: {}", path.string(), errno_text(error));
    written += static_cast<size_t>(n);
  }
  check(::fsync(fd) == 0, "cannot sync {}: {}", path.string(), errno_text(errno));
}

void sync_directory(const std::filesystem::path& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // durability of the rename is best effort; the data itself was synced
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Credentials create_ca(const CertificateOptions& options) {
  const ErrorQueueScope scope;
  validate_common_name(options.common_name);
  check(
      options.dns_names.empty() && options.ip_addresses.empty(),
      "a CA certificate carries no DNS names or IP addresses; put them in the server certificate");
  const Validity validity = resolve_validity(options, 0);
  const KeyPtr key = generate_key();
  const X509Ptr cert = new_certificate(options.common_name, validity, key.get(), nullptr);
  X509V3_CTX context;
  X509V3_set_ctx(&context, cert.get(), cert.get(), nullptr, nullptr, 0);
  // pathlen:0: the CA signs end-entity certificates only, never another CA.
  add_extension(cert.get(), &context, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  add_extension(cert.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert.get(), &context, NID_subject_key_identifier, "hash");
  sign(cert.get(), key.get());
  return encode(cert.get(), key.get());
}

Credentials create_ca(const std::string& common_name, int validity_days) {
  CertificateOptions options;
  options.common_name = common_name;
  options.validity_days = validity_days;
  return create_ca(options);
}

Credentials issue_server_certificate(const Credentials& ca, const CertificateOptions& options) {
  return issue(ca, options, Role::kServer);
}

Credentials issue_client_certificate(const Credentials& ca, const CertificateOptions& options) {
  return issue(ca, options, Role::kClient);
}

std::string create_crl(const Credentials& ca_credentials,
                       const std::vector<std::string>& revoked_certificate_pems,
                       int next_update_days, const std::string& previous_crl_pem) {
  const ErrorQueueScope scope;
  check(next_update_days >= 1 && next_update_days <= kMaxValidityDays,
        "CRL validity of {} days is out of range: use 1 to {}", next_update_days, kMaxValidityDays);
  const LoadedCa ca = load_ca(ca_credentials);
  const CrlPtr crl(X509_CRL_new());
  const int64_t now = std::time(nullptr);
  const Asn1TimePtr now_time = make_time(now);
  check_ssl(crl != nullptr && X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) == 1 &&
                X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get())) == 1 &&
                X509_CRL_set1_lastUpdate(crl.get(), now_time.get()) == 1 &&
                X509_CRL_set1_nextUpdate(
                    crl.get(), make_time(now + next_update_days * kSecondsPerDay).get()) == 1,
            "cannot fill in the CRL");
  std::set<std::string> serials;
  int64_t previous_number = 0;
  if (!previous_crl_pem.empty()) {
    previous_number = carry_over(crl.get(), ca, previous_crl_pem, serials);
  }
  for (const auto& pem : revoked_certificate_pems)
    revoke(crl.get(), ca, pem, now_time.get(), serials);
  // Unix time keeps numbers increasing even when no previous CRL is passed in.
  add_crl_extensions(crl.get(), ca.cert.get(), std::max(previous_number + 1, now));
  check_ssl(
      X509_CRL_sort(crl.get()) == 1 && X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256()) > 0,
      "cannot sign the CRL");
  return to_pem([&](BIO* bio) { return PEM_write_bio_X509_CRL(bio, crl.get()); }, "CRL");
}

std::string certificate_common_name(const std::string& certificate_pem) {
  const ErrorQueueScope scope;
  const X509Ptr cert = parse_certificate(certificate_pem);
  const X509_NAME* subject = X509_get_subject_name(cert.get());
  const auto names = common_names(subject);
  check(names.size() == 1,
        "the certificate subject \"{}\" has {} common names (CN); exactly one "
        "is needed to name a site",
        name_text(subject), names.size());
  return names.front();
}

CertificateInfo inspect_certificate(const std::string& certificate_pem) {
  const ErrorQueueScope scope;
  const X509Ptr cert = parse_certificate(certificate_pem);
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(cert.get()));
  info.issuer = name_text(X509_get_issuer_name(cert.get()));
  const auto names = common_names(X509_get_subject_name(cert.get()));
  if (!names.empty()) info.common_name = names.front();
  const GeneralNamesPtr alt_names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; alt_names && i < sk_GENERAL_NAME_num(alt_names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt_names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* dns = name->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                  static_cast<size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      info.ip_addresses.push_back(format_ip_address(name->d.iPAddress));
    }
  }
  info.not_before_unix = to_unix(X509_get0_notBefore(cert.get()));
  info.not_after_unix = to_unix(X509_get0_notAfter(cert.get()));
  info.serial_hex = serial_hex(X509_get0_serialNumber(cert.get()));
  const uint32_t flags = X509_get_extension_flags(cert.get());
  info.is_ca = (flags & EXFLAG_CA) != 0;
  const bool has_eku = (flags & EXFLAG_XKUSAGE) != 0;
  info.server_auth = has_eku && (X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER) != 0;
  info.client_auth = has_eku && (X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT) != 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  check_ssl(X509_digest(cert.get(), EVP_sha256(), digest, &length) == 1,
            "cannot compute the certificate fingerprint");
  for (unsigned int i = 0; i < length; ++i) {
    info.sha256_fingerprint += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
  }
  return info;
}

CrlInfo inspect_crl(const std::string& crl_pem) {
  const ErrorQueueScope scope;
  const CrlPtr crl = parse_crl(crl_pem);
  CrlInfo info;
  info.issuer = name_text(X509_CRL_get_issuer(crl.get()));
  info.last_update_unix = to_unix(X509_CRL_get0_lastUpdate(crl.get()));
  if (X509_CRL_get0_nextUpdate(crl.get())) {
    info.next_update_unix = to_unix(X509_CRL_get0_nextUpdate(crl.get()));
  }
  const Asn1IntegerPtr number(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
  if (number != nullptr) {
    BigNumPtr value(ASN1_INTEGER_to_BN(number.get(), nullptr));
    OpenSslString text(value ? BN_bn2dec(value.get()) : nullptr);
    check_ssl(text != nullptr, "malformed CRL number");
    info.crl_number = text.get();
  }
  const STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    info.revoked_serials.push_back(
        serial_hex(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(entries, i))));
  }
  return info;
}

void write_pem_file(const std::filesystem::path& path, const std::string& pem, bool owner_only) {
  const std::filesystem::path directory =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::path temporary = path;
  temporary += fmt::format(".tmp-{}-{:08x}", ::getpid(), std::random_device{}());
  // O_EXCL: never follow a planted link or reuse another writer's file. The key's mode is set at
  // creation, so it is not readable by others at any moment.
  const int fd =
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, owner_only ? 0600 : 0644);
  const int open_error = errno;
  check(fd >= 0, "cannot create {}: {}", temporary.string(), errno_text(open_error));
  try {
    write_all(fd, pem, temporary);
    check(::close(fd) == 0, "cannot close {}: {}", temporary.string(), errno_text(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = errno_text(errno);
    ::unlink(temporary.c_str());
    throw PkiError(fmt::format("cannot replace {}: {}", path.string(), reason));
  }
  sync_directory(directory);
}

std::string read_pem_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const int open_error = errno;
  check(in.good(), "cannot read {}: {}", path.string(), errno_text(open_error));
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    check(text.size() <= kMaxPemFileBytes,
          "{} is over {} bytes, far more than any PEM certificate, key or CRL: is it the right "
          "file?",
          path.string(), kMaxPemFileBytes);
  }
  check(!in.bad(), "cannot read {}: {}", path.string(), errno_text(errno));
  check(text.find("-----BEGIN ") != std::string::npos,
        "{} is not a PEM file (no \"-----BEGIN\" line)", path.string());
  return text;
}

void write_credentials(const Credentials& credentials, const std::filesystem::path& cert_path,
                       const std::filesystem::path& key_path) {
  check(cert_path != key_path, "the certificate and the private key need separate files, not {}",
        cert_path.string());
  write_pem_file(key_path, credentials.private_key_pem, /*owner_only=*/true);
  write_pem_file(cert_path, credentials.certificate_pem);
}

Credentials read_credentials(const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path) {
  const ErrorQueueScope scope;
  Credentials credentials{read_pem_file(cert_path), read_pem_file(key_path)};
  X509Ptr cert;
  KeyPtr key;
  try {
    cert = parse_certificate(credentials.certificate_pem);
  } catch (const PkiError& e) {
    throw PkiError(fmt::format("{}: {}", cert_path.string(), e.what()));
  }
  try {
    key = parse_private_key(credentials.private_key_pem);
  } catch (const PkiError& e) {
    throw PkiError(fmt::format("{}: {}", key_path.string(), e.what()));
  }
  check(X509_check_private_key(cert.get(), key.get()) == 1,
        "the private key in {} does not belong to the certificate in {} ({}): pass the key that "
        "was created with this certificate",
        key_path.string(), cert_path.string(), name_text(X509_get_subject_name(cert.get())));
  return credentials;
}

}  // namespace fedgan::protocol::pki
