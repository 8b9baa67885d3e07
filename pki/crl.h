#pragma once

#include "pki/credentials.h"

#include <cstdint>
#include <string>
#include <vector>

/// Certificate revocation lists of the federation CA. Thread-safe; throws PkiError.
namespace fedgan::pki {

/// What a certificate revocation list says.
struct CrlInfo {
  std::string issuer;
  int64_t last_update_unix = 0;
  int64_t next_update_unix = 0;
  std::string crl_number;                    ///< decimal
  std::vector<std::string> revoked_serials;  ///< uppercase hex, as CertificateInfo::serial_hex
};

/// Creates a CRL v2 signed by `ca` that revokes `revoked_certificate_pems` (each must have been
/// issued by `ca`) plus every entry of `previous_crl_pem` when given (which must be signed by
/// `ca`), so revocations accumulate. lastUpdate is now, nextUpdate now + `next_update_days`: a
/// verifier that checks CRLs rejects every certificate once the CRL is past nextUpdate, so it must
/// be re-issued before then. The CRL number is greater than the previous one. An empty list makes
/// an empty CRL, valid for a verifier that requires one. Throws PkiError.
std::string create_crl(const Credentials& ca,
                       const std::vector<std::string>& revoked_certificate_pems,
                       int next_update_days = kDefaultCrlValidityDays,
                       const std::string& previous_crl_pem = {});

/// Decodes a PEM CRL. Throws PkiError.
CrlInfo inspect_crl(const std::string& crl_pem);

}  // namespace fedgan::pki
