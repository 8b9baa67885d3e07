#include "pki/inspect.h"

#include "pki/names.h"
#include "pki/openssl_util.h"

namespace fedgan::pki {

using namespace detail;

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

}  // namespace fedgan::pki
