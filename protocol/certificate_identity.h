#pragma once

// The one definition of a party's federation identity. The server's handshake check (TlsEngine,
// against the allowlist) and the identity a connection reports afterwards (peer_identity()) both
// come from certificate_identity(), so the name that was admitted is the name the layer above sees.

#include <cstddef>
#include <string>

struct x509_st;
struct ssl_st;

namespace fedgan::protocol {

/// Subject CNs are at most 64 characters by X.520; an identity is stored and logged.
inline constexpr size_t kMaxIdentityBytes = 64;

/// The identity `certificate` names: its subject CN, when the subject holds exactly one CN that is
/// non-empty, at most kMaxIdentityBytes of UTF-8, and printable as it is (printable() in
/// wire_text.h leaves it unchanged: no control or text-reordering characters). Otherwise "", which
/// no peer is admitted with. Does not verify the certificate: call it on a verified one.
std::string certificate_identity(const x509_st* certificate);

/// certificate_identity() of the peer certificate of a TLS session; "" when the peer sent none.
std::string peer_certificate_identity(const ssl_st* ssl);

}  // namespace fedgan::protocol
