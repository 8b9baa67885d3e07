// A certified site that sends hostile updates over real mutual TLS. Each test asserts what the
// threat model promises: the coordinator stays up and answers with the right status, the upload
// leaves the right `updates` row, and the committed model is the aggregate of what was accepted
// (the honest updates), finite.

#include "storage/history.h"
#include "storage/schema.h"
#include "tests/coordinator/fake_client.h"
#include "tests/coordinator/hostile_site.h"
#include "tests/coordinator/round_test_support.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fedgan::coordinator::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr float kFloatMax = std::numeric_limits<float>::max();

// A coordinator, one hostile site (site-1) and two honest ones (site-2, site-3), all selected for
// round 1 with a quorum of 2, and the tasks each received.
struct HostileRound {
  explicit HostileRound(CoordinatorOptions o) : options(std::move(o)), coordinator(options) {
    hostile = std::make_unique<HostileSite>(coordinator.io(), "site-1", coordinator.port());
    EXPECT_EQ(hostile->hello().code(), wire::STATUS_OK);
    a = std::make_unique<FakeClient>(coordinator.io(), "site-2", coordinator.port());
    b = std::make_unique<FakeClient>(coordinator.io(), "site-3", coordinator.port());
    hostile_task = hostile->wait_task();
    task_a = a->wait_task();
    task_b = b->wait_task();
  }
  bool ready() const { return hostile_task && task_a && task_b; }

  // The honest sites upload; the round commits with their two updates.
  void honest_uploads() {
    EXPECT_EQ(a->upload(*task_a, honest_a()).code(), wire::STATUS_OK);
    EXPECT_EQ(b->upload(*task_b, honest_b()).code(), wire::STATUS_OK);
  }
  Upload honest_a() const {
    return {make_delta(*task_a, [](size_t t, size_t i) { return wave(t, i, 1.0f); }), 200};
  }
  Upload honest_b() const {
    return {make_delta(*task_b, [](size_t t, size_t i) { return wave(t, i, -0.5f); }), 50};
  }
  // The committed round 1 is exactly the weighted mean of the honest deltas.
  void expect_honest_commit() {
    ASSERT_EQ(coordinator.wait_stopped(), 0) << "the coordinator did not finish the run";
    const auto rounds = rounds_of(options);
    ASSERT_GE(rounds.size(), 1u);
    EXPECT_EQ(storage::to_string(rounds[0].status), "committed");
    EXPECT_EQ(rounds[0].updates_accepted, 2);
    EXPECT_EQ(metrics_of(rounds[0])["updates"], 2);
    EXPECT_EQ(committed_model(rounds[0], task_a->task.model()),
              expected_model(*task_a, {{200.0, honest_a().delta}, {50.0, honest_b().delta}}));
  }
  // The only rejected row of round 1 (the hostile site's).
  storage::Update hostile_row() {
    const auto rounds = rounds_of(options);
    EXPECT_FALSE(rounds.empty());
    if (rounds.empty()) return {};
    std::vector<storage::Update> rejected;
    for (const auto& u : updates_of(options, rounds[0].round_id)) {
      if (!u.accepted) rejected.push_back(u);
    }
    EXPECT_EQ(rejected.size(), 1u);
    if (rejected.empty()) return {};
    EXPECT_EQ(rejected[0].client, "site-1");
    return rejected[0];
  }
  std::vector<std::vector<float>> small_delta() const {
    return make_delta(*hostile_task, [](size_t t, size_t i) { return wave(t, i, 2.0f); });
  }

  CoordinatorOptions options;
  RunningCoordinator coordinator;
  std::unique_ptr<HostileSite> hostile;
  std::unique_ptr<FakeClient> a;
  std::unique_ptr<FakeClient> b;
  std::optional<ReceivedTask> hostile_task;
  std::optional<ReceivedTask> task_a;
  std::optional<ReceivedTask> task_b;
};

CoordinatorOptions three_sites(const TempDir& dir) {
  auto options = test_options(dir.path());
  options.rounds.min_clients = 3;
  options.rounds.quorum = 2;
  return options;
}

// --- numbers that arrive in a header: checked where they enter ------------------------------

struct HeaderCase {
  std::string name;
  wire::StatusCode expected;
  std::function<void(wire::UpdateHeader&)> tamper;
};

// ctest lists a case by its name, not its bytes.
void PrintTo(const HeaderCase& c, std::ostream* os) {
  *os << c.name;
}

class HostileHeader : public ::testing::TestWithParam<HeaderCase> {};

TEST_P(HostileHeader, IsRefusedAtAdmissionRecordedAndKeptOutOfTheAggregate) {
  TempDir dir;
  HostileRound round(three_sites(dir));
  ASSERT_TRUE(round.ready());
  auto header = HostileSite::header_for(*round.hostile_task, round.small_delta());
  GetParam().tamper(header);
  const auto ack = round.hostile->upload(header, round.small_delta());
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status().code(), GetParam().expected) << ack->status().message();
  EXPECT_EQ(ack->stage(), wire::ACK_STAGE_ADMISSION);
  round.honest_uploads();
  round.expect_honest_commit();
  const auto row = round.hostile_row();
  EXPECT_EQ("STATUS_" + row.reject_reason, wire::StatusCode_Name(GetParam().expected));
  EXPECT_LE(row.reject_message.size(), storage::kMaxStoredTextBytes);
}

void set_metric(wire::UpdateHeader& header, const std::string& key, double value) {
  (*header.mutable_metrics())[key] = value;
}

INSTANTIATE_TEST_SUITE_P(
    Coordinator, HostileHeader,
    ::testing::Values(
        // The defect that crashed the coordinator: sums of finite losses overflowed the metrics.
        HeaderCase{"huge_finite_loss", wire::STATUS_OUT_OF_RANGE,
                   [](auto& h) { set_metric(h, "generator_loss", 1.7e308); }},
        HeaderCase{"negative_train_seconds", wire::STATUS_OUT_OF_RANGE,
                   [](auto& h) { set_metric(h, "train_seconds", -1.0); }},
        HeaderCase{"negative_throughput", wire::STATUS_OUT_OF_RANGE,
                   [](auto& h) { set_metric(h, "samples_per_second", -5.0); }},
        HeaderCase{"unknown_metric_too_large", wire::STATUS_OUT_OF_RANGE,
                   [](auto& h) { set_metric(h, "my_figure", 1e13); }},
        HeaderCase{"nan_metric", wire::STATUS_NON_FINITE,
                   [](auto& h) {
                     set_metric(h, "discriminator_loss", std::numeric_limits<double>::quiet_NaN());
                   }},
        HeaderCase{"metric_name_with_control_bytes", wire::STATUS_MALFORMED,
                   [](auto& h) { set_metric(h, std::string("loss\n\x1b[31m", 10), 1.0); }},
        HeaderCase{"too_many_metrics", wire::STATUS_MALFORMED,
                   [](auto& h) {
                     for (int i = 0; i < 40; ++i) set_metric(h, "m" + std::to_string(i), 1.0);
                   }},
        HeaderCase{"samples_2_pow_63", wire::STATUS_SAMPLE_COUNT,
                   [](auto& h) { h.set_num_samples(uint64_t{1} << 63); }},
        HeaderCase{"samples_max_uint64", wire::STATUS_SAMPLE_COUNT,
                   [](auto& h) { h.set_num_samples(std::numeric_limits<uint64_t>::max()); }},
        HeaderCase{"round_max_uint64", wire::STATUS_WRONG_ROUND,
                   [](auto& h) { h.set_round(std::numeric_limits<uint64_t>::max()); }},
        HeaderCase{"megabyte_nonce", wire::STATUS_MALFORMED,
                   [](auto& h) { h.set_nonce(std::string(1 << 20, 'n')); }},
        HeaderCase{"megabyte_tensor_name", wire::STATUS_MANIFEST_NAME,
                   [](auto& h) {
                     h.mutable_delta()->mutable_tensors(0)->set_name(std::string(1 << 20, 'x'));
                   }}),
    [](const auto& info) { return info.param.name; });

TEST(HostileSite, ASampleCountBeyondTheDatabaseIsRecordedWithoutIt) {
  TempDir dir;
  HostileRound round(three_sites(dir));
  ASSERT_TRUE(round.ready());
  auto header = HostileSite::header_for(*round.hostile_task, round.small_delta());
  header.set_num_samples(std::numeric_limits<uint64_t>::max());
  ASSERT_TRUE(round.hostile->upload(header, round.small_delta()));
  round.honest_uploads();
  round.expect_honest_commit();
  const auto row = round.hostile_row();
  EXPECT_EQ(row.reject_reason, "SAMPLE_COUNT");
  EXPECT_FALSE(row.num_samples.has_value());
  EXPECT_THAT(row.reject_message, HasSubstr("18446744073709551615"));
}

TEST(HostileSite, AnOversizedNonceIsNotEchoed) {
  TempDir dir;
  HostileRound round(three_sites(dir));
  ASSERT_TRUE(round.ready());
  auto header = HostileSite::header_for(*round.hostile_task, round.small_delta());
  header.set_nonce(std::string(1 << 20, 'n'));
  const auto ack = round.hostile->upload(header, round.small_delta());
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status().code(), wire::STATUS_MALFORMED);
  EXPECT_TRUE(ack->nonce().empty());
  EXPECT_EQ(ack->round(), header.round());
}

// --- deltas that are finite and enormous ------------------------------------------------------

TEST(HostileSite, EnormousFiniteDeltasAreClippedByTheDefaultBound) {
  TempDir dir;
  auto options = three_sites(dir);
  options.rounds.quorum = 0;  // all three updates go into the round
  ASSERT_EQ(options.aggregation.norm_bound, NormBoundKind::kAdaptive);  // the default
  HostileRound round(options);
  ASSERT_TRUE(round.ready());
  const auto huge = make_delta(*round.hostile_task, [](size_t, size_t) { return 3e38f; });
  const auto ack =
      round.hostile->upload(HostileSite::header_for(*round.hostile_task, huge, 100'000'000), huge);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status().code(), wire::STATUS_OK);
  EXPECT_THAT(ack->status().message(), HasSubstr("clipped"));
  EXPECT_EQ(ack->stage(), wire::ACK_STAGE_VERDICT);
  round.honest_uploads();
  ASSERT_EQ(round.coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(round.options);
  ASSERT_EQ(rounds.size(), 1u);
  const auto updates = updates_of(round.options, rounds[0].round_id);
  ASSERT_EQ(updates.size(), 3u);
  const auto& clipped = updates[0];
  ASSERT_TRUE(clipped.accepted && clipped.norm_bound && clipped.delta_norm);
  EXPECT_GT(*clipped.delta_norm, *clipped.norm_bound);
  // The bound of round 1 is 4 times the global model's norm: the clipped delta moved the model,
  // but by no more than that, and every committed value is finite.
  const auto committed = committed_model(rounds[0], round.task_a->task.model());
  double change = 0;
  for (size_t t = 0; t < committed.size(); ++t) {
    for (size_t i = 0; i < committed[t].size(); ++i) {
      ASSERT_TRUE(std::isfinite(committed[t][i]));
      const double d = static_cast<double>(committed[t][i]) - round.task_a->model[t][i];
      change += d * d;
    }
  }
  EXPECT_LE(std::sqrt(change), *clipped.norm_bound * 1.0001);
}

// With no bound, finite deltas can still sum beyond the float range: the round fails with the
// reason, the model stays the last committed one, and the retry commits the honest updates.
TEST(HostileSite, AnAggregateBeyondTheFloatRangeFailsTheRoundInsteadOfCommitting) {
  TempDir dir;
  auto options = three_sites(dir);
  options.rounds.quorum = 0;  // every selected site: attempt 1 needs the hostile update
  options.aggregation.norm_bound = NormBoundKind::kNone;
  options.aggregation.server_lr = 2.0;
  HostileRound round(options);
  ASSERT_TRUE(round.ready());
  const auto huge = make_delta(*round.hostile_task, [](size_t, size_t) { return kFloatMax; });
  const auto ack =
      round.hostile->upload(HostileSite::header_for(*round.hostile_task, huge, 100'000'000), huge);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status().code(), wire::STATUS_OK);  // finite and unbounded: accepted
  round.honest_uploads();
  // The commit of attempt 1 is refused before the model changes; attempt 2 selects all three
  // again, and this time the site behaves.
  auto retry = round.hostile->wait_task();
  auto retry_a = round.a->wait_task();
  auto retry_b = round.b->wait_task();
  ASSERT_TRUE(retry && retry_a && retry_b);
  EXPECT_EQ(retry_a->model, round.task_a->model) << "a failed attempt changed the global model";
  const auto calm = make_delta(*retry, [](size_t t, size_t i) { return wave(t, i, 0.5f); });
  const auto verdict = round.hostile->upload(HostileSite::header_for(*retry, calm, 100), calm);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->status().code(), wire::STATUS_OK);
  Upload ra{make_delta(*retry_a, [](size_t t, size_t i) { return wave(t, i, 1.0f); }), 200};
  Upload rb{make_delta(*retry_b, [](size_t t, size_t i) { return wave(t, i, -0.5f); }), 50};
  EXPECT_EQ(round.a->upload(*retry_a, ra).code(), wire::STATUS_OK);
  EXPECT_EQ(round.b->upload(*retry_b, rb).code(), wire::STATUS_OK);
  ASSERT_EQ(round.coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(storage::to_string(rounds[0].status), "failed");
  EXPECT_THAT(rounds[0].failure_reason.value_or(""), HasSubstr("non-finite"));
  EXPECT_FALSE(rounds[0].checkpoint_path.has_value());
  EXPECT_EQ(storage::to_string(rounds[1].status), "committed");
  // server_lr 2: the committed step is twice the weighted mean of the three deltas.
  const auto committed = committed_model(rounds[1], retry_a->task.model());
  const auto mean = expected_model(*retry_a, {{100.0, calm}, {200.0, ra.delta}, {50.0, rb.delta}});
  for (size_t t = 0; t < committed.size(); ++t) {
    for (size_t i = 0; i < committed[t].size(); ++i) {
      const double step = 2.0 * (static_cast<double>(mean[t][i]) - retry_a->model[t][i]);
      ASSERT_NEAR(committed[t][i], retry_a->model[t][i] + step, 1e-6) << t << " " << i;
    }
  }
}

// --- uploads that never finish ----------------------------------------------------------------

TEST(HostileSite, AnAdmittedUploadThatNeverArrivesIsRecordedAndClearedWhenItsRoundEnds) {
  TempDir dir;
  auto options = three_sites(dir);
  options.rounds.max_rounds = 2;
  HostileRound round(options);
  ASSERT_TRUE(round.ready());
  wire::Envelope header;
  *header.mutable_update() = HostileSite::header_for(*round.hostile_task, round.small_delta());
  round.hostile->send(header);
  const auto admitted = round.hostile->next_ack();
  ASSERT_TRUE(admitted);
  EXPECT_EQ(admitted->status().code(), wire::STATUS_OK);
  // ... and no chunk ever follows. The honest sites commit round 1 with the quorum.
  round.honest_uploads();
  const auto row = round.hostile_row();
  EXPECT_EQ(row.reject_reason, "WRONG_ROUND");
  EXPECT_THAT(row.reject_message, HasSubstr("before this upload completed"));
  // Round 2: the site's next header is admitted (its stale upload was cleared), and its verdict
  // names round 2 and its nonce.
  auto task2 = round.hostile->wait_task();
  auto a2 = round.a->wait_task();
  auto b2 = round.b->wait_task();
  ASSERT_TRUE(task2 && a2 && b2);
  const auto delta2 = make_delta(*task2, [](size_t t, size_t i) { return wave(t, i, 0.25f); });
  const auto verdict = round.hostile->upload(HostileSite::header_for(*task2, delta2), delta2);
  ASSERT_TRUE(verdict);
  EXPECT_EQ(verdict->status().code(), wire::STATUS_OK) << verdict->status().message();
  EXPECT_EQ(verdict->stage(), wire::ACK_STAGE_VERDICT);
  EXPECT_EQ(verdict->round(), 2u);
  EXPECT_EQ(verdict->nonce(), task2->task.nonce());
  EXPECT_EQ(round.a->upload(*a2, {make_delta(*a2, [](size_t, size_t) { return 0.f; })}).code(),
            wire::STATUS_OK);
  ASSERT_EQ(round.coordinator.wait_stopped(), 0);
  const auto rounds = rounds_of(options);
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[1].updates_accepted, 2);
}

TEST(HostileSite, AProtocolErrorDuringAnUploadLeavesItsRow) {
  TempDir dir;
  HostileRound round(three_sites(dir));
  ASSERT_TRUE(round.ready());
  const auto delta = round.small_delta();
  const auto header = HostileSite::header_for(*round.hostile_task, delta);
  wire::Envelope message;
  *message.mutable_update() = header;
  round.hostile->send(message);
  ASSERT_EQ(round.hostile->next_ack()->status().code(), wire::STATUS_OK);
  round.hostile->send(HostileSite::raw_chunks(delta, 4096).front());
  round.hostile->send(message);  // a second header in the middle of the transfer
  const auto reason = round.hostile->closed();
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->status(), wire::STATUS_MALFORMED);
  round.honest_uploads();
  round.expect_honest_commit();
  const auto row = round.hostile_row();
  EXPECT_EQ(row.reject_reason, "MALFORMED");
  EXPECT_EQ(row.bytes_received, 4096);
}

TEST(HostileSite, ASiteThatLeavesDuringItsUploadLeavesAnIncompleteRow) {
  TempDir dir;
  HostileRound round(three_sites(dir));
  ASSERT_TRUE(round.ready());
  const auto delta = round.small_delta();
  wire::Envelope message;
  *message.mutable_update() = HostileSite::header_for(*round.hostile_task, delta);
  round.hostile->send(message);
  ASSERT_EQ(round.hostile->next_ack()->status().code(), wire::STATUS_OK);
  round.hostile->send(HostileSite::raw_chunks(delta, 8192).front());
  round.hostile->connection().close(wire::STATUS_OK, "gone");
  round.hostile->closed();
  round.honest_uploads();
  round.expect_honest_commit();
  EXPECT_EQ(round.hostile_row().reject_reason, "INCOMPLETE");
}

TEST(HostileSite, ChunksBeyondTheManifestAfterARefusalEndTheConnection) {
  TempDir dir;
  HostileRound round(three_sites(dir));
  ASSERT_TRUE(round.ready());
  auto delta = round.small_delta();
  delta[0][0] = std::numeric_limits<float>::quiet_NaN();
  wire::Envelope message;
  *message.mutable_update() = HostileSite::header_for(*round.hostile_task, delta);
  round.hostile->send(message);
  ASSERT_EQ(round.hostile->next_ack()->status().code(), wire::STATUS_OK);
  // The first chunk is refused (NaN); the site keeps sending the same chunk forever.
  const auto first = HostileSite::raw_chunks(delta, 64 * 1024).front();
  for (int i = 0; i < 200 && !round.hostile->connection().error(); ++i) round.hostile->send(first);
  const auto reason = round.hostile->closed();
  ASSERT_TRUE(reason);
  EXPECT_EQ(reason->status(), wire::STATUS_MALFORMED);
  EXPECT_THAT(reason->what(), HasSubstr("more than"));
  round.honest_uploads();
  round.expect_honest_commit();
  EXPECT_EQ(round.hostile_row().reject_reason, "NON_FINITE");  // one row, recorded when found
}

TEST(HostileSite, ARefusalForTheNormBoundRecordsTheMeasuredNorm) {
  TempDir dir;
  auto options = three_sites(dir);
  options.aggregation.norm_bound = NormBoundKind::kFixed;
  options.aggregation.max_delta_norm = 1.0;
  options.aggregation.norm_policy = NormPolicy::kReject;
  HostileRound round(options);
  ASSERT_TRUE(round.ready());
  const auto ones = make_delta(*round.hostile_task, [](size_t, size_t) { return 1.0f; });
  const auto ack = round.hostile->upload(HostileSite::header_for(*round.hostile_task, ones), ones);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->status().code(), wire::STATUS_NORM_BOUND);
  // The honest deltas are within a bound of 1 only if small: scale them down.
  EXPECT_EQ(round.a
                ->upload(*round.task_a,
                         {make_delta(*round.task_a, [](size_t, size_t) { return 0.f; }), 200})
                .code(),
            wire::STATUS_OK);
  EXPECT_EQ(round.b
                ->upload(*round.task_b,
                         {make_delta(*round.task_b, [](size_t, size_t) { return 0.f; }), 50})
                .code(),
            wire::STATUS_OK);
  ASSERT_EQ(round.coordinator.wait_stopped(), 0);
  const auto row = round.hostile_row();
  EXPECT_EQ(row.reject_reason, "NORM_BOUND");
  ASSERT_TRUE(row.delta_norm && row.norm_bound);
  size_t count = 0;
  for (const auto& tensor : ones) count += tensor.size();
  EXPECT_NEAR(*row.delta_norm, std::sqrt(static_cast<double>(count)), 1e-6);
  EXPECT_EQ(*row.norm_bound, 1.0);
}

}  // namespace
}  // namespace fedgan::coordinator::testing
