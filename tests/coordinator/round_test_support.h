#pragma once

// Shared by the coordinator's round tests: a temporary directory, test options, a coordinator on
// its own io thread, and readers of what the run left in the database and checkpoints.

#include "coordinator/coordinator.h"
#include "storage/records.h"
#include "tests/coordinator/fake_client.h"

#include <nlohmann/json.hpp>

#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace fedgan::coordinator::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A 2-D MLP GAN federation on 127.0.0.1 (any free port) with the test PKI: 2 clients, one round.
CoordinatorOptions test_options(const std::filesystem::path& dir);

/// A coordinator on its own io thread; stopped and joined when the test ends.
class RunningCoordinator {
 public:
  explicit RunningCoordinator(const CoordinatorOptions& options);
  /// With another evaluation than the configured one (Coordinator's second constructor).
  RunningCoordinator(const CoordinatorOptions& options,
                     std::function<storage::Evaluation(const EvaluateRound&)> evaluate);
  ~RunningCoordinator();
  boost::asio::io_context& io() { return io_.io(); }
  uint16_t port() const { return coordinator_->port(); }
  /// The exit code once the coordinator stopped, or nullopt after `timeout`.
  std::optional<int> wait_stopped(std::chrono::milliseconds timeout = std::chrono::seconds(30));

 private:
  protocol::testing::IoThread io_;
  std::shared_ptr<Mailbox<int>> stopped_ = std::make_shared<Mailbox<int>>();
  std::unique_ptr<Coordinator> coordinator_;
};

/// site-1, site-2 and site-3 connected to `coordinator`, and the first task each receives.
struct ThreeClients {
  explicit ThreeClients(RunningCoordinator& coordinator);
  bool tasks_arrived() const { return tasks[0] && tasks[1] && tasks[2]; }
  std::array<std::unique_ptr<FakeClient>, 3> clients;
  std::array<std::optional<ReceivedTask>, 3> tasks;
};

std::vector<storage::Round> rounds_of(const CoordinatorOptions& options);
/// A committed round's `metrics` JSON, parsed (an empty object when it has none).
nlohmann::json metrics_of(const storage::Round& round);
std::vector<storage::Update> updates_of(const CoordinatorOptions& options, int64_t round_id);
/// The run's events, in the order they were logged.
std::vector<storage::Event> events_of(const CoordinatorOptions& options);

/// The federated tensors of a committed round's checkpoint, in manifest order.
std::vector<std::vector<float>> committed_model(const storage::Round& round,
                                                const wire::Manifest& manifest);

/// old + (sum_i w_i d_i) / (sum_i w_i), in double, rounded once: what FedAvg must produce.
std::vector<std::vector<float>> expected_model(
    const ReceivedTask& task,
    const std::vector<std::pair<double, std::vector<std::vector<float>>>>& deltas);

/// A deterministic, varied delta value.
float wave(size_t tensor, size_t index, float scale);

}  // namespace fedgan::coordinator::testing
