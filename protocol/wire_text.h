#pragma once

#include "text/printable.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace fedgan::protocol {

/// How much of a status message a peer sent (a Goodbye's reason) reaches a local error message.
inline constexpr size_t kMaxPeerMessageBytes = 256;
/// How much of a tensor name, or another short string from a peer, an error message quotes.
inline constexpr size_t kMaxQuotedNameBytes = 128;

// printable() and Printable live in fedgan::text, shared with pki's identity rule; the protocol
// names them as its own, as before.
using text::printable;
using text::Printable;

}  // namespace fedgan::protocol
