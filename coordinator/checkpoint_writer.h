#pragma once

#include "coordinator/checkpoint_gate.h"
#include "storage/checkpoint_store.h"

#include <cstdint>
#include <functional>
#include <memory>

namespace fedgan::coordinator {

/// A round's checkpoint, written: the file and how long the write took.
struct CheckpointWrite {
  storage::CheckpointFile file;
  double seconds = 0;
};

/// One checkpoint write in progress.
class CheckpointJob {
 public:
  virtual ~CheckpointJob() = default;
  /// Opens the job's gate and waits for the write; rethrows its failure (a StorageError). Call
  /// once.
  virtual CheckpointWrite wait() = 0;
  /// Whether wait() would return at once.
  virtual bool done() const = 0;
};

/// Where the round engine's checkpoint writes run: the engine owns no thread, so its driver says.
/// The engine starts a round's write once the round is aggregated and takes its result when the
/// round is to be committed in the database (RoundEngine::checkpoint_written, or the next record
/// that must follow the commit).
class CheckpointWriter {
 public:
  virtual ~CheckpointWriter() = default;
  /// Starts writing `state` as round `round`'s checkpoint into `store`. The write waits for
  /// `gate` (at most `hold_limit`), so that it does not compete for the cores with the next
  /// round's dispatch. `store` and the tensors `state` aliases must stay as they are until the job
  /// is waited for.
  virtual std::unique_ptr<CheckpointJob> start(const storage::CheckpointStore& store, int64_t round,
                                               storage::StateDict state,
                                               std::shared_ptr<CheckpointGate> gate) = 0;
};

/// Writes each checkpoint on a thread of its own, and calls `on_written` on that thread after the
/// write (a server posts RoundEngine::checkpoint_written to its io_context from there).
std::unique_ptr<CheckpointWriter> threaded_checkpoint_writer(std::function<void()> on_written);

/// Writes at once, on the calling thread, ignoring the gate: for drivers without a network (the
/// simulator), whose next round's models are "sent" the moment they are dispatched.
std::unique_ptr<CheckpointWriter> inline_checkpoint_writer();

}  // namespace fedgan::coordinator
