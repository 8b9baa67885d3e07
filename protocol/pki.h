#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

/// The federation's certificate authority: creates the CA, coordinator (server) and client
/// certificates the mutual-TLS transport authenticates with, and certificate revocation lists.
/// Everything works on PEM text in memory (tests generate a fresh PKI per run); write_credentials
/// and read_credentials move it to and from files. See docs/security.md for the identity model.
///
/// Keys are ECDSA P-256, signatures SHA-256, serial numbers random 128-bit positive integers,
/// certificates X.509 v3. Private keys are unencrypted PKCS#8 PEM: they are protected by file
/// permissions (0600), not by a passphrase. All functions are thread-safe (no shared state).
namespace fedgan::protocol::pki {

/// Raised for every failure of this library: invalid input, a certificate or key that does not
/// parse or does not match, an OpenSSL failure (its error queue text is appended), a file that
/// cannot be read or written.
class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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

/// What a certificate revocation list says.
struct CrlInfo {
  std::string issuer;
  int64_t last_update_unix = 0;
  int64_t next_update_unix = 0;
  std::string crl_number;                    ///< decimal
  std::vector<std::string> revoked_serials;  ///< uppercase hex, as CertificateInfo::serial_hex
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

/// The subject CN of the first certificate in `certificate_pem`. Throws PkiError if it does not
/// parse or has no CN or more than one.
std::string certificate_common_name(const std::string& certificate_pem);

/// Decodes the first certificate in `certificate_pem`. Throws PkiError.
CertificateInfo inspect_certificate(const std::string& certificate_pem);

/// Decodes a PEM CRL. Throws PkiError.
CrlInfo inspect_crl(const std::string& crl_pem);

/// Writes the certificate (mode 0644, less the umask) and the private key (created with mode
/// 0600, so it is never readable by others, not even while being written). Each file is written
/// to a temporary name in its directory, synced and renamed over the target, so a reader never
/// sees half a file; existing files are replaced. Throws PkiError.
void write_credentials(const Credentials& credentials, const std::filesystem::path& cert_path,
                       const std::filesystem::path& key_path);

/// Reads a certificate (more certificates may follow it in the file: a chain) and its private key,
/// and checks that the key belongs to the first certificate. Encrypted keys are refused (nothing
/// could prompt for a passphrase). Returns the files' text unchanged. Throws PkiError.
Credentials read_credentials(const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path);

/// Reads a PEM file (a CRL, a CA certificate) whole. Throws PkiError naming the path if it cannot
/// be read, holds no PEM block, or is implausibly large (over 1 MiB).
std::string read_pem_file(const std::filesystem::path& path);

/// Writes `pem` to `path` the way write_credentials writes each file: through a temporary file in
/// the same directory that is synced and renamed over `path`. The file is created with mode 0600
/// when `owner_only`, else 0644 (less the umask). Throws PkiError.
void write_pem_file(const std::filesystem::path& path, const std::string& pem,
                    bool owner_only = false);

}  // namespace fedgan::protocol::pki
