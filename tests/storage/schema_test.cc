#include "storage/schema.h"
#include "storage/error.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace fedgan::storage {
namespace {

using testing::integrity_check;
using testing::TempDir;

// Every table, index and trigger with its SQL, to compare schemas.
std::string schema_text(Database& db) {
  auto s = db.prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY name");
  std::string text;
  while (s.step()) {
    text += s.column<std::string>(0) + " " + s.column<std::string>(1) + ": " +
            s.column<std::string>(2) + "\n";
  }
  return text;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const StorageError& error) {
    return error.what();
  }
  return "";
}

TEST(Schema, NewDatabaseGetsTheLatestVersionAndEveryTable) {
  Database db = open_database(":memory:");
  EXPECT_EQ(schema_version(db), latest_schema_version());
  EXPECT_EQ(db.query_int("PRAGMA application_id"), kApplicationId);
  for (const char* table : {"runs", "clients", "rounds", "updates", "events"}) {
    EXPECT_EQ(
        db.query_int(fmt::format(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '{}'", table)),
        1)
        << table;
  }
  EXPECT_EQ(integrity_check(db), "ok");
  EXPECT_EQ(db.query_int("SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

TEST(Schema, MigrationsAreNumberedFromOne) {
  const auto& steps = migrations();
  ASSERT_FALSE(steps.empty());
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i].version, static_cast<int>(i) + 1);
}

TEST(Schema, ReopeningIsIdempotent) {
  TempDir dir;
  const std::string path = (dir / "fedgan.db").string();
  std::string first;
  {
    Database db = open_database(path);
    first = schema_text(db);
    db.execute("INSERT INTO clients (identity, first_seen, last_seen) VALUES ('a', 1, 2)");
  }
  Database db = open_database(path);
  EXPECT_EQ(migrate(db), latest_schema_version());  // nothing left to do
  EXPECT_EQ(schema_text(db), first);
  EXPECT_EQ(db.query_int("SELECT count(*) FROM clients"), 1);
  EXPECT_EQ(db.query_text("PRAGMA journal_mode"), "wal");
}

TEST(Schema, RefusesADatabaseFromANewerBuildWithoutTouchingIt) {
  TempDir dir;
  const std::string path = (dir / "fedgan.db").string();
  {
    Database db = open_database(path);
    db.execute(fmt::format("PRAGMA user_version = {}", latest_schema_version() + 1));
  }
  const std::string message = error_of([&] { open_database(path); });
  EXPECT_NE(message.find(fmt::format("schema version {}", latest_schema_version() + 1)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("newer"), std::string::npos) << message;
  Database db(path, {5000, true});
  EXPECT_EQ(schema_version(db), latest_schema_version() + 1);
}

TEST(Schema, RefusesAnotherApplicationsDatabase) {
  TempDir dir;
  const std::string path = (dir / "other.db").string();
  {
    Database db(path);
    db.execute("PRAGMA journal_mode = DELETE; CREATE TABLE notes (text TEXT)");
  }
  const std::string message = error_of([&] { open_database(path); });
  EXPECT_NE(message.find("is not a fedgan database"), std::string::npos) << message;
  Database db(path, {5000, true});
  EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'runs'"), 0);
  EXPECT_EQ(db.query_text("PRAGMA journal_mode"), "delete");  // not even switched to WAL
}

TEST(Schema, ReadOnlyOpenChecksButDoesNotMigrate) {
  TempDir dir;
  const std::string path = (dir / "fedgan.db").string();
  Database(path).execute("PRAGMA user_version = 0");  // an empty database file
  EXPECT_NE(error_of([&] {
              open_database(path, {5000, true});
            }).find("open it read-write"),
            std::string::npos);
  open_database(path);
  Database reader = open_database(path, {5000, true});
  EXPECT_EQ(schema_version(reader), latest_schema_version());
  EXPECT_THROW(reader.execute("DELETE FROM runs"), StorageError);
}

// A database written by a version-2 build keeps its rows: the new review columns read NULL and
// every client has no flagged round.
TEST(Migrate, AVersion2DatabaseGainsTheReviewColumnsWithItsRows) {
  TempDir dir;
  const std::string path = (dir / "fedgan.db").string();
  {
    Database db(path);
    const std::vector<Migration> up_to_2(migrations().begin(), migrations().begin() + 2);
    migrate(db, up_to_2);
    db.execute(
        "INSERT INTO clients (identity, first_seen, last_seen) VALUES ('alice', 1, 2);"
        "INSERT INTO runs (run_id, created_at, seed, model, config) VALUES ('r', 1, 1, 'mlp', "
        "'{}');"
        "INSERT INTO rounds (run_id, round, attempt, started_at) VALUES ('r', 1, 1, 1);"
        "INSERT INTO updates (round_id, client_id, received_at, accepted, num_samples, "
        "delta_norm) VALUES (1, 1, 2, 1, 10, 0.5)");
  }
  Database db = open_database(path);
  EXPECT_EQ(schema_version(db), 3);
  EXPECT_EQ(db.query_int("SELECT flagged_rounds FROM clients WHERE identity = 'alice'"), 0);
  EXPECT_EQ(db.query_int("SELECT count(*) FROM updates WHERE delta_norm = 0.5 AND flagged IS NULL "
                         "AND rule_effect IS NULL AND aggregate_cosine IS NULL"),
            1);
  EXPECT_THROW(db.execute("UPDATE updates SET rule_effect = 'ignored'"), StorageError);
  EXPECT_THROW(db.execute("UPDATE updates SET aggregate_cosine = 1.5"), StorageError);
}

// The migration machinery with a two-step list: a database at version 1 (made by hand) is
// brought to version 2 with its rows preserved.
TEST(Migrate, AppliesPendingStepsInOrderAndKeepsData) {
  const std::vector<Migration> v1 = {{1, "notes", "CREATE TABLE notes (text TEXT NOT NULL)"}};
  const std::vector<Migration> v2 = {v1[0],
                                     {2, "note times",
                                      "ALTER TABLE notes ADD COLUMN at REAL NOT NULL DEFAULT 0;"
                                      "CREATE INDEX notes_at ON notes (at)"}};
  TempDir dir;
  const std::string path = (dir / "m.db").string();
  {
    Database db(path);
    EXPECT_EQ(migrate(db, v1), 0);
    db.execute("INSERT INTO notes (text) VALUES ('kept')");
  }
  Database db(path);
  EXPECT_EQ(migrate(db, v2), 1);
  EXPECT_EQ(schema_version(db), 2);
  EXPECT_EQ(db.query_text("SELECT text || '@' || at FROM notes"), "kept@0.0");
  EXPECT_EQ(migrate(db, v2), 2);
  EXPECT_THROW(migrate(db, v1), StorageError);  // version 2 is newer than v1 knows
}

TEST(Migrate, AFailingStepIsRolledBackEntirely) {
  const std::vector<Migration> steps = {
      {1, "notes", "CREATE TABLE notes (text TEXT)"},
      {2, "broken", "CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1)"}};
  Database db(":memory:");
  const std::string message = error_of([&] { migrate(db, steps); });
  EXPECT_NE(message.find("no such table: no_such_table"), std::string::npos) << message;
  EXPECT_EQ(schema_version(db), 1);  // step 1 stays, step 2 left no trace
  EXPECT_EQ(db.query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'half'"), 0);
  EXPECT_FALSE(db.in_transaction());
}

TEST(Migrate, RefusesAMisnumberedList) {
  Database db(":memory:");
  EXPECT_THROW(migrate(db, {{2, "skips one", "SELECT 1"}}), StorageError);
}

class Constraints : public ::testing::Test {
 protected:
  void SetUp() override {
    db_.execute(
        "INSERT INTO runs (run_id, created_at, seed, model, config) VALUES ('r', 10, 1, 'mlp', "
        "'{}');"
        "INSERT INTO clients (identity, first_seen, last_seen) VALUES ('c', 10, 10);"
        "INSERT INTO rounds (round_id, run_id, round, attempt, started_at) VALUES (1, 'r', 1, 1, "
        "10)");
  }
  // The statement must fail with SQLITE_CONSTRAINT (any kind: CHECK, UNIQUE, NOT NULL, FOREIGN
  // KEY, a STRICT type mismatch or a trigger).
  void expect_refused(const std::string& sql, const std::string& why) {
    constexpr int kSqliteConstraint = 19;
    try {
      db_.execute(sql);
      ADD_FAILURE() << why << ": '" << sql << "' was accepted";
    } catch (const StorageError& error) {
      EXPECT_EQ(error.sqlite_code() & 0xFF, kSqliteConstraint)
          << why << ": '" << sql << "' gave '" << error.what() << "'";
    }
  }
  Database db_ = open_database(":memory:");
};

TEST_F(Constraints, RejectBadRuns) {
  expect_refused("INSERT INTO runs VALUES ('', 1, NULL, 1, 'mlp', '{}')", "empty run id");
  expect_refused("INSERT INTO runs VALUES ('x', 1, NULL, 1, 'mlp', 'not json')", "config");
  expect_refused("INSERT INTO runs VALUES ('x', 1, 0.5, 1, 'mlp', '{}')", "finished before");
  expect_refused("INSERT INTO runs VALUES ('x', 'yesterday', NULL, 1, 'mlp', '{}')", "STRICT");
  expect_refused("INSERT INTO runs VALUES ('r', 1, NULL, 1, 'mlp', '{}')", "duplicate run");
}

TEST_F(Constraints, RejectBadRounds) {
  const std::string insert = "INSERT INTO rounds (run_id, round, attempt, started_at, ";
  expect_refused(insert + "status) VALUES ('r', 2, 1, 10, 'done')", "unknown status");
  expect_refused(insert + "clients_selected) VALUES ('r', 2, 1, 10, -1)", "negative count");
  expect_refused(insert + "status) VALUES ('nope', 2, 1, 10, 'running')", "unknown run");
  expect_refused(insert + "status) VALUES ('r', 2, 0, 10, 'running')", "attempt 0");
  expect_refused(insert +
                     "finished_at, status, failure_reason) VALUES ('r', 1, 1, 10, 11, "
                     "'failed', 'x')",
                 "duplicate (run, round, attempt)");
  expect_refused(insert + "status) VALUES ('r', 2, 1, 10, 'running')", "second running attempt");
  expect_refused(insert + "finished_at, status) VALUES ('r', 2, 1, 10, 11, 'failed')",
                 "failed without reason");
  expect_refused("UPDATE rounds SET status = 'committed', finished_at = 11 WHERE round_id = 1",
                 "committed without checkpoint");
  expect_refused(
      "UPDATE rounds SET status = 'committed', finished_at = 11, aggregate_norm = 1, "
      "checkpoint_path = '/c.pt', checkpoint_sha256 = 'ABC' WHERE round_id = 1",
      "bad hash");
  expect_refused(
      "UPDATE rounds SET status = 'failed', finished_at = 5, failure_reason = 'x' "
      "WHERE round_id = 1",
      "finished before started");
}

TEST_F(Constraints, CommittedRoundsAreFinal) {
  const std::string commit =
      "UPDATE rounds SET status = 'committed', finished_at = 11, aggregate_norm = 1, "
      "checkpoint_path = '/c.pt', checkpoint_sha256 = '" +
      std::string(64, 'e') + "' WHERE round_id = 1";
  db_.execute(commit);
  expect_refused("UPDATE rounds SET status = 'aborted', failure_reason = 'x' WHERE round_id = 1",
                 "status change after commit");
  expect_refused("INSERT INTO rounds (run_id, round, attempt, started_at) VALUES ('r', 1, 2, 12)",
                 "new attempt at a committed round");
}

TEST_F(Constraints, RejectBadUpdates) {
  const std::string insert =
      "INSERT INTO updates (round_id, client_id, received_at, accepted, reject_reason, "
      "num_samples, delta_norm) VALUES ";
  expect_refused(insert + "(1, 1, 10, 1, 'NON_FINITE', 5, 1)", "accepted with reason");
  expect_refused(insert + "(1, 1, 10, 0, NULL, 5, 1)", "rejected without reason");
  expect_refused(insert + "(1, 1, 10, 0, 'non finite', 5, 1)", "reason not a code");
  expect_refused(insert + "(1, 1, 10, 1, NULL, -5, 1)", "negative samples");
  expect_refused(insert + "(1, 1, 10, 1, NULL, 5, -1)", "negative norm");
  expect_refused(insert + "(1, 1, 10, 1, NULL, NULL, 1)", "accepted without samples");
  expect_refused(insert + "(1, 99, 10, 1, NULL, 5, 1)", "unknown client");
  expect_refused(insert + "(9, 1, 10, 1, NULL, 5, 1)", "unknown round");
  expect_refused(insert + "(1, 1, 10, 2, NULL, 5, 1)", "accepted not boolean");
  db_.execute(insert + "(1, 1, 10, 1, NULL, 5, 1)");
  expect_refused(insert + "(1, 1, 11, 1, NULL, 5, 1)", "second accepted update");
  db_.execute(insert + "(1, 1, 11, 0, 'DUPLICATE_UPDATE', 5, 1)");  // recorded as rejected
}

TEST_F(Constraints, RejectBadClientsAndEvents) {
  expect_refused("INSERT INTO clients (identity, first_seen, last_seen) VALUES ('c', 1, 1)",
                 "duplicate identity");
  expect_refused("INSERT INTO clients (identity, first_seen, last_seen) VALUES ('d', 2, 1)",
                 "last before first");
  expect_refused(
      "INSERT INTO clients (identity, first_seen, last_seen, updates_rejected) VALUES ('d', 1, "
      "1, -1)",
      "negative total");
  expect_refused(
      "INSERT INTO events (logged_at, level, kind, message) VALUES (1, 'fatal', 'k', '')",
      "unknown level");
  expect_refused("INSERT INTO events (logged_at, level, kind, message) VALUES (1, 'info', '', '')",
                 "empty kind");
}

}  // namespace
}  // namespace fedgan::storage
