#pragma once

#include <string>

namespace fedgan::protocol {

/// Drains this thread's OpenSSL error queue into one readable line ("" when empty). Internal to
/// the protocol library; OpenSSL's queue is per thread, so this is safe on any thread.
std::string drain_openssl_errors();

}  // namespace fedgan::protocol
