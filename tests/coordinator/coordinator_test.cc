// The coordinator's round state machine with in-process fake clients over real loopback mutual
// TLS: commit with the exact weighted mean, deadline and failed rounds, quorum and late uploads,
// clients leaving, and one test per rejection reason proving the aggregate is unchanged.

#include "coordinator/coordinator.h"
#include "coordinator/global_model.h"
#include "protocol/metric_names.h"
#include "storage/checkpoint_store.h"
#include "storage/database.h"
#include "storage/history.h"
#include "storage/schema.h"
#include "tests/coordinator/fake_client.h"
#include "tests/coordinator/round_test_support.h"

#include <fmt/format.h>
#include <gmock/gmock.h>

#include <cmath>
#include <random>

namespace fedgan::coordinator::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

TEST(Coordinator, CommitsTheExactWeightedMeanOfTheDeltas) {
  TempDir dir;
  const auto options = test_options(dir.path());
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port(), 300);
  FakeClient b(coordinator.io(), "site-2", coordinator.port(), 100);
  auto task_a = a.wait_task();
  auto task_b = b.wait_task();
  ASSERT_TRUE(task_a && task_b);
  EXPECT_EQ(task_a->task.round(), 1u);
  EXPECT_NE(task_a->task.nonce(), task_b->task.nonce());
  EXPECT_EQ(task_a->model, task_b->model);

  Upload upload_a{make_delta(*task_a, [](size_t t, size_t i) { return wave(t, i, 1.0f); }), 3};
  upload_a.metrics = {{protocol::metric::kGeneratorLoss, 0.75},
                      {protocol::metric::kDiscriminatorLoss, 1.25}};
  Upload upload_b{make_delta(*task_b, [](size_t t, size_t i) { return wave(t, i, -2.0f); }), 1};
  const auto status_a = a.upload(*task_a, upload_a);
  EXPECT_EQ(status_a.code(), wire::STATUS_OK) << status_a.message();
  EXPECT_EQ(b.upload(*task_b, upload_b).code(), wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  // The last round committed: each site is told the run is over by the Goodbye's code.
  for (FakeClient* site : {&a, &b}) {
    const auto goodbye = site->wait_closed();
    ASSERT_TRUE(goodbye);
    EXPECT_EQ(goodbye->kind(), protocol::TransportErrorKind::kClosedByPeer) << goodbye->what();
    EXPECT_EQ(goodbye->status(), wire::STATUS_RUN_FINISHED) << goodbye->what();
  }

  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(storage::to_string(rounds[0].status), "committed");
  EXPECT_EQ(rounds[0].updates_accepted, 2);
  EXPECT_EQ(rounds[0].samples_accepted, 4);
  const auto committed = committed_model(rounds[0], task_a->task.model());
  const auto expected = expected_model(*task_a, {{3.0, upload_a.delta}, {1.0, upload_b.delta}});
  ASSERT_EQ(committed.size(), expected.size());
  for (size_t t = 0; t < expected.size(); ++t)
    EXPECT_EQ(committed[t], expected[t]) << "tensor " << t;
  const auto updates = updates_of(options, rounds[0].round_id);
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_TRUE(updates[0].accepted && updates[1].accepted);
}

TEST(Coordinator, ServerAdamStepsTheWeightsAndAveragesTheRunningStatistics) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.model.architecture = Architecture::kDcgan;  // has BatchNorm running statistics
  options.training.optimizer = SiteOptimizer::kSgd;
  options.aggregation.server_optimizer = ServerOptimizer::kAdam;
  options.aggregation.server_lr = 0.01;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port(), 300);
  FakeClient b(coordinator.io(), "site-2", coordinator.port(), 100);
  auto task_a = a.wait_task();
  auto task_b = b.wait_task();
  ASSERT_TRUE(task_a && task_b);
  EXPECT_EQ(task_a->task.training().optimizer(), wire::OPTIMIZER_SGD);
  const Upload upload_a{make_delta(*task_a, [](size_t t, size_t i) { return wave(t, i, 1.0f); }),
                        3};
  const Upload upload_b{make_delta(*task_b, [](size_t t, size_t i) { return wave(t, i, -0.5f); }),
                        1};
  EXPECT_EQ(a.upload(*task_a, upload_a).code(), wire::STATUS_OK);
  EXPECT_EQ(b.upload(*task_b, upload_b).code(), wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);

  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  const auto committed = committed_model(rounds[0], task_a->task.model());
  const auto& manifest = task_a->task.model();
  ASSERT_EQ(committed.size(), static_cast<size_t>(manifest.tensors_size()));
  size_t statistics = 0;
  for (size_t t = 0; t < committed.size(); ++t) {
    const bool running =
        manifest.tensors(static_cast<int>(t)).name().find(".running_") != std::string::npos;
    statistics += running;
    for (size_t i = 0; i < committed[t].size(); ++i) {
      const double mean =
          static_cast<float>((3.0 * upload_a.delta[t][i] + 1.0 * upload_b.delta[t][i]) / 4.0);
      // Adam's first bias-corrected step is lr * d / (|d| + epsilon); statistics take the mean.
      const double change = running ? mean : 0.01 * mean / (std::abs(mean) + 1e-8);
      const double expected = static_cast<double>(task_a->model[t][i]) + change;
      ASSERT_NEAR(committed[t][i], expected, 1e-6 * std::max(1.0, std::abs(expected)))
          << manifest.tensors(static_cast<int>(t)).name() << "[" << i << "]";
    }
  }
  EXPECT_EQ(statistics, 6u);  // running_mean and running_var of the DCGAN's three BatchNorms
}

// Checks a committed model against a round that trained `networks`: its own weights and every
// running statistic are the weighted mean, the other network's weights are as before the round.
void expect_moved_only(const std::string& networks, const wire::Manifest& manifest,
                       const std::vector<std::vector<float>>& before,
                       const std::vector<std::vector<float>>& mean,
                       const std::vector<std::vector<float>>& committed) {
  ASSERT_EQ(committed.size(), before.size());
  size_t moved = 0, kept = 0;
  for (size_t t = 0; t < committed.size(); ++t) {
    const std::string& name = manifest.tensors(static_cast<int>(t)).name();
    const bool statistic = name.find(".running_") != std::string::npos;
    if (statistic || name.rfind(networks + ".", 0) == 0) {
      EXPECT_EQ(committed[t], mean[t]) << networks << " round: " << name;
      ++moved;
    } else {
      EXPECT_EQ(committed[t], before[t]) << networks << " round: " << name;
      ++kept;
    }
  }
  EXPECT_GT(moved, 6u);  // more than the six running statistics
  EXPECT_GT(kept, 0u);
}

TEST(Coordinator, AlternatingRoundsMoveOnlyTheirNetworksWeightsAndEveryRunningStatistic) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.model.architecture =
      Architecture::kDcgan;  // has BatchNorm running statistics in both networks
  options.training.networks = Networks::kAlternate;
  options.rounds.max_rounds = 2;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port(), 300);
  FakeClient b(coordinator.io(), "site-2", coordinator.port(), 100);

  // Deltas are non-zero everywhere, as a hostile site might send: a round must still move only
  // the network it trains, and the running statistics, which any training step changes.
  std::optional<ReceivedTask> first;
  std::vector<std::vector<float>> first_mean;
  for (const auto networks :
       {wire::TRAINED_NETWORKS_DISCRIMINATOR, wire::TRAINED_NETWORKS_GENERATOR}) {
    auto task_a = a.wait_task();
    auto task_b = b.wait_task();
    ASSERT_TRUE(task_a && task_b) << wire::TrainedNetworks_Name(networks);
    EXPECT_EQ(task_a->task.training().networks(), networks);
    // Round 2's download is round 1's commit.
    if (first) {
      expect_moved_only("discriminator", first->task.model(), first->model, first_mean,
                        task_a->model);
    }
    const Upload upload_a{make_delta(*task_a, [](size_t t, size_t i) { return wave(t, i, 1.0f); }),
                          3};
    const Upload upload_b{make_delta(*task_b, [](size_t t, size_t i) { return wave(t, i, -2.0f); }),
                          1};
    EXPECT_EQ(a.upload(*task_a, upload_a).code(), wire::STATUS_OK);
    EXPECT_EQ(b.upload(*task_b, upload_b).code(), wire::STATUS_OK);
    const auto mean = expected_model(*task_a, {{3.0, upload_a.delta}, {1.0, upload_b.delta}});
    if (!first) {
      first = task_a;
      first_mean = mean;
      continue;
    }
    ASSERT_EQ(coordinator.wait_stopped(), 0);
    const auto rounds = rounds_of(options);
    ASSERT_EQ(rounds.size(), 2u);
    expect_moved_only("generator", task_a->task.model(), task_a->model, mean,
                      committed_model(rounds[1], task_a->task.model()));
    EXPECT_EQ(metrics_of(rounds[0])["networks"], "discriminator");
    EXPECT_EQ(metrics_of(rounds[1])["networks"], "generator");
  }
}

TEST(Coordinator, EachRoundSendsThePreviousCommitAndTheDatabaseSeesRoundsInOrder) {
  // Round r + 1 is sent while round r's checkpoint is still being written; what it sends must
  // still be exactly round r's committed model, and the history must read as if the rounds ran
  // one after the other.
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.max_rounds = 4;
  options.storage.keep_last = 4;  // every round's checkpoint, to compare with the next download
  options.aggregation.server_lr_decay = LrDecay::kLinear;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port(), 300);
  FakeClient b(coordinator.io(), "site-2", coordinator.port(), 100);
  std::vector<ReceivedTask> downloads;
  for (int round = 1; round <= 4; ++round) {
    auto task_a = a.wait_task();
    auto task_b = b.wait_task();
    ASSERT_TRUE(task_a && task_b) << "round " << round;
    ASSERT_EQ(task_a->task.round(), static_cast<uint64_t>(round));
    EXPECT_EQ(task_a->model, task_b->model);
    const float scale = static_cast<float>(round);
    EXPECT_EQ(
        a.upload(*task_a,
                 {make_delta(*task_a, [&](size_t t, size_t i) { return wave(t, i, scale); }), 3})
            .code(),
        wire::STATUS_OK);
    EXPECT_EQ(
        b.upload(*task_b,
                 {make_delta(*task_b, [&](size_t t, size_t i) { return wave(t, i, -scale); }), 1})
            .code(),
        wire::STATUS_OK);
    downloads.push_back(*task_a);
  }
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 4u);
  for (size_t r = 0; r < rounds.size(); ++r) {
    EXPECT_EQ(rounds[r].round, static_cast<int64_t>(r + 1));
    EXPECT_EQ(storage::to_string(rounds[r].status), "committed");
    EXPECT_EQ(rounds[r].attempt, 1);
    EXPECT_EQ(rounds[r].updates_accepted, 2);
    // Linear decay over 4 rounds: 1, 0.75, 0.5, 0.25.
    EXPECT_EQ(metrics_of(rounds[r])["server_lr"], 1.0 - 0.25 * static_cast<double>(r));
    if (r > 0) {
      EXPECT_GT(rounds[r].round_id, rounds[r - 1].round_id);
    }
    // Round r + 1 downloaded exactly what round r committed.
    if (r + 1 < rounds.size()) {
      EXPECT_EQ(committed_model(rounds[r], downloads[r].task.model()), downloads[r + 1].model)
          << "round " << r + 1;
    }
  }
}

TEST(Coordinator, AGlobalModelTheCodecCannotCarryStopsTheRunWithTheReason) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.model.codec = ModelCodec::kFp16;
  // Finite, so the checkpoint loads, but beyond fp16's largest value (65504): no round can send it.
  auto state = GlobalModel(options.model).state_dict();
  auto weight = state["generator.net.0.weight"].clone();
  weight.view(-1)[0] = 1e6f;
  state["generator.net.0.weight"] = weight;
  const storage::CheckpointStore init_store(dir.path() / "init");
  options.model.init_checkpoint = init_store.write(1, state).path;

  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port(), 300);
  FakeClient b(coordinator.io(), "site-2", coordinator.port(), 100);
  ASSERT_EQ(coordinator.wait_stopped(), 1);
  EXPECT_TRUE(rounds_of(options).empty());  // refused before the attempt began
  storage::DatabaseOptions read_only;
  read_only.read_only = true;
  storage::Database db(options.storage.database.string(), read_only);
  auto stopped = db.prepare("SELECT message FROM events WHERE kind = 'coordinator_stopped'");
  ASSERT_TRUE(stopped.step());
  EXPECT_THAT(stopped.column<std::string>(0), HasSubstr("the global model cannot be sent"));
  EXPECT_THAT(stopped.column<std::string>(0), HasSubstr("generator.net.0.weight"));
}

TEST(Coordinator, DeadlineWithoutQuorumFailsTheAttemptAndRetriesIt) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.deadline_seconds = 1.5;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port());
  FakeClient b(coordinator.io(), "site-2", coordinator.port());
  auto first_a = a.wait_task();
  auto first_b = b.wait_task();
  ASSERT_TRUE(first_a && first_b);
  EXPECT_EQ(a.upload(*first_a, {make_delta(*first_a, [](size_t, size_t) { return 0.01f; })}).code(),
            wire::STATUS_OK);
  // site-2 stays silent: at the deadline the attempt fails and a second attempt starts.
  auto second_a = a.wait_task(10s);
  auto second_b = b.wait_task(10s);
  ASSERT_TRUE(second_a && second_b);
  EXPECT_EQ(second_a->task.round(), 1u);
  EXPECT_NE(second_a->task.nonce(), first_a->task.nonce());
  // The first attempt's upload of site-2, late, carries the old nonce.
  EXPECT_EQ(b.upload(*first_b, {make_delta(*first_b, [](size_t, size_t) { return 0.01f; })}).code(),
            wire::STATUS_STALE_NONCE);
  EXPECT_EQ(
      a.upload(*second_a, {make_delta(*second_a, [](size_t, size_t) { return 0.02f; })}).code(),
      wire::STATUS_OK);
  EXPECT_EQ(
      b.upload(*second_b, {make_delta(*second_b, [](size_t, size_t) { return 0.04f; })}).code(),
      wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(storage::to_string(rounds[0].status), "failed");
  EXPECT_THAT(*rounds[0].failure_reason, HasSubstr("deadline"));
  EXPECT_EQ(storage::to_string(rounds[1].status), "committed");
  EXPECT_EQ(rounds[1].attempt, 2);
}

TEST(Coordinator, CommitsAtQuorumAndRefusesTheStragglersLateUpload) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.rounds.quorum = 2;
  options.rounds.max_rounds = 2;
  RunningCoordinator coordinator(options);
  ThreeClients clients(coordinator);
  ASSERT_TRUE(clients.tasks_arrived());
  auto& [a, b, c] = clients.clients;
  auto& [ta, tb, tc] = clients.tasks;
  const auto zero = [](const ReceivedTask& t) {
    return make_delta(t, [](size_t, size_t) { return 0.f; });
  };
  EXPECT_EQ(a->upload(*ta, {zero(*ta)}).code(), wire::STATUS_OK);
  EXPECT_EQ(b->upload(*tb, {zero(*tb)}).code(), wire::STATUS_OK);
  // Round 1 committed at quorum; round 2's tasks are out. site-3's round-1 upload is late.
  auto ta2 = a->wait_task();
  auto tb2 = b->wait_task();
  ASSERT_TRUE(ta2 && tb2 && c->wait_task());
  const auto late = c->upload(*tc, {zero(*tc)});
  EXPECT_EQ(late.code(), wire::STATUS_WRONG_ROUND) << late.message();
  EXPECT_EQ(a->upload(*ta2, {zero(*ta2)}).code(), wire::STATUS_OK);
  EXPECT_EQ(b->upload(*tb2, {zero(*tb2)}).code(), wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(storage::to_string(rounds[0].status), "committed");
  EXPECT_EQ(rounds[0].updates_accepted, 2);
  // The late upload carries round 1's nonce: it is filed under round 1, not the round running.
  EXPECT_EQ(rounds[0].updates_rejected, 1);
  const auto updates = updates_of(options, rounds[0].round_id);
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[2].reject_reason, "WRONG_ROUND");
  EXPECT_EQ(updates[2].client, "site-3");
  EXPECT_EQ(rounds[1].updates_accepted, 2);
  EXPECT_EQ(rounds[1].updates_rejected, 0);
}

TEST(Coordinator, ClientLeavingMidRoundFailsItWithoutWaitingForTheDeadline) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.deadline_seconds = 60;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port());
  auto b = std::make_unique<FakeClient>(coordinator.io(), "site-2", coordinator.port());
  auto ta = a.wait_task();
  ASSERT_TRUE(ta && b->wait_task());
  b.reset();  // leaves before uploading: the quorum (both) is now unreachable
  for (int i = 0; i < 100; ++i) {
    const auto rounds = rounds_of(options);
    if (!rounds.empty() && storage::to_string(rounds[0].status) == "failed") break;
    std::this_thread::sleep_for(50ms);
  }
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(storage::to_string(rounds[0].status), "failed");
  EXPECT_THAT(*rounds[0].failure_reason, HasSubstr("unreachable"));
  // It comes back, and the round is run again.
  FakeClient back(coordinator.io(), "site-2", coordinator.port());
  auto retry_a = a.wait_task();
  auto retry_b = back.wait_task();
  ASSERT_TRUE(retry_a && retry_b);
  EXPECT_EQ(retry_a->task.round(), 1u);
}

TEST(Coordinator, EvaluatesTheGlobalGeneratorAfterTheCommitAndStoresTheFigures) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.evaluation.every_rounds = 1;
  options.evaluation.dataset = EvaluationDataset::kGrid;
  options.evaluation.samples = 500;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port());
  FakeClient b(coordinator.io(), "site-2", coordinator.port());
  auto ta = a.wait_task();
  auto tb = b.wait_task();
  ASSERT_TRUE(ta && tb);
  EXPECT_EQ(
      a.upload(*ta, {make_delta(*ta, [](size_t t, size_t i) { return wave(t, i, 1.0f); })}).code(),
      wire::STATUS_OK);
  EXPECT_EQ(
      b.upload(*tb, {make_delta(*tb, [](size_t t, size_t i) { return wave(t, i, 2.0f); })}).code(),
      wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  const auto& figures = rounds[0].evaluation;
  ASSERT_TRUE(figures.modes_captured && figures.high_quality_fraction);
  EXPECT_GE(*figures.modes_captured, 0);
  EXPECT_LE(*figures.modes_captured, 25);
  EXPECT_GE(*figures.high_quality_fraction, 0.0);
  EXPECT_LE(*figures.high_quality_fraction, 1.0);
  ASSERT_TRUE(rounds[0].sample_grid_path);
  EXPECT_TRUE(std::filesystem::exists(*rounds[0].sample_grid_path));
  EXPECT_EQ(std::filesystem::path(*rounds[0].sample_grid_path).parent_path(),
            std::filesystem::path(*rounds[0].checkpoint_path).parent_path());
}

}  // namespace
}  // namespace fedgan::coordinator::testing
