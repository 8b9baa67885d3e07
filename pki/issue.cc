#include "pki/credentials.h"

#include "pki/identity.h"
#include "pki/names.h"
#include "pki/openssl_util.h"
#include "text/printable.h"

#include <openssl/rand.h>

#include <algorithm>
#include <ctime>

namespace fedgan::pki {
namespace {

using namespace detail;

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
  // Peers are known by the identity the transport reads back from the certificate, which applies
  // the one identity rule (is_valid_identity): a name it would not admit (C1 controls,
  // text-reordering or line-separator characters; validate_common_name refused the rest) is
  // refused here, so fedgan-certs issues no certificate a coordinator would refuse.
  check(certificate_identity(cert.get()) == options.common_name,
        "the common name \"{}\" holds characters that logs would show escaped; a peer with it "
        "would be refused in the TLS handshake",
        text::printable(options.common_name, 4 * kMaxCommonNameBytes));
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

}  // namespace fedgan::pki
