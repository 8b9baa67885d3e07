#pragma once

// The one definition of a party's federation identity. The server's handshake check (TlsEngine,
// against the allowlist), the identity a connection reports afterwards (peer_identity()), a site's
// own identity read from its certificate file (client::certificate_identity) and the check that
// an issued certificate names a usable identity all call certificate_identity(), so the name that
// was admitted is the name every layer sees, and a certificate without exactly one usable CN is
// refused everywhere.

#include <cstddef>
#include <string>
#include <string_view>

struct x509_st;

namespace fedgan::pki {

/// Subject CNs are at most 64 characters by X.520; an identity is stored and logged.
inline constexpr size_t kMaxIdentityBytes = 64;

/// The one rule for a site identity: 1 to kMaxIdentityBytes bytes of valid UTF-8 that
/// text::printable leaves as it is (no C0 or C1 control characters, no DEL, no text-reordering or
/// line-separator characters), with no space at either end (so "site-1 " cannot pass for
/// "site-1"). A certificate's CN is its identity only when it passes (certificate_identity), the
/// coordinator's allowlist (server.allowed_identities) takes only names that pass, and
/// fedgan-certs issues no certificate whose CN fails. Never throws; thread-safe.
bool is_valid_identity(std::string_view name);

/// The identity `certificate` names: its subject CN, when the subject holds exactly one CN and
/// that CN is a valid identity (is_valid_identity). Otherwise "", which no peer is admitted
/// with. Does not verify the certificate: call it on a verified one. Never throws (it runs
/// inside OpenSSL's verify callback); "" for a null certificate.
std::string certificate_identity(const x509_st* certificate);

/// certificate_identity() of the first certificate in `certificate_pem`. Throws PkiError when it
/// does not parse or names no identity, saying why (no CN, several CNs, too long, unprintable,
/// spaces at an end).
std::string certificate_identity(const std::string& certificate_pem);

}  // namespace fedgan::pki
