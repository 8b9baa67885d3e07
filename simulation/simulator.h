#pragma once

#include "coordinator/options.h"
#include "coordinator/round_engine.h"
#include "simulation/simulation_options.h"
#include "simulation/virtual_site.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <vector>

namespace fedgan::simulation {

/// What a simulation cost and produced.
struct SimulationReport {
  int exit_code = 0;  // the engine's: 0 when the run finished
  int64_t rounds_committed = 0;
  double virtual_seconds = 0;   // on the simulation's clock
  double wall_seconds = 0;      // of run()
  double training_seconds = 0;  // wall time of the sites' local rounds (in parallel)
  double engine_seconds = 0;    // wall time inside the engine and its actions, evaluations aside
  double evaluation_seconds = 0;
  double build_seconds = 0;     // loading the data and building the sites
  int64_t tasks_cut_short = 0;  // by a new task or the connection's end before their last step
  int64_t steps_cut_short = 0;  // the steps those tasks had run
  int64_t page_outs = 0;        // sites moved to disk to stay within the memory budget
  double paging_seconds = 0;    // wall time of paging out and in
};

/// Runs N virtual sites against the coordinator's own RoundEngine in one process, on a virtual
/// clock: the engine writes the same SQLite history, checkpoints, evaluations and sample grids as a
/// mutual-TLS run of the same coordinator configuration, and each site trains as fedgan-client
/// with that site's configuration would. Deadlines, stragglers (speed factors) and dropouts play
/// out on the clock without sleeping. A site's local steps follow one another on the clock from the
/// moment its task was sent; a new task or the end of its connection interrupts it between two
/// steps, after the steps that had begun, as it interrupts fedgan-client. Steps run lazily, when
/// an upload is due or a round is cut short, `options.threads` sites at a time (one LibTorch thread
/// each); each site's steps depend only on its own state, so the outcome does not depend on the
/// thread count. Not thread-safe.
class Simulator {
 public:
  /// Validates both configurations, loads the template site's data once and gives each site its
  /// share, builds the sites and the engine (with a checkpoint writer on the calling thread).
  Simulator(const coordinator::CoordinatorOptions& coordinator, const client::ClientOptions& site,
            const SimulationOptions& options);
  ~Simulator();

  /// Called with each committed round's number and checkpoint, on the calling thread.
  void on_commit(std::function<void(int64_t round, const std::filesystem::path& checkpoint)> f) {
    on_commit_ = std::move(f);
  }

  /// Runs until the engine stops (the run finished, or a round failed max_attempts times) or no
  /// event is left. Call once.
  SimulationReport run();

  const coordinator::RoundEngine& engine() const { return *engine_; }

 private:
  enum class EventKind { kUpload, kDropout, kReconnect, kResume };
  struct Event {
    double at = 0;
    uint64_t sequence = 0;  // ties go in the order events were made
    EventKind kind = EventKind::kResume;
    size_t site = 0;
    uint64_t task = 0;  // the site's task serial the event belongs to
    bool operator>(const Event& other) const {
      return at != other.at ? at > other.at : sequence > other.sequence;
    }
  };
  struct SiteSlot;
  struct GlobalValues;

  void connect(size_t site);
  void disconnect(size_t site);
  void carry_out();
  void send_task(size_t site, const wire::Task& task, const wire::Manifest& model);
  int64_t steps_begun_by(const SiteSlot& slot, double time) const;
  void run_steps(const std::vector<std::pair<size_t, int64_t>>& targets);
  void catch_up(size_t site);
  bool finish_in_flight(size_t site);
  void cut_short(size_t site);
  bool report_refusal(const SiteSlot& slot);
  void handle(const Event& event);
  void upload(size_t site);
  void schedule(double at, EventKind kind, size_t site, uint64_t task);
  bool drops(size_t site, uint64_t round, uint64_t task) const;
  void page_in(size_t site);
  void keep_within_budget();

  coordinator::CoordinatorOptions coordinator_options_;
  SimulationOptions options_;
  std::vector<std::unique_ptr<SiteSlot>> sites_;
  std::unique_ptr<coordinator::RoundEngine> engine_;
  std::function<void(int64_t, const std::filesystem::path&)> on_commit_;
  std::function<storage::Evaluation(const coordinator::EvaluateRound&)> evaluate_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::shared_ptr<const GlobalValues> global_;  // the model of round global_round_'s tasks
  uint64_t global_round_ = 0;
  uint64_t sequence_ = 0;
  double start_ = 0;  // unix seconds of virtual time 0
  double now_ = 0;    // unix seconds
  std::optional<double> deadline_;
  coordinator::SessionId last_session_ = 0;
  std::map<coordinator::SessionId, size_t> site_of_session_;  // connected sites
  std::filesystem::path page_dir_;
  bool own_page_dir_ = false;  // made here, removed at the end
  uint64_t uses_ = 0;          // a clock for the least recently used site
  bool stopped_ = false;
  SimulationReport report_;
};

}  // namespace fedgan::simulation
