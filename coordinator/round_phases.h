#pragma once

#include <chrono>

namespace fedgan::coordinator {

/// Wall time one round attempt spends in each part of the coordinator's own work, in seconds.
/// What is left of a round's wall time beside these and the clients' training is transfer and
/// the clients' own bookkeeping (bench/overhead.sh splits it further with the clients' figures).
struct RoundPhases {
  double dispatch = 0;     // model snapshot taken and the tasks queued to the selected clients
  double validation = 0;   // update headers admitted, metrics and delta norms checked
  double aggregation = 0;  // FedAvg accumulation, the mean, the update of the global model
  double checkpoint = 0;   // checkpoint written (fsync'd, renamed) and old ones pruned
  double database = 0;     // the round's SQLite transactions
};

/// Adds the wall time of its scope to `sink`.
class PhaseTimer {
 public:
  explicit PhaseTimer(double& sink) : sink_(sink), start_(std::chrono::steady_clock::now()) {}
  ~PhaseTimer() {
    sink_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;

 private:
  double& sink_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace fedgan::coordinator
