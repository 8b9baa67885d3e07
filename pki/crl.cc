#include "pki/crl.h"

#include "pki/openssl_util.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace fedgan::pki {
namespace {

using namespace detail;

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

}  // namespace

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

}  // namespace fedgan::pki
