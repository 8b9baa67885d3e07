#pragma once

// The stateful fuzz harness of the coordinator: one input is a script of actions by up to four
// sites (connect, Hello, uploads honest and hostile, stray messages, leaving), played against a
// real Coordinator (its sessions, round state machine, validation, aggregation, SQLite history and
// checkpoints) over in-memory connections. After every action it checks what the threat model
// promises, and aborts (a crash the fuzzer keeps) when something does not hold:
//   - no exception escapes the coordinator's handlers;
//   - every committed round's checkpoint holds only finite values;
//   - every committed round counts exactly its accepted rows (rounds.updates_accepted, the
//     number of updates its metrics say it aggregated, and the rows agree);
//   - every accepted verdict a site received has its accepted row, and no update with a NaN or
//     infinite value was accepted;
//   - at the end, with every site gone: every admission answer (admitted or refused) is matched by
//     exactly one `updates` row or `update_rejected` event of that site.

#include <cstddef>
#include <cstdint>

namespace fedgan::testing {

/// Plays one input. Returns normally when every invariant held; aborts with a message otherwise.
void play_round_script(const uint8_t* data, size_t size);

}  // namespace fedgan::testing
