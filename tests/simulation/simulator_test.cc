// fedgan-simulate's driver against the real round engine, SQLite history and checkpoints: a
// dropout fails a round for quorum exactly as a site that disconnects does, the outcome does not
// depend on the thread count or on paging, a new task cuts a site's steps short on the virtual
// clock, and 200 sites complete rounds within a memory budget.

#include "simulation/simulator.h"

#include "storage/database.h"
#include "storage/history.h"
#include "storage/schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <filesystem>
#include <random>
#include <regex>

namespace fedgan::simulation {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class SimulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        fs::temp_directory_path() / ("fedgan_simulator_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  // A 2-D GAN federation of `sites` sites on the 25-mode grid; every site selected every round.
  coordinator::CoordinatorOptions coordinator_options(const std::string& name, int64_t sites) {
    coordinator::CoordinatorOptions o;
    o.rounds.min_clients = static_cast<size_t>(sites);
    o.rounds.max_rounds = 2;
    o.rounds.deadline_seconds = 60;
    o.model.architecture = coordinator::Architecture::kMlp;
    o.training.local_steps = 2;
    o.training.batch_size = 16;
    o.storage.database = dir_ / name / "fedgan.db";
    o.storage.checkpoint_dir = dir_ / name / "checkpoints";
    o.storage.run_id = name;
    return o;
  }
  client::ClientOptions site_options(int64_t rows) {
    client::ClientOptions o;
    o.data.format = client::DataFormat::kMixture;
    o.data.mixture = client::Mixture::kGrid;
    o.data.mixture_rows = rows;
    o.state.dir = dir_ / "sites";
    return o;
  }
  std::vector<storage::Round> rounds_of(const coordinator::CoordinatorOptions& o) {
    auto db = storage::open_database(o.storage.database.string());
    return storage::History(db).rounds(o.storage.run_id);
  }
  std::vector<storage::Event> events_of(const coordinator::CoordinatorOptions& o) {
    auto db = storage::open_database(o.storage.database.string());
    return storage::History(db).events(o.storage.run_id);
  }

  fs::path dir_;
};

TEST_F(SimulatorTest, ADropoutFailsTheRoundForQuorumAsADisconnectedSiteDoes) {
  auto coordinator = coordinator_options("dropout", 3);
  coordinator.rounds.max_attempts = 30;
  SimulationOptions options;
  options.sites = 3;
  options.dropout = 0.3;
  options.seed = 7;
  options.quiet = true;
  Simulator simulator(coordinator, site_options(600), options);
  const auto report = simulator.run();
  ASSERT_EQ(report.exit_code, 0);
  EXPECT_EQ(report.rounds_committed, 2);

  const auto rounds = rounds_of(coordinator);
  size_t failed = 0;
  // The reason a real site's disconnection gives (Coordinator tests): the quorum can no longer be
  // reached once the dropped site leaves the attempt.
  const std::regex unreachable(
      R"(quorum of 3 unreachable: [0-2] accepted, [0-2] still outstanding)");
  for (const auto& round : rounds) {
    if (storage::to_string(round.status) != "failed") continue;
    ++failed;
    ASSERT_TRUE(round.failure_reason);
    EXPECT_TRUE(std::regex_match(*round.failure_reason, unreachable)) << *round.failure_reason;
  }
  EXPECT_GE(failed, 1u) << "seed 7 drops at least one task of the first attempts";
  size_t dropouts = 0;
  for (const auto& event : events_of(coordinator)) {
    if (event.kind == "client_disconnected") {
      EXPECT_THAT(event.message, HasSubstr("simulated dropout"));
      ++dropouts;
    }
  }
  // Each failed attempt lost at least one site; two may drop out of one attempt.
  EXPECT_GE(dropouts, failed);
}

// The first K sites attack as the template's [attack] says: with a coordinate-wise median, the
// site that uploads -20 times its delta is flagged in every round, its clients row counts them,
// and quarantine after two flagged rounds closes it out; the honest sites are never flagged.
TEST_F(SimulatorTest, AttackingSitesAreFlaggedAndQuarantinedByARobustRule) {
  auto coordinator = coordinator_options("attack", 5);
  coordinator.aggregation.rule = coordinator::AggregationRule::kMedian;
  coordinator.aggregation.quarantine_after = 2;
  coordinator.aggregation.quarantine_window = 2;
  auto site = site_options(600);
  site.attack.kind = client::AttackKind::kScale;
  site.attack.scale = -20.0;
  SimulationOptions options;
  options.sites = 5;
  options.attackers = 1;
  options.quiet = true;
  Simulator simulator(coordinator, site, options);
  const auto report = simulator.run();
  ASSERT_EQ(report.exit_code, 0);
  EXPECT_EQ(report.rounds_committed, 2);
  auto db = storage::open_database(coordinator.storage.database.string());
  auto flags = db.prepare(
      "SELECT c.identity, count(u.update_id), coalesce(sum(u.flagged), 0), c.flagged_rounds "
      "FROM clients c LEFT JOIN updates u ON u.client_id = c.client_id AND u.accepted "
      "GROUP BY c.client_id ORDER BY c.identity");
  while (flags.step()) {
    const auto identity = flags.column<std::string>(0);
    EXPECT_EQ(flags.column<int64_t>(1), 2) << identity;
    const int64_t flagged = identity == "site-1" ? 2 : 0;
    EXPECT_EQ(flags.column<int64_t>(2), flagged) << identity;
    EXPECT_EQ(flags.column<int64_t>(3), flagged) << identity;
  }
  size_t quarantined = 0;
  for (const auto& event : events_of(coordinator)) {
    if (event.kind == "client_quarantined") {
      ++quarantined;
      EXPECT_EQ(event.client, "site-1");
    }
  }
  EXPECT_EQ(quarantined, 1u);
}

TEST_F(SimulatorTest, AttackersAndTheSitesAttackMustAgree) {
  const auto coordinator = coordinator_options("agree", 2);
  SimulationOptions options;
  options.sites = 2;
  options.attackers = 1;
  EXPECT_THAT([&] { Simulator(coordinator, site_options(100), options); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("--attackers is 1 but the site configuration's attack.kind is")));
  auto site = site_options(100);
  site.attack.kind = client::AttackKind::kZero;
  options.attackers = 0;
  EXPECT_THAT([&] { Simulator(coordinator, site, options); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("attack.kind is \"zero\" but --attackers is 0")));
  options.attackers = 3;
  EXPECT_THAT([&] { Simulator(coordinator, site, options); },
              ::testing::ThrowsMessage<std::invalid_argument>(
                  HasSubstr("--attackers is 3: it must be 0 to --sites (2)")));
}

// Stragglers included: seed 1 draws the speeds 2.573, 1.917, 2.514, 1.449, 2.344 and 1.992, so
// with 4 steps of a second each and a 7.7-second deadline sites 2 and 4 finish (the quorum), and
// the next round's task, sent at the deadline, cuts site 1 short after the 3 steps that had begun
// (its fourth would begin at 7.72 s); sites 3, 5 and 6 had begun all four. When each site's steps
// run must not change what they compute.
TEST_F(SimulatorTest, TheOutcomeDoesNotDependOnThreadsOrPaging) {
  std::vector<std::string> digests[2];
  int64_t cut_short[2] = {0, 0};
  for (int variant = 0; variant < 2; ++variant) {
    auto coordinator = coordinator_options("variant" + std::to_string(variant), 6);
    coordinator.rounds.max_rounds = 3;
    coordinator.rounds.quorum = 2;
    coordinator.rounds.deadline_seconds = 7.7;
    coordinator.training.local_steps = 4;
    SimulationOptions options;
    options.step_seconds = 1;
    options.sites = 6;
    options.partition = "dirichlet:0.5";
    options.speed_spread = 3;
    options.quiet = true;
    options.threads = variant == 0 ? 1 : 3;
    options.memory_budget_mib = variant == 0 ? 0 : 40;  // about one site resident
    Simulator simulator(coordinator, site_options(1200), options);
    const auto report = simulator.run();
    ASSERT_EQ(report.exit_code, 0);
    if (variant == 1) {
      EXPECT_GT(report.page_outs, 0);
    }
    cut_short[variant] = report.steps_cut_short;
    for (const auto& round : rounds_of(coordinator)) {
      if (!round.checkpoint_sha256) continue;  // a failed attempt
      digests[variant].push_back(*round.checkpoint_sha256);
    }
  }
  ASSERT_EQ(digests[0].size(), 3u);
  EXPECT_EQ(digests[0], digests[1]);
  // Site 1 in rounds 1 and 2; round 3's last task is never cut short (the run ends).
  EXPECT_EQ(cut_short[0], 2 * 3);
  EXPECT_EQ(cut_short[1], 2 * 3);
}

// Two sites whose 10 steps take 10 virtual seconds against a 4-second deadline: the first attempt
// fails at its deadline and the retry's task interrupts each site after the 4 steps that had begun
// (steps begin at 0, 1, 2 and 3 s; the one that would begin at 4 s does not), as a new task
// interrupts fedgan-client between two steps.
TEST_F(SimulatorTest, ARetriedAttemptInterruptsTheSitesAfterTheStepsThatHadBegun) {
  auto coordinator = coordinator_options("retry", 2);
  coordinator.rounds.deadline_seconds = 4;
  coordinator.rounds.max_attempts = 2;
  coordinator.training.local_steps = 10;
  SimulationOptions options;
  options.sites = 2;
  options.step_seconds = 1;
  options.quiet = true;
  Simulator simulator(coordinator, site_options(600), options);
  const auto report = simulator.run();
  EXPECT_EQ(report.exit_code, 3) << "round 1 failed twice";
  EXPECT_EQ(report.rounds_committed, 0);
  EXPECT_EQ(report.tasks_cut_short, 2);
  EXPECT_EQ(report.steps_cut_short, 8);
  EXPECT_DOUBLE_EQ(report.virtual_seconds, 8);
  const auto rounds = rounds_of(coordinator);
  ASSERT_EQ(rounds.size(), 2u);
  for (const auto& round : rounds) {
    EXPECT_EQ(storage::to_string(round.status), "failed");
    EXPECT_EQ(round.updates_accepted, 0);
  }
}

// --device cuda: on a machine without CUDA the simulation refuses to start, naming the device;
// with CUDA, a memory budget is refused (paging moves CPU memory only).
TEST_F(SimulatorTest, SitesOnAGpuAreRefusedWhereThereIsNoneAndAreNotPaged) {
  auto coordinator = coordinator_options("cuda", 2);
  SimulationOptions options;
  options.sites = 2;
  options.quiet = true;
  options.device = "cuda";
  options.memory_budget_mib = 64;
  try {
    Simulator simulator(coordinator, site_options(600), options);
    FAIL() << "a simulation with sites on a GPU and a memory budget started";
  } catch (const std::exception& error) {
    if (torch::cuda::is_available()) {
      EXPECT_THAT(error.what(), HasSubstr("--memory-budget-mib pages the sites' CPU memory"));
    } else {
      EXPECT_THAT(error.what(), HasSubstr("training.device"));
      EXPECT_THAT(error.what(), HasSubstr("cuda"));
    }
  }
}

TEST_F(SimulatorTest, TwoHundredSitesCompleteRoundsWithinAMemoryBudget) {
  auto coordinator = coordinator_options("two-hundred", 200);
  coordinator.training.local_steps = 1;
  SimulationOptions options;
  options.sites = 200;
  options.threads = 2;
  options.quiet = true;
  options.memory_budget_mib = 512;
  Simulator simulator(coordinator, site_options(20000), options);
  const auto report = simulator.run();
  ASSERT_EQ(report.exit_code, 0);
  EXPECT_EQ(report.rounds_committed, 2);
  EXPECT_GT(report.page_outs, 0);
  for (const auto& round : rounds_of(coordinator)) {
    EXPECT_EQ(storage::to_string(round.status), "committed");
    EXPECT_EQ(round.updates_accepted, 200);
  }
}

}  // namespace
}  // namespace fedgan::simulation
