#pragma once

namespace fedgan::protocol {

/// libprotobuf prints an ERROR line for every string field with invalid UTF-8 it is asked to
/// parse. Those bytes come from peers, so a hostile peer could fill the logs at line rate; the
/// parse failure itself is already reported as ProtocolError(MALFORMED). This replaces
/// libprotobuf's process-wide log handler, once, with one that keeps only FATAL messages.
/// Idempotent and thread-safe; every connection calls it.
void silence_protobuf_parse_logs();

}  // namespace fedgan::protocol
