#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::pki {

/// What a certificate says, for operators (`fedgan-certs show`) and tests.
struct CertificateInfo {
  std::string subject;      ///< distinguished name, RFC 2253 form ("CN=site-1")
  std::string issuer;       ///< issuer's distinguished name, same form
  std::string common_name;  ///< the subject's first CN, "" when it has none
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  ///< canonical text ("::1", not "0:0:...:1")
  int64_t not_before_unix = 0;
  int64_t not_after_unix = 0;
  std::string serial_hex;    ///< uppercase hex, no separators
  bool is_ca = false;        ///< basicConstraints CA:TRUE
  bool server_auth = false;  ///< extendedKeyUsage includes serverAuth
  bool client_auth = false;  ///< extendedKeyUsage includes clientAuth
  /// SHA-256 of the DER encoding, "AB:CD:..." as `openssl x509 -fingerprint -sha256` prints it.
  std::string sha256_fingerprint;
};

/// Decodes the first certificate in `certificate_pem`. Throws PkiError.
CertificateInfo inspect_certificate(const std::string& certificate_pem);

}  // namespace fedgan::pki
