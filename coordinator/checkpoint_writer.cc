#include "coordinator/checkpoint_writer.h"

#include <chrono>
#include <exception>
#include <future>
#include <thread>

namespace fedgan::coordinator {

namespace {

using Clock = std::chrono::steady_clock;

// Longest a round's checkpoint waits for the next round's model to go out (CheckpointGate): how
// long one client that stalls its download can delay the commit.
constexpr std::chrono::milliseconds kCheckpointHoldLimit{1000};

CheckpointWrite write_timed(const storage::CheckpointStore& store, int64_t round,
                            const storage::StateDict& state) {
  const auto start = Clock::now();
  CheckpointWrite written{store.write(round, state), 0};
  written.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return written;
}

// A write on a thread of its own. The result is set before `on_written` runs, so a driver told of
// the end finds the job done().
class ThreadJob : public CheckpointJob {
 public:
  ThreadJob(const storage::CheckpointStore& store, int64_t round, storage::StateDict state,
            std::shared_ptr<CheckpointGate> gate, std::function<void()> on_written)
      : gate_(std::move(gate)) {
    std::promise<CheckpointWrite> promise;
    write_ = promise.get_future();
    thread_ =
        std::thread([&store, round, state = std::move(state), gate = gate_,
                     on_written = std::move(on_written), promise = std::move(promise)]() mutable {
          gate->wait(kCheckpointHoldLimit);
          try {
            promise.set_value(write_timed(store, round, state));
          } catch (...) {
            promise.set_exception(std::current_exception());
          }
          if (on_written) on_written();
        });
  }
  // The write never outlives the store it writes into, nor the tensors it reads.
  ~ThreadJob() override {
    gate_->open();
    thread_.join();
  }
  CheckpointWrite wait() override {
    gate_->open();
    return write_.get();
  }
  bool done() const override {
    return write_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }

 private:
  std::shared_ptr<CheckpointGate> gate_;
  std::future<CheckpointWrite> write_;
  std::thread thread_;
};

class ThreadWriter : public CheckpointWriter {
 public:
  explicit ThreadWriter(std::function<void()> on_written) : on_written_(std::move(on_written)) {}
  std::unique_ptr<CheckpointJob> start(const storage::CheckpointStore& store, int64_t round,
                                       storage::StateDict state,
                                       std::shared_ptr<CheckpointGate> gate) override {
    return std::make_unique<ThreadJob>(store, round, std::move(state), std::move(gate),
                                       on_written_);
  }

 private:
  std::function<void()> on_written_;
};

class DoneJob : public CheckpointJob {
 public:
  explicit DoneJob(CheckpointWrite written) : written_(std::move(written)) {}
  explicit DoneJob(std::exception_ptr failure) : failure_(std::move(failure)) {}
  CheckpointWrite wait() override {
    if (failure_) std::rethrow_exception(failure_);
    return written_;
  }
  bool done() const override { return true; }

 private:
  CheckpointWrite written_;
  std::exception_ptr failure_;
};

class InlineWriter : public CheckpointWriter {
 public:
  std::unique_ptr<CheckpointJob> start(const storage::CheckpointStore& store, int64_t round,
                                       storage::StateDict state,
                                       std::shared_ptr<CheckpointGate>) override {
    try {
      return std::make_unique<DoneJob>(write_timed(store, round, state));
    } catch (...) {
      return std::make_unique<DoneJob>(std::current_exception());
    }
  }
};

}  // namespace

std::unique_ptr<CheckpointWriter> threaded_checkpoint_writer(std::function<void()> on_written) {
  return std::make_unique<ThreadWriter>(std::move(on_written));
}

std::unique_ptr<CheckpointWriter> inline_checkpoint_writer() {
  return std::make_unique<InlineWriter>();
}

}  // namespace fedgan::coordinator
