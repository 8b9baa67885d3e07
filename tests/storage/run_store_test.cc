#include "storage/run_store.h"
#include "storage/error.h"
#include "storage/schema.h"
#include "tests/storage/test_util.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <string>

namespace fedgan::storage {
namespace {

using testing::integrity_check;
using testing::populate_sample_run;
using testing::TempDir;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const StorageError& error) {
    return error.what();
  }
  return "";
}

int64_t count(Database& db, const std::string& sql) {
  return db.query_int(sql);
}

int64_t store_client_flags(Database& db, const std::string& identity) {
  return RunStore(db).history().find_client(identity)->flagged_rounds;
}

TEST(RunStore, CreatesARunAndResumesItByName) {
  Database db = open_database(":memory:");
  RunStore store(db);
  const storage::Run run{
      "r1", 100, std::nullopt, (uint64_t{1} << 63) + 5, "mlp", R"({"lr": 0.001})"};
  const auto created = store.create_or_resume_run(run);
  EXPECT_FALSE(created.resumed);
  storage::Run again = run;
  again.created_at = 200;
  again.config_json = R"({"lr": 0.002})";
  const auto resumed = store.create_or_resume_run(again);
  EXPECT_TRUE(resumed.resumed);
  EXPECT_EQ(resumed.run.created_at, 100);  // the stored run, not the new arguments
  EXPECT_EQ(resumed.run.config_json, R"({"lr": 0.001})");
  EXPECT_EQ(resumed.run.seed, run.seed);  // seeds >= 2^63 round-trip
  storage::Run other_seed = run;
  other_seed.seed = 6;
  EXPECT_NE(error_of([&] { store.create_or_resume_run(other_seed); }).find("choose another run id"),
            std::string::npos);
  const auto events = store.history().events("r1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "run_created");
  EXPECT_EQ(events[1].kind, "run_resumed");
  storage::Run bad = run;
  bad.run_id = "r2";
  bad.config_json = "{not json";
  EXPECT_THROW(store.create_or_resume_run(bad), StorageError);
  store.finish_run("r1", 300);
  EXPECT_EQ(store.history().find_run("r1")->finished_at, 300);
  EXPECT_THROW(store.finish_run("nope", 300), StorageError);
}

TEST(RunStore, AFullRunRecordsRoundsUpdatesAndClientTotals) {
  TempDir dir;
  Database db = open_database((dir / "fedgan.db").string());
  const auto sample = populate_sample_run(db);
  History history(db);

  const auto rounds = history.rounds(sample.run_id);
  ASSERT_EQ(rounds.size(), 3u);
  EXPECT_EQ(rounds[0].round, 1);
  EXPECT_EQ(rounds[0].status, RoundStatus::kCommitted);
  EXPECT_EQ(rounds[0].updates_accepted, 3);
  EXPECT_EQ(rounds[0].updates_rejected, 1);
  EXPECT_EQ(rounds[0].samples_accepted, 2400);
  EXPECT_EQ(rounds[0].evaluation.fid, 120.5);
  EXPECT_EQ(rounds[0].evaluation.classes_covered, 9);
  EXPECT_FALSE(rounds[0].evaluation.modes_captured.has_value());
  EXPECT_EQ(rounds[0].sample_grid_path, "/ckpt/round_000001.png");
  EXPECT_EQ(rounds[1].round, 2);
  EXPECT_EQ(rounds[1].attempt, 1);
  EXPECT_EQ(rounds[1].status, RoundStatus::kFailed);
  EXPECT_EQ(rounds[1].failure_reason, "deadline without quorum");
  EXPECT_EQ(rounds[2].attempt, 2);
  EXPECT_EQ(rounds[2].status, RoundStatus::kCommitted);
  EXPECT_EQ(rounds[2].checkpoint_path, "/ckpt/round_000002.pt");
  EXPECT_EQ(rounds[2].finished_at, 1.7e9 + 140);

  const auto updates = history.updates(sample.round1);
  ASSERT_EQ(updates.size(), 4u);
  EXPECT_EQ(updates[0].client, "alice");
  EXPECT_TRUE(updates[0].accepted);
  EXPECT_EQ(updates[0].num_samples, 1000);
  EXPECT_EQ(updates[3].client, "mallory");
  EXPECT_FALSE(updates[3].accepted);
  EXPECT_EQ(updates[3].reject_reason, "NON_FINITE");
  EXPECT_EQ(updates[3].reject_message, "NON_FINITE from mallory");
  EXPECT_FALSE(updates[3].delta_norm.has_value());

  const auto mallory = history.find_client("mallory");
  ASSERT_TRUE(mallory);
  EXPECT_EQ(mallory->updates_accepted, 1);
  EXPECT_EQ(mallory->updates_rejected, 2);
  EXPECT_EQ(mallory->samples_accepted, 500);
  const auto alice = history.find_client("alice");
  EXPECT_EQ(alice->updates_accepted, 3);
  EXPECT_EQ(alice->samples_accepted, 3000);
  EXPECT_EQ(alice->first_seen, 1.7e9);
  EXPECT_EQ(alice->last_seen, 1.7e9 + 120);
  // Client totals agree with the updates table.
  EXPECT_EQ(count(db, "SELECT sum(updates_accepted) FROM clients"),
            count(db, "SELECT count(*) FROM updates WHERE accepted"));
  EXPECT_EQ(count(db, "SELECT sum(bytes_received) FROM clients"),
            count(db, "SELECT sum(bytes_received) FROM updates"));

  const auto events = history.events(sample.run_id);
  const auto kinds = [&](const std::string& kind) {
    return std::count_if(events.begin(), events.end(),
                         [&](const Event& e) { return e.kind == kind; });
  };
  EXPECT_EQ(kinds("round_started"), 3);
  EXPECT_EQ(kinds("round_committed"), 2);
  EXPECT_EQ(kinds("round_failed"), 1);
  EXPECT_EQ(integrity_check(db), "ok");
}

TEST(RunStore, RecoverAbortsTheInFlightRoundAndReturnsTheLastCommitted) {
  TempDir dir;
  const std::string path = (dir / "fedgan.db").string();
  testing::SampleRun sample;
  {
    Database db = open_database(path);
    sample = populate_sample_run(db, /*leave_round3_running=*/true);
  }  // the coordinator "stops" with round 3 running
  Database db = open_database(path);
  RunStore store(db);
  const ResumePoint point = store.recover(sample.run_id, 1.7e9 + 1000);
  ASSERT_EQ(point.aborted.size(), 1u);
  EXPECT_EQ(point.aborted[0].round, 3);
  EXPECT_EQ(point.aborted[0].round_id, sample.round3_running);
  ASSERT_TRUE(point.last_committed);
  EXPECT_EQ(point.last_committed->round, 2);
  EXPECT_EQ(point.last_committed->attempt, 2);
  EXPECT_EQ(point.last_committed->checkpoint_path, "/ckpt/round_000002.pt");
  EXPECT_EQ(point.last_committed->checkpoint_sha256, std::string(64, 'c'));

  const auto aborted = store.history().find_round(sample.round3_running);
  EXPECT_EQ(aborted->status, RoundStatus::kAborted);
  EXPECT_EQ(aborted->finished_at, 1.7e9 + 1000);
  EXPECT_EQ(aborted->failure_reason, "coordinator stopped during the round");
  const auto events = store.history().events(sample.run_id);
  EXPECT_EQ(events.back().kind, "round_aborted");
  EXPECT_EQ(events.back().level, EventLevel::kWarning);
  EXPECT_EQ(events.back().round, 3);

  // The round is rerun as attempt 2; a second recover finds nothing to abort.
  const RoundAttempt rerun = store.begin_round(sample.run_id, 3, 1.7e9 + 1001, 4);
  EXPECT_EQ(rerun.attempt, 2);
  store.fail_round(rerun.round_id, 1.7e9 + 1002, "deadline without quorum");
  EXPECT_TRUE(store.recover(sample.run_id, 1.7e9 + 1003).aborted.empty());
  EXPECT_EQ(integrity_check(db), "ok");
}

TEST(RunStore, RecoverWithNoCommittedRoundStartsFromScratch) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.create_or_resume_run({"r", 1, std::nullopt, 1, "mlp", "{}"});
  const ResumePoint point = store.recover("r", 2);
  EXPECT_FALSE(point.last_committed);
  EXPECT_TRUE(point.aborted.empty());
  EXPECT_THROW(store.recover("unknown", 2), StorageError);
}

TEST(RunStore, RoundLifecycleRulesAreEnforced) {
  Database db = open_database(":memory:");
  RunStore store(db);
  const auto sample = populate_sample_run(db, /*leave_round3_running=*/true);
  EXPECT_NE(error_of([&] {
              store.begin_round(sample.run_id, 4, 1.8e9, 1);
            }).find("round 3 attempt 1 is still running"),
            std::string::npos);
  store.fail_round(sample.round3_running, 1.8e9, "deadline without quorum");
  EXPECT_NE(
      error_of([&] { store.begin_round(sample.run_id, 2, 1.8e9, 1); }).find("already committed"),
      std::string::npos);
  EXPECT_NE(error_of([&] { store.fail_round(sample.round2, 1.8e9, "late"); }).find("committed"),
            std::string::npos);
  EXPECT_THROW(store.begin_round("unknown", 1, 1.8e9, 1), StorageError);
  EXPECT_THROW(store.begin_round(sample.run_id, -1, 1.8e9, 1), StorageError);
  // A rejection that arrives after its attempt ended is filed under it (a late upload); an
  // accepted update needs a running attempt.
  Update late;
  late.round_id = sample.round1;
  late.client = "bob";
  late.received_at = 1.9e9;
  late.reject_reason = "WRONG_ROUND";
  const int64_t rejected_before = store.history().find_round(sample.round1)->updates_rejected;
  store.record_update(late);
  EXPECT_EQ(store.history().find_round(sample.round1)->updates_rejected, rejected_before + 1);
  EXPECT_EQ(to_string(store.history().find_round(sample.round1)->status), "committed");
  late.accepted = true;
  late.reject_reason.clear();
  late.num_samples = 5;
  late.delta_norm = 1.0;
  EXPECT_NE(error_of([&] { store.record_update(late); }).find("is committed, not running"),
            std::string::npos);
  late.round_id = 987654;
  EXPECT_NE(error_of([&] { store.record_update(late); }).find("no round attempt"),
            std::string::npos);
}

TEST(RunStore, StoresTheNormBoundAndBoundsFreeText) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.create_or_resume_run({"r", 1, std::nullopt, 1, "mlp", "{}"});
  const RoundAttempt attempt = store.begin_round("r", 1, 1, 2);
  Update u;
  u.round_id = attempt.round_id;
  u.client = "alice";
  u.received_at = 2;
  u.accepted = true;
  u.num_samples = 10;
  u.delta_norm = 7.5;
  u.norm_bound = 2.5;  // clipped from 7.5 to 2.5
  store.record_update(u);
  u.client = "bob";
  u.delta_norm = 1.5;
  store.record_update(u);
  u.client = "carol";
  u.norm_bound = std::nullopt;  // no bound applied
  u.delta_norm = 0.5;
  store.record_update(u);
  const auto updates = store.history().updates(attempt.round_id);
  ASSERT_EQ(updates.size(), 3u);
  EXPECT_EQ(updates[0].norm_bound, 2.5);
  EXPECT_FALSE(updates[2].norm_bound.has_value());
  // As they entered the aggregate: alice clipped to the bound, bob and carol as measured.
  EXPECT_EQ(store.history().aggregated_norms(attempt.round_id),
            (std::vector<double>{2.5, 1.5, 0.5}));
  u.client = "dave";
  u.norm_bound = 0.0;
  EXPECT_NE(error_of([&] { store.record_update(u); }).find("norm_bound must be finite and > 0"),
            std::string::npos);
  u.norm_bound = std::nullopt;
  u.local_metrics_json = "{\"x\": \"" + std::string(70 * 1024, 'x') + "\"}";
  EXPECT_NE(error_of([&] { store.record_update(u); }).find("exceed the limit"), std::string::npos);

  // Free text a peer can fill is cut, on a character boundary, with the original length.
  Update rejected;
  rejected.round_id = attempt.round_id;
  rejected.client = "mallory";
  rejected.received_at = 3;
  rejected.reject_reason = "MALFORMED";
  rejected.reject_message = std::string(5000, 'a') + "\xc3\xa9";
  store.record_update(rejected);
  const std::string stored = store.history().updates(attempt.round_id).back().reject_message;
  EXPECT_EQ(stored.size(), kMaxStoredTextBytes);
  EXPECT_NE(stored.find("... (5002 bytes)"), std::string::npos);
  store.log_event({0, 4, EventLevel::kInfo, "client_connected", std::string(1 << 20, 'e'), "r",
                   std::nullopt, "mallory"});
  EXPECT_LE(store.history().events("r").back().message.size(), kMaxStoredTextBytes);
  store.fail_round(attempt.round_id, 5, std::string(100000, 'f'));
  EXPECT_LE(store.history().find_round(attempt.round_id)->failure_reason->size(),
            kMaxStoredTextBytes);
}

TEST(BoundedText, CutsAtACharacterBoundaryAndSaysHowLongTheTextWas) {
  EXPECT_EQ(bounded_text("short", 10), "short");
  EXPECT_EQ(bounded_text("0123456789", 10), "0123456789");
  // 20 bytes cut to 18: the suffix "... (20 bytes)" takes 14, leaving 4.
  EXPECT_EQ(bounded_text("abcdefghijklmnopqrst", 18), "abcd... (20 bytes)");
  // A two-byte character that would be cut in half is dropped whole.
  const std::string accented = "abc\xc3\xa9" + std::string(20, 'z');
  EXPECT_EQ(bounded_text(accented, 18), "abc... (25 bytes)");
  // No room for the suffix: just the cut text.
  EXPECT_EQ(bounded_text("abcdefghijklmnopqrst", 5), "abcde");
}

TEST(RunStore, RefusesInvalidUpdatesAndDuplicateAcceptance) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.create_or_resume_run({"r", 1, std::nullopt, 1, "mlp", "{}"});
  const RoundAttempt attempt = store.begin_round("r", 0, 1, 2);
  Update u;
  u.round_id = attempt.round_id;
  u.client = "alice";
  u.received_at = 2;
  u.accepted = true;
  EXPECT_NE(error_of([&] { store.record_update(u); }).find("needs num_samples and a finite"),
            std::string::npos);
  u.num_samples = 10;
  u.delta_norm = 0.5;
  u.local_metrics_json = "[1, 2";
  EXPECT_THROW(store.record_update(u), StorageError);
  u.local_metrics_json = R"({"generator_loss": 0.7})";
  store.record_update(u);
  EXPECT_NE(error_of([&] { store.record_update(u); }).find("DUPLICATE_UPDATE"), std::string::npos);
  u.accepted = false;
  u.reject_reason = "duplicate";
  EXPECT_NE(error_of([&] { store.record_update(u); }).find("reason code"), std::string::npos);
  u.reject_reason = "DUPLICATE_UPDATE";
  u.delta_norm = std::numeric_limits<double>::quiet_NaN();  // the norm of a non-finite delta
  const int64_t rejected = store.record_update(u);
  EXPECT_FALSE(store.history().updates(attempt.round_id).back().delta_norm.has_value());
  EXPECT_EQ(store.history().updates(attempt.round_id).back().update_id, rejected);
  // The refused calls left no trace: one accepted and one rejected update, totals to match.
  const auto client = store.history().find_client("alice");
  EXPECT_EQ(client->updates_accepted, 1);
  EXPECT_EQ(client->updates_rejected, 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM updates"), 2);
  EXPECT_EQ(store.history().find_round(attempt.round_id)->updates_rejected, 1);
}

TEST(RunStore, CommitChecksTheCheckpointReference) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.create_or_resume_run({"r", 1, std::nullopt, 1, "mlp", "{}"});
  const RoundAttempt attempt = store.begin_round("r", 1, 1, 0);
  RoundCommit commit;
  commit.finished_at = 2;
  commit.checkpoint_path = "/c/round_000001.pt";
  commit.checkpoint_sha256 = std::string(64, 'G');
  EXPECT_NE(error_of([&] { store.commit_round(attempt.round_id, commit); }).find("64 lowercase"),
            std::string::npos);
  commit.checkpoint_sha256 = std::string(64, '0');
  commit.evaluation.high_quality_fraction = 1.5;
  EXPECT_THROW(store.commit_round(attempt.round_id, commit), StorageError);
  commit.evaluation.high_quality_fraction = 0.93;
  commit.evaluation.modes_captured = 24;
  store.commit_round(attempt.round_id, commit);
  const auto round = store.history().last_committed_round("r");
  EXPECT_EQ(round->evaluation.modes_captured, 24);
  EXPECT_EQ(round->evaluation.high_quality_fraction, 0.93);
  EXPECT_THROW(store.commit_round(attempt.round_id, commit), StorageError);  // already committed
}

TEST(RunStore, ACommitStoresEachUpdatesReviewAndCountsFlaggedRounds) {
  TempDir dir;
  Database db = open_database((dir / "fedgan.db").string());
  const testing::SampleRun s = populate_sample_run(db);
  // Round 2's reviews (test_util.cc): mallory's update excluded and flagged, the others kept.
  auto row = db.prepare(
      "SELECT c.identity, u.aggregate_distance, u.aggregate_cosine, u.norm_z_score, u.rule_effect, "
      "u.rule_weight, u.flagged FROM updates u JOIN clients c USING (client_id) "
      "WHERE u.round_id = ? ORDER BY u.update_id");
  row.bind_all(s.round2);
  ASSERT_TRUE(row.step());
  EXPECT_EQ(row.column<std::string>(0), "alice");
  EXPECT_EQ(row.column<double>(1), 0.2);
  EXPECT_EQ(row.column<double>(2), 0.98);
  EXPECT_EQ(row.column<double>(3), -0.53);
  EXPECT_EQ(row.column<std::string>(4), "kept");
  EXPECT_EQ(row.column<double>(5), 1.0 / 3);
  EXPECT_EQ(row.column<int64_t>(6), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(row.step());
  EXPECT_EQ(row.column<std::string>(0), "mallory");
  EXPECT_EQ(row.column<double>(2), -0.4);
  EXPECT_EQ(row.column<std::string>(4), "excluded");
  EXPECT_EQ(row.column<double>(5), 0.0);
  EXPECT_EQ(row.column<int64_t>(6), 1);
  EXPECT_EQ(store_client_flags(db, "mallory"), 1);
  EXPECT_EQ(store_client_flags(db, "alice"), 0);
  // Round 1 committed without reviews: its rows say nothing rather than something false.
  EXPECT_EQ(count(db, fmt::format("SELECT count(*) FROM updates WHERE round_id = {} AND "
                                  "(rule_effect IS NOT NULL OR flagged IS NOT NULL)",
                                  s.round1)),
            0);
}

TEST(RunStore, AReviewOutOfRangeOrOfAnotherRoundLeavesTheRoundUncommitted) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.create_or_resume_run({"r", 1, std::nullopt, 1, "mlp", "{}"});
  const RoundAttempt first = store.begin_round("r", 1, 1, 2);
  Update update;
  update.round_id = first.round_id;
  update.client = "alice";
  update.received_at = 2;
  update.accepted = true;
  update.num_samples = 10;
  update.delta_norm = 1;
  const int64_t alice = store.record_update(update);
  RoundCommit commit;
  commit.finished_at = 3;
  commit.checkpoint_path = "/c/round_000001.pt";
  commit.checkpoint_sha256 = std::string(64, '0');
  const auto refused = [&](UpdateReview review, const std::string& part) {
    commit.reviews = {review};
    const std::string message = error_of([&] { store.commit_round(first.round_id, commit); });
    EXPECT_NE(message.find(part), std::string::npos) << message;
    EXPECT_EQ(store.history().rounds("r").back().status, RoundStatus::kRunning);
    EXPECT_EQ(store_client_flags(db, "alice"), 0);
  };
  refused({alice, 1.0, 1.5, 0, RuleEffect::kKept, 0.5, true, std::nullopt},
          "cosine must be in [-1, 1]");
  refused({alice, -1.0, 0.5, 0, RuleEffect::kKept, 0.5, true, std::nullopt},
          "distance must be finite");
  refused({alice, 1.0, 0.5, std::numeric_limits<double>::quiet_NaN(), std::nullopt, std::nullopt,
           true, std::nullopt},
          "z-score");
  refused({alice, 1.0, 0.5, 0, RuleEffect::kClipped, 1.5, true, std::nullopt},
          "rule weight must be in [0, 1]");
  refused({alice + 1, 1.0, 0.5, 0, RuleEffect::kKept, 0.5, true, std::nullopt},
          "is not an accepted update of round_id");
  commit.reviews = {{alice, 1.0, 0.5, 0.0, RuleEffect::kClipped, 0.5, true, std::nullopt}};
  store.commit_round(first.round_id, commit);
  EXPECT_EQ(store_client_flags(db, "alice"), 1);
}

TEST(RunStore, EvaluationCanBeRecordedAfterCommit) {
  Database db = open_database(":memory:");
  RunStore store(db);
  const auto sample = populate_sample_run(db);
  Evaluation later;
  later.kl_to_uniform = 0.25;
  store.record_evaluation(sample.round2, later, std::string("/ckpt/round_000002.png"));
  const auto round = store.history().find_round(sample.round2);
  EXPECT_EQ(round->evaluation.kl_to_uniform, 0.25);
  EXPECT_EQ(round->evaluation.fid, 98.25);  // kept
  EXPECT_EQ(round->sample_grid_path, "/ckpt/round_000002.png");
  EXPECT_THROW(store.record_evaluation(sample.round2_failed, later, std::nullopt), StorageError);
}

TEST(RunStore, CallsInsideACallersTransactionRollBackWithIt) {
  Database db = open_database(":memory:");
  RunStore store(db);
  const auto sample = populate_sample_run(db);
  const int64_t events_before = count(db, "SELECT count(*) FROM events");
  try {
    Transaction transaction(db);
    const RoundAttempt attempt = store.begin_round(sample.run_id, 3, 1.8e9, 2);
    Update u;
    u.round_id = attempt.round_id;
    u.client = "dave";
    u.received_at = 1.8e9;
    u.reject_reason = "MALFORMED";
    store.record_update(u);
    throw std::runtime_error("coordinator failed midway");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(store.history().find_client("dave"));
  EXPECT_EQ(store.history().rounds(sample.run_id).size(), 3u);
  EXPECT_EQ(count(db, "SELECT count(*) FROM events"), events_before);
}

TEST(RunStore, LogsEventsWithOptionalFields) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.create_or_resume_run({"r", 1, std::nullopt, 1, "mlp", "{}"});
  store.log_event(
      {0, 5, EventLevel::kError, "client_refused", "unknown CA", "r", std::nullopt, "eve"});
  store.log_event({0, 6, EventLevel::kDebug, "tick", "", std::nullopt, 3, std::nullopt});
  const auto events = store.history().events("r");
  ASSERT_EQ(events.size(), 2u);  // run_created and client_refused; the tick has no run
  EXPECT_EQ(events[1].level, EventLevel::kError);
  EXPECT_EQ(events[1].client, "eve");
  EXPECT_FALSE(events[1].round);
  EXPECT_THROW(
      store.log_event({0, 7, EventLevel::kInfo, "", "m", std::nullopt, std::nullopt, std::nullopt}),
      StorageError);
}

TEST(RunStore, DeletingARunRemovesItsRoundsUpdatesAndEvents) {
  Database db = open_database(":memory:");
  const auto sample = populate_sample_run(db);
  db.execute("DELETE FROM runs WHERE run_id = '" + sample.run_id + "'");
  for (const char* table : {"runs", "rounds", "updates", "events"}) {
    EXPECT_EQ(count(db, std::string("SELECT count(*) FROM ") + table), 0) << table;
  }
  EXPECT_EQ(count(db, "SELECT count(*) FROM clients"), 4);
}

TEST(RunStore, TouchClientWidensTheSeenWindow) {
  Database db = open_database(":memory:");
  RunStore store(db);
  store.touch_client("c", 10);
  store.touch_client("c", 5);  // a clock that stepped back
  const Client client = store.touch_client("c", 20);
  EXPECT_EQ(client.first_seen, 5);
  EXPECT_EQ(client.last_seen, 20);
  EXPECT_THROW(store.touch_client("", 1), StorageError);
}

}  // namespace
}  // namespace fedgan::storage
