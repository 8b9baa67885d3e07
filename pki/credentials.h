#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

/// The federation's certificate authority: creates the CA, coordinator (server) and client
/// certificates the mutual-TLS transport authenticates with. Everything works on PEM text in
/// memory (tests generate a fresh PKI per run); pem_files.h moves it to and from files. See
/// docs/security.md for the identity model.
///
/// Keys are ECDSA P-256, signatures SHA-256, serial numbers random 128-bit positive integers,
/// certificates X.509 v3. Private keys are unencrypted PKCS#8 PEM: they are protected by file
/// permissions (0600), not by a passphrase. All functions are thread-safe (no shared state) and
/// throw PkiError (pki/error.h).
namespace fedgan::pki {

/// Default lifetimes. 825 days is the longest lifetime TLS clients accept for server
/// certificates issued by public CAs; a private federation CA is replaced far less often.
inline constexpr int kDefaultCaValidityDays = 3650;
inline constexpr int kDefaultCertificateValidityDays = 825;
inline constexpr int kDefaultCrlValidityDays = 30;
/// A not_before of 0 means this many seconds before now, so peers whose clocks run slightly
/// behind accept a certificate issued a moment ago.
inline constexpr int64_t kClockSkewSeconds = 300;
/// Upper bound on a common name (RFC 5280 ub-common-name), in bytes.
inline constexpr size_t kMaxCommonNameBytes = 64;

/// A certificate and its private key, both PEM.
struct Credentials {
  std::string certificate_pem;
  std::string private_key_pem;
};

/// What to put in a certificate.
struct CertificateOptions {
  /// Subject CN. Required: 1 to 64 bytes of UTF-8, no control characters, no leading or trailing
  /// space. For client certificates it is the identity the coordinator sees.
  std::string common_name;
  /// subjectAltName DNS entries (server certificates), e.g. "coordinator.example.org". A single
  /// leading "*." wildcard label is allowed.
  std::vector<std::string> dns_names;
  /// subjectAltName IP entries (server certificates), IPv4 or IPv6 text: "10.0.0.5", "::1".
  std::vector<std::string> ip_addresses;
  /// Start of validity, Unix seconds; 0 = now - kClockSkewSeconds.
  int64_t not_before_unix = 0;
  /// End of validity, Unix seconds; 0 = not_before + validity_days (for an issued certificate,
  /// shortened to the CA's own end of validity if it would outlive it). An explicit value must be
  /// after not_before and not after the CA's end of validity. A value in the past is allowed (it
  /// makes an expired certificate, for tests).
  int64_t not_after_unix = 0;
  /// Lifetime used when not_after_unix is 0; 1 to 36500.
  int validity_days = kDefaultCertificateValidityDays;
};

/// Creates a self-signed CA: basicConstraints critical CA:TRUE with pathlen:0 (it signs only
/// end-entity certificates), keyUsage critical keyCertSign+cRLSign, subjectKeyIdentifier.
/// `options` must not carry subjectAltNames. Throws PkiError.
Credentials create_ca(const CertificateOptions& options);
/// create_ca with the given CN, starting now - kClockSkewSeconds and lasting `validity_days`.
Credentials create_ca(const std::string& common_name, int validity_days = kDefaultCaValidityDays);

/// Issues a coordinator certificate signed by `ca`: extendedKeyUsage serverAuth, keyUsage
/// digitalSignature, CA:FALSE, subject/authority key identifiers, and a subjectAltName with the
/// DNS names and IP addresses of `options`, at least one of which is required (TLS clients check
/// the host they dialled against them, not against the CN). Throws PkiError.
Credentials issue_server_certificate(const Credentials& ca, const CertificateOptions& options);

/// Issues a client (site) certificate signed by `ca`: extendedKeyUsage clientAuth, keyUsage
/// digitalSignature, CA:FALSE, key identifiers; the CN is the site's identity. subjectAltNames are
/// optional. Throws PkiError.
Credentials issue_client_certificate(const Credentials& ca, const CertificateOptions& options);

}  // namespace fedgan::pki
