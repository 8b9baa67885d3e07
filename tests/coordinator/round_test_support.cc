#include "tests/coordinator/round_test_support.h"

#include "storage/checkpoint_store.h"
#include "storage/history.h"
#include "storage/schema.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace fedgan::coordinator::testing {

namespace fs = std::filesystem;
using protocol::testing::test_pki;

TempDir::TempDir() {
  std::random_device random;
  path_ = fs::temp_directory_path() / ("fedgan-coordinator-test-" + std::to_string(random()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

CoordinatorOptions test_options(const fs::path& dir) {
  CoordinatorOptions options;
  options.server.port = 0;
  options.server.heartbeat_interval_seconds = 1;
  options.tls.ca_file = test_pki().ca();
  options.tls.certificate_file = test_pki().cert("coordinator");
  options.tls.private_key_file = test_pki().key("coordinator");
  options.rounds.min_clients = 2;
  options.rounds.min_per_round = 1;
  options.rounds.deadline_seconds = 20;
  options.rounds.max_rounds = 1;
  options.model.architecture = Architecture::kMlp;
  options.storage.database = dir / "fedgan.db";
  options.storage.checkpoint_dir = dir / "checkpoints";
  options.storage.run_id = "test-run";
  return options;
}

RunningCoordinator::RunningCoordinator(const CoordinatorOptions& options)
    : RunningCoordinator(options, {}) {}

RunningCoordinator::RunningCoordinator(
    const CoordinatorOptions& options,
    std::function<storage::Evaluation(const EvaluateRound&)> evaluate)
    : coordinator_(std::make_unique<Coordinator>(options, io_.io(), std::move(evaluate))) {
  coordinator_->on_stopped([stopped = stopped_](int code) { stopped->push(code); });
  coordinator_->start();
}

RunningCoordinator::~RunningCoordinator() {
  coordinator_->stop("test over");
}

std::optional<int> RunningCoordinator::wait_stopped(std::chrono::milliseconds timeout) {
  return stopped_->pop(timeout);
}

ThreeClients::ThreeClients(RunningCoordinator& coordinator) {
  const char* sites[] = {"site-1", "site-2", "site-3"};
  for (size_t i = 0; i < 3; ++i) {
    clients[i] = std::make_unique<FakeClient>(coordinator.io(), sites[i], coordinator.port());
  }
  for (size_t i = 0; i < 3; ++i) tasks[i] = clients[i]->wait_task();
}

std::vector<storage::Round> rounds_of(const CoordinatorOptions& options) {
  auto db = storage::open_database(options.storage.database.string(), {5000, true});
  storage::History history(db);
  return history.rounds(options.storage.run_id);
}

std::vector<storage::Event> events_of(const CoordinatorOptions& options) {
  auto db = storage::open_database(options.storage.database.string(), {5000, true});
  storage::History history(db);
  return history.events(options.storage.run_id);
}

nlohmann::json metrics_of(const storage::Round& round) {
  return nlohmann::json::parse(round.metrics_json.value_or("{}"));
}

std::vector<storage::Update> updates_of(const CoordinatorOptions& options, int64_t round_id) {
  auto db = storage::open_database(options.storage.database.string(), {5000, true});
  storage::History history(db);
  return history.updates(round_id);
}

// The federated tensors of a committed round's checkpoint, in manifest order.
std::vector<std::vector<float>> committed_model(const storage::Round& round,
                                                const wire::Manifest& manifest) {
  const auto state =
      storage::CheckpointStore::load(*round.checkpoint_path, *round.checkpoint_sha256);
  std::vector<std::vector<float>> model;
  for (const auto& spec : manifest.tensors()) {
    const auto* tensor = state.find(spec.name());
    EXPECT_NE(tensor, nullptr) << spec.name();
    if (!tensor) return {};
    const auto flat = tensor->contiguous().view(-1);
    model.emplace_back(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
  }
  return model;
}

// old + (sum_i w_i d_i) / (sum_i w_i), in double, rounded once: what FedAvg must produce.
std::vector<std::vector<float>> expected_model(
    const ReceivedTask& task,
    const std::vector<std::pair<double, std::vector<std::vector<float>>>>& deltas) {
  std::vector<std::vector<float>> model = task.model;
  double total = 0;
  for (const auto& entry : deltas) total += entry.first;
  for (size_t t = 0; t < model.size(); ++t) {
    for (size_t i = 0; i < model[t].size(); ++i) {
      double sum = 0;
      for (const auto& [weight, delta] : deltas) sum += weight * static_cast<double>(delta[t][i]);
      model[t][i] = static_cast<float>(static_cast<double>(task.model[t][i]) + sum / total);
    }
  }
  return model;
}

float wave(size_t tensor, size_t index, float scale) {
  return scale * std::sin(static_cast<float>(tensor * 131 + index) * 0.37f) * 1e-2f;
}

}  // namespace fedgan::coordinator::testing
