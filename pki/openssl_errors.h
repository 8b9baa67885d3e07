#pragma once

#include <string>

namespace fedgan::pki {

/// Drains this thread's OpenSSL error queue into one readable line ("" when empty). Shared by pki
/// and the protocol's TLS code; OpenSSL's queue is per thread, so this is safe on any thread.
std::string drain_openssl_errors();

}  // namespace fedgan::pki
