#pragma once

#include "protocol/tls_context.h"

#include <filesystem>
#include <string>

namespace fedgan::bench {

/// Writes a throwaway federation PKI into `dir` for benchmarks on 127.0.0.1: a CA, a
/// "coordinator" server certificate for IP 127.0.0.1 and a "site-1" client certificate, each as
/// `<name>.pem` and `<name>.key`.
void write_loopback_pki(const std::filesystem::path& dir);

/// The TLS files of `name` ("coordinator" or "site-1") in a directory written by
/// write_loopback_pki.
protocol::TlsOptions loopback_party(const std::filesystem::path& dir, const std::string& name);

}  // namespace fedgan::bench
