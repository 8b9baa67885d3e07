#pragma once

// The simulator's record of one virtual site, shared by its two source files (simulator.cc: the
// engine's actions and the event queue; simulator_steps.cc: when sites' steps run, and their
// memory). Not part of the library's face.

#include "coordinator/round_engine.h"
#include "protocol/tensor_records.h"
#include "simulation/simulator.h"
#include "simulation/virtual_site.h"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::simulation {

namespace detail {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace detail

// The global model as a round's tasks carried it (fp32 bytes): a site trains from these values even
// when it starts after a later commit changed the engine's model. Rounds change the model only when
// they commit, so the copy is made once per round number.
struct Simulator::GlobalValues {
  explicit GlobalValues(const std::vector<protocol::ConstTensorView>& global) {
    for (const auto& view : global) {
      const auto bytes =
          static_cast<size_t>(protocol::encoded_tensor_bytes(view.spec, wire::CODEC_FP32));
      const auto* first = static_cast<const unsigned char*>(view.data);
      storage.emplace_back(first, first + bytes);
    }
    for (size_t i = 0; i < global.size(); ++i) views.push_back({global[i].spec, storage[i].data()});
  }
  std::vector<std::vector<unsigned char>> storage;
  std::vector<protocol::ConstTensorView> views;
};

struct Simulator::SiteSlot {
  std::unique_ptr<VirtualSite> site;
  uint64_t last_used = 0;              // Simulator::uses_ when the site last trained or uploaded
  coordinator::SessionId session = 0;  // 0 while disconnected
  uint64_t task_serial = 0;
  wire::Task task;
  // The task in flight: sent at `sent_at`, its `steps` steps follow one another on the clock, one
  // every `step_seconds`, the last one ending at `due_at`. The site runs them lazily (see
  // catch_up), started or not.
  bool in_flight = false;
  bool started = false;
  bool refused = false;                        // by start(), not reported yet
  std::shared_ptr<const GlobalValues> global;  // what the task carried, until started
  double sent_at = 0;
  double step_seconds = 0;
  double due_at = 0;
  int64_t steps = 0;
  std::optional<TrainedTask> trained;  // of the last task finished complete
  std::string why;                     // when a task was not trained to the end
};

}  // namespace fedgan::simulation
