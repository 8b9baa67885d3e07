#include "coordinator/checkpoint_gate.h"

namespace fedgan::coordinator {

void CheckpointGate::await_sends(size_t count) {
  std::lock_guard lock(mutex_);
  sends_left_ = count;
  if (count == 0) open_ = true;
  if (open_) opened_.notify_all();
}

void CheckpointGate::send_done() {
  std::lock_guard lock(mutex_);
  if (sends_left_ == 0) return;  // opened already, or a send counted twice
  if (--sends_left_ == 0) {
    open_ = true;
    opened_.notify_all();
  }
}

void CheckpointGate::open() {
  std::lock_guard lock(mutex_);
  open_ = true;
  opened_.notify_all();
}

void CheckpointGate::wait(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  opened_.wait_for(lock, limit, [this] { return open_; });
}

}  // namespace fedgan::coordinator
