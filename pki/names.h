#pragma once

// Internal to the pki library: the checks of what a caller asks to put in a certificate (a CN,
// DNS names, IP addresses) and the text of an address read back from one.

#include <openssl/asn1.h>

#include <string>

namespace fedgan::pki::detail {

/// Throws PkiError unless `cn` is 1 to kMaxCommonNameBytes of printable text without leading or
/// trailing spaces.
void validate_common_name(const std::string& cn);

/// Throws PkiError unless `name` is a DNS name (one leading "*." wildcard label allowed).
void validate_dns_name(const std::string& name);

/// The 4 or 16 address bytes of IPv4 or IPv6 text. Throws PkiError.
std::string parse_ip_address(const std::string& text);

/// The canonical text of a subjectAltName IP address ("::1"); "<N-byte address>" when malformed.
std::string format_ip_address(const ASN1_OCTET_STRING* bytes);

}  // namespace fedgan::pki::detail
