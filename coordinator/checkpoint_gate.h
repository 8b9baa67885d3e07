#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace fedgan::coordinator {

/// Holds a round's checkpoint write back while the next round's model goes out. Both want the
/// coordinator's cores at the same moment: the write serialises, digests and copies the whole
/// model, and encrypting the model once per client is what every client of the next round waits
/// for. The write has a round's time to finish, so it waits for the sends to be done, or for
/// open(), or at most a bounded time, so that a client that stalls its download delays the commit
/// by no more than that. Thread-safe: opened from any io thread, waited on by the writer.
class CheckpointGate {
 public:
  /// Opens after `count` calls of send_done(), or now when `count` is 0. Called once, by the
  /// round that dispatches its model while the checkpoint waits.
  void await_sends(size_t count);
  /// One client's model is queued whole; the last one opens the gate.
  void send_done();
  /// Opens now: the commit is wanted (the next round commits, the run ends, no round started).
  void open();
  /// Blocks until the gate is open or `limit` has passed.
  void wait(std::chrono::milliseconds limit);

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  bool open_ = false;
  size_t sends_left_ = 0;
};

}  // namespace fedgan::coordinator
