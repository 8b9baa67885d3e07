#include "coordinator/checkpoint_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace fedgan::coordinator {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Long enough that a wait which ends early was ended by the gate, not by the limit.
constexpr milliseconds kLongLimit{10000};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(CheckpointGate, OpensWhenTheLastSendIsDoneAndNotBefore) {
  CheckpointGate gate;
  gate.await_sends(3);
  std::atomic<bool> passed{false};
  std::thread writer([&] {
    gate.wait(kLongLimit);
    passed = true;
  });
  gate.send_done();
  gate.send_done();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(passed) << "two of three sends done: the write must still wait";
  const auto last = Clock::now();
  gate.send_done();
  writer.join();
  EXPECT_TRUE(passed);
  EXPECT_LT(seconds_since(last), 5.0);
}

TEST(CheckpointGate, NoSendsToAwaitOpensAtOnce) {
  CheckpointGate gate;
  gate.await_sends(0);
  const auto start = Clock::now();
  gate.wait(kLongLimit);
  EXPECT_LT(seconds_since(start), 5.0);
}

TEST(CheckpointGate, OpenReleasesAWriterWhoseSendsAreNotDone) {
  CheckpointGate gate;
  gate.await_sends(2);
  gate.send_done();
  std::thread opener([&] {
    std::this_thread::sleep_for(milliseconds(20));
    gate.open();
  });
  const auto start = Clock::now();
  gate.wait(kLongLimit);
  opener.join();
  EXPECT_LT(seconds_since(start), 5.0);
  gate.send_done();  // a send that ends after the gate opened changes nothing
  gate.wait(kLongLimit);
}

TEST(CheckpointGate, AStalledSendDelaysTheWriteByTheLimitOnly) {
  CheckpointGate gate;
  gate.await_sends(1);  // never done: a client that stops reading its model
  const auto start = Clock::now();
  gate.wait(milliseconds(100));
  const double waited = seconds_since(start);
  EXPECT_GE(waited, 0.099);
  EXPECT_LT(waited, 5.0);
}

TEST(CheckpointGate, OpenedBeforeTheSendsAreCountedStaysOpen) {
  // settle_pending_commit may open the gate before the next round counts its sends.
  CheckpointGate gate;
  gate.open();
  gate.await_sends(4);
  const auto start = Clock::now();
  gate.wait(kLongLimit);
  EXPECT_LT(seconds_since(start), 5.0);
}

}  // namespace
}  // namespace fedgan::coordinator
