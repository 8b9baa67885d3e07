#pragma once

// The one definition of a party's federation identity. The server's handshake check (TlsEngine,
// against the allowlist), the identity a connection reports afterwards (peer_identity()), a site's
// own identity read from its certificate file (client::certificate_identity) and the check that
// an issued certificate names a usable identity all call certificate_identity(), so the name that
// was admitted is the name every layer sees, and a certificate without exactly one usable CN is
// refused everywhere.

#include <cstddef>
#include <string>

struct x509_st;

namespace fedgan::pki {

/// Subject CNs are at most 64 characters by X.520; an identity is stored and logged.
inline constexpr size_t kMaxIdentityBytes = 64;

/// The identity `certificate` names: its subject CN, when the subject holds exactly one CN that is
/// non-empty, at most kMaxIdentityBytes of UTF-8, and printable as it is (text::printable leaves
/// it unchanged: no control or text-reordering characters). Otherwise "", which no peer is
/// admitted with. Does not verify the certificate: call it on a verified one. Never throws (it runs
/// inside OpenSSL's verify callback); "" for a null certificate.
std::string certificate_identity(const x509_st* certificate);

/// certificate_identity() of the first certificate in `certificate_pem`. Throws PkiError when it
/// does not parse or names no identity, saying why (no CN, several CNs, too long, unprintable).
std::string certificate_identity(const std::string& certificate_pem);

}  // namespace fedgan::pki
