// One test per rejection reason: the hostile upload is refused with its own status, recorded
// with its reason code, and the committed global model is exactly the mean of the honest deltas.

#include "coordinator/coordinator.h"
#include "storage/checkpoint_store.h"
#include "storage/history.h"
#include "storage/schema.h"
#include "tests/coordinator/fake_client.h"
#include "tests/coordinator/round_test_support.h"

#include <gtest/gtest.h>

#include <limits>

namespace fedgan::coordinator::testing {
namespace {

using namespace std::chrono_literals;

struct RejectionCase {
  std::string name;
  wire::StatusCode expected;
  std::function<void(Upload&)> tamper;
  std::function<void(CoordinatorOptions&)> configure = nullptr;
};

// gtest prints a case by its name, not its bytes.
void PrintTo(const RejectionCase& c, std::ostream* os) {
  *os << c.name;
}

class Rejection : public ::testing::TestWithParam<RejectionCase> {};

TEST_P(Rejection, IsRecordedAndLeavesTheAggregateUnchanged) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.rounds.quorum = 2;
  if (GetParam().configure) GetParam().configure(options);
  RunningCoordinator coordinator(options);
  ThreeClients clients(coordinator);
  ASSERT_TRUE(clients.tasks_arrived());
  auto& [attacker, honest_a, honest_b] = clients.clients;
  auto& [task, task_a, task_b] = clients.tasks;

  Upload hostile{make_delta(*task, [](size_t t, size_t i) { return wave(t, i, 3.0f); })};
  GetParam().tamper(hostile);
  const auto refused = attacker->upload(*task, hostile);
  EXPECT_EQ(refused.code(), GetParam().expected) << refused.message();
  EXPECT_FALSE(refused.message().empty());

  Upload a{make_delta(*task_a, [](size_t t, size_t i) { return wave(t, i, 1.0f); }), 200};
  Upload b{make_delta(*task_b, [](size_t t, size_t i) { return wave(t, i, -0.5f); }), 50};
  EXPECT_EQ(honest_a->upload(*task_a, a).code(), wire::STATUS_OK);
  EXPECT_EQ(honest_b->upload(*task_b, b).code(), wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);

  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(rounds[0].updates_accepted, 2);
  EXPECT_EQ(rounds[0].updates_rejected, 1);
  const auto updates = updates_of(options, rounds[0].round_id);
  const auto rejected = std::find_if(updates.begin(), updates.end(),
                                     [](const storage::Update& u) { return !u.accepted; });
  ASSERT_NE(rejected, updates.end());
  EXPECT_EQ(rejected->client, "site-1");
  EXPECT_EQ("STATUS_" + rejected->reject_reason, wire::StatusCode_Name(GetParam().expected));
  const auto committed = committed_model(rounds[0], task->task.model());
  EXPECT_EQ(committed, expected_model(*task, {{200.0, a.delta}, {50.0, b.delta}}));
}

void edit(Upload& upload, std::function<void(wire::Manifest&)> change) {
  upload.edit_manifest = std::move(change);
}

INSTANTIATE_TEST_SUITE_P(
    Coordinator, Rejection,
    ::testing::Values(
        RejectionCase{"wrong_round", wire::STATUS_WRONG_ROUND, [](Upload& u) { u.round = 7; }},
        RejectionCase{"replayed_nonce", wire::STATUS_STALE_NONCE,
                      [](Upload& u) { u.nonce = std::string(16, 'r'); }},
        RejectionCase{"wrong_shape", wire::STATUS_MANIFEST_SHAPE,
                      [](Upload& u) {
                        edit(u, [](wire::Manifest& m) {
                          m.mutable_tensors(0)->set_shape(0, m.tensors(0).shape(0) + 1);
                        });
                      }},
        RejectionCase{
            "extra_tensor", wire::STATUS_MANIFEST_EXTRA,
            [](Upload& u) { edit(u, [](wire::Manifest& m) { *m.add_tensors() = m.tensors(0); }); }},
        RejectionCase{"missing_tensor", wire::STATUS_MANIFEST_MISSING,
                      [](Upload& u) {
                        edit(u, [](wire::Manifest& m) { m.mutable_tensors()->RemoveLast(); });
                      }},
        RejectionCase{"nan", wire::STATUS_NON_FINITE,
                      [](Upload& u) {
                        u.raw = true;
                        u.delta.back().back() = std::numeric_limits<float>::quiet_NaN();
                      }},
        RejectionCase{"infinity", wire::STATUS_NON_FINITE,
                      [](Upload& u) {
                        u.raw = true;
                        u.delta[0][0] = -std::numeric_limits<float>::infinity();
                      }},
        RejectionCase{"norm_too_large", wire::STATUS_NORM_BOUND,
                      [](Upload& u) {
                        for (auto& tensor : u.delta) std::fill(tensor.begin(), tensor.end(), 1.0f);
                      },
                      [](CoordinatorOptions& o) {
                        o.aggregation.norm_bound = NormBoundKind::kFixed;
                        o.aggregation.max_delta_norm = 50.0;
                        o.aggregation.norm_policy = NormPolicy::kReject;
                      }},
        RejectionCase{"zero_samples", wire::STATUS_SAMPLE_COUNT,
                      [](Upload& u) { u.num_samples = 0; }},
        RejectionCase{"too_many_samples", wire::STATUS_SAMPLE_COUNT,
                      [](Upload& u) { u.num_samples = 1'000'000; },
                      [](CoordinatorOptions& o) { o.aggregation.max_samples = 10'000; }}),
    [](const auto& info) { return info.param.name; });

TEST(Coordinator, DuplicateUploadIsRefusedAndCountedOnce) {
  TempDir dir;
  auto options = test_options(dir.path());
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port());
  FakeClient b(coordinator.io(), "site-2", coordinator.port());
  auto ta = a.wait_task();
  auto tb = b.wait_task();
  ASSERT_TRUE(ta && tb);
  Upload first{make_delta(*ta, [](size_t t, size_t i) { return wave(t, i, 1.0f); }), 10};
  EXPECT_EQ(a.upload(*ta, first).code(), wire::STATUS_OK);
  Upload again{make_delta(*ta, [](size_t t, size_t i) { return wave(t, i, 9.0f); }), 10};
  EXPECT_EQ(a.upload(*ta, again).code(), wire::STATUS_DUPLICATE_UPDATE);
  Upload other{make_delta(*tb, [](size_t t, size_t i) { return wave(t, i, -1.0f); }), 30};
  EXPECT_EQ(b.upload(*tb, other).code(), wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  EXPECT_EQ(rounds[0].updates_rejected, 1);
  EXPECT_EQ(committed_model(rounds[0], ta->task.model()),
            expected_model(*ta, {{10.0, first.delta}, {30.0, other.delta}}));
}

TEST(Coordinator, UnselectedClientIsRefused) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.rounds.max_per_round = 2;
  RunningCoordinator coordinator(options);
  std::vector<std::unique_ptr<FakeClient>> clients;
  for (const char* site : {"site-1", "site-2", "site-3"}) {
    clients.push_back(std::make_unique<FakeClient>(coordinator.io(), site, coordinator.port()));
  }
  std::vector<std::optional<ReceivedTask>> tasks;
  for (auto& client : clients) tasks.push_back(client->wait_task(3s));
  const auto outsider = std::find_if(tasks.begin(), tasks.end(), [](const auto& t) { return !t; });
  ASSERT_NE(outsider, tasks.end());
  ASSERT_EQ(std::count_if(tasks.begin(), tasks.end(), [](const auto& t) { return t.has_value(); }),
            2);
  const auto& known = *std::find_if(tasks.begin(), tasks.end(), [](const auto& t) { return t; });
  Upload sneaky{make_delta(*known, [](size_t, size_t) { return 0.5f; })};
  sneaky.nonce = std::string(16, 'x');
  const auto refused = clients[outsider - tasks.begin()]->upload(*known, sneaky);
  EXPECT_EQ(refused.code(), wire::STATUS_NOT_SELECTED) << refused.message();
}

TEST(Coordinator, ClipPolicyScalesAnOversizedDeltaToTheBound) {
  TempDir dir;
  auto options = test_options(dir.path());
  options.aggregation.norm_bound = NormBoundKind::kFixed;
  options.aggregation.max_delta_norm = 2.0;
  options.aggregation.norm_policy = NormPolicy::kClip;
  RunningCoordinator coordinator(options);
  FakeClient a(coordinator.io(), "site-1", coordinator.port());
  FakeClient b(coordinator.io(), "site-2", coordinator.port());
  auto ta = a.wait_task();
  auto tb = b.wait_task();
  ASSERT_TRUE(ta && tb);
  Upload big{make_delta(*ta, [](size_t, size_t) { return 1.0f; }), 1};
  const auto verdict = a.upload(*ta, big);
  EXPECT_EQ(verdict.code(), wire::STATUS_OK);
  EXPECT_NE(verdict.message().find("clipped"), std::string::npos) << verdict.message();
  Upload zero{make_delta(*tb, [](size_t, size_t) { return 0.0f; }), 1};
  EXPECT_EQ(b.upload(*tb, zero).code(), wire::STATUS_OK);
  ASSERT_EQ(coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 1u);
  // The mean of the clipped delta (norm 2) and zero has norm 1.
  EXPECT_NEAR(*rounds[0].aggregate_norm, 1.0, 1e-5);
}

}  // namespace
}  // namespace fedgan::coordinator::testing
