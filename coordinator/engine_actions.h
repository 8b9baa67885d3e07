#pragma once

// What the round engine (round_engine.h) asks of the driver that runs it. The engine decides; the
// driver does: it owns the connections, the timers, the threads and the clock. Actions come out
// in the order the driver must carry them out.

#include "coordinator/model_snapshot.h"
#include "protocol/fedgan.pb.h"
#include "storage/records.h"
#include "storage/state_dict_file.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace fedgan::coordinator {

namespace wire = protocol::wire;

/// A greeted connection as the engine knows it: a number the driver gives each connection, never
/// reused within a process.
using SessionId = uint64_t;

/// The Ack that answers a Hello.
struct SendWelcome {
  SessionId session = 0;
  std::string message;
};

/// A Task and the global model behind it. `on_model_queued` (may be empty) is to be called once
/// the model's last chunk has been taken for writing, from any thread; never if the session ends
/// first. Until it is, the previous round's checkpoint write waits (CheckpointGate).
struct SendTask {
  SessionId session = 0;
  wire::Task task;
  std::shared_ptr<ModelSnapshot> model;
  std::function<void()> on_model_queued;
};

/// Ends the upload `session` has in flight for the round attempt `attempt`, if it is still being
/// received: its row is written, its buffer is to be freed and its TransferEnd answered with
/// `verdict`.
struct AbandonUpload {
  SessionId session = 0;
  uint64_t attempt = 0;
  wire::Status verdict;
};

/// Closes one session with a Goodbye.
struct CloseSession {
  SessionId session = 0;
  wire::StatusCode code = wire::STATUS_OK;
  std::string message;
};

/// The running attempt's deadline: the driver calls RoundEngine::time_advanced() once its clock
/// reaches `at` (unix seconds). A later SetDeadline replaces an earlier one.
struct SetDeadline {
  double at = 0;
};

/// A committed round's generator to evaluate, off the thread that serves sessions: the driver
/// evaluates `state` (a copy of the global model as committed, both networks), writes the sample
/// picture to `grid_png` and answers with RoundEngine::evaluation_done() or evaluation_failed().
struct EvaluateRound {
  int64_t round = 0;
  int64_t round_id = 0;
  storage::StateDict state;
  std::filesystem::path grid_png;
  uint64_t seed = 0;
};

/// Round `round` is committed: its checkpoint is durable at `checkpoint` and its row says so.
/// For drivers that follow the model (the simulator's tests); nothing is to be done.
struct RoundCommitted {
  int64_t round = 0;
  std::filesystem::path checkpoint;
};

/// A line for the operator's console (stdout).
struct ConsoleLine {
  std::string text;
  bool error = false;  // for stderr
};

/// The engine has stopped: close every session with a Goodbye of `code` and `message`, stop
/// accepting connections and timers, and end the process with `exit_code`. The last action.
struct StopServing {
  int exit_code = 0;
  wire::StatusCode code = wire::STATUS_OK;
  std::string message;
};

/// Calls RoundEngine::resume() after the actions before it have been carried out (after the
/// current handler, on a server): the next round starts only once the Ack of the upload that
/// completed this one is on its way.
struct ResumeLater {};

using EngineAction =
    std::variant<SendWelcome, SendTask, AbandonUpload, CloseSession, SetDeadline, EvaluateRound,
                 RoundCommitted, ConsoleLine, StopServing, ResumeLater>;
using EngineActions = std::vector<EngineAction>;

}  // namespace fedgan::coordinator
