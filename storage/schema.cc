#include "storage/schema.h"

#include "storage/error.h"

#include <filesystem>

namespace fedgan::storage {
namespace {

// Version 1: runs, clients, rounds, updates, events. docs/storage.md documents every column; a
// test checks that it does. Times are REAL unix seconds (UTC): durations are plain subtraction,
// and datetime(t, 'unixepoch') shows them. STRICT tables make SQLite enforce the declared types.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE runs (
  run_id      TEXT NOT NULL PRIMARY KEY CHECK (length(run_id) BETWEEN 1 AND 200),
  created_at  REAL NOT NULL,
  finished_at REAL CHECK (finished_at IS NULL OR finished_at >= created_at),
  seed        INTEGER NOT NULL,
  model       TEXT NOT NULL CHECK (length(model) > 0),
  config      TEXT NOT NULL CHECK (json_valid(config))
) STRICT;

CREATE TABLE clients (
  client_id        INTEGER PRIMARY KEY,
  identity         TEXT NOT NULL UNIQUE CHECK (length(identity) > 0),
  first_seen       REAL NOT NULL,
  last_seen        REAL NOT NULL CHECK (last_seen >= first_seen),
  updates_accepted INTEGER NOT NULL DEFAULT 0 CHECK (updates_accepted >= 0),
  updates_rejected INTEGER NOT NULL DEFAULT 0 CHECK (updates_rejected >= 0),
  samples_accepted INTEGER NOT NULL DEFAULT 0 CHECK (samples_accepted >= 0),
  bytes_received   INTEGER NOT NULL DEFAULT 0 CHECK (bytes_received >= 0)
) STRICT;

CREATE TABLE rounds (
  round_id             INTEGER PRIMARY KEY,
  run_id               TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  round                INTEGER NOT NULL CHECK (round >= 0),
  attempt              INTEGER NOT NULL CHECK (attempt >= 1),
  status               TEXT NOT NULL DEFAULT 'running'
                       CHECK (status IN ('running', 'committed', 'failed', 'aborted')),
  started_at           REAL NOT NULL,
  finished_at          REAL CHECK (finished_at >= started_at),
  clients_selected     INTEGER NOT NULL DEFAULT 0 CHECK (clients_selected >= 0),
  updates_accepted     INTEGER NOT NULL DEFAULT 0 CHECK (updates_accepted >= 0),
  updates_rejected     INTEGER NOT NULL DEFAULT 0 CHECK (updates_rejected >= 0),
  samples_accepted     INTEGER NOT NULL DEFAULT 0 CHECK (samples_accepted >= 0),
  aggregate_norm       REAL CHECK (aggregate_norm >= 0),
  metrics              TEXT CHECK (metrics IS NULL OR json_valid(metrics)),
  eval_fid             REAL CHECK (eval_fid >= 0),
  eval_classes_covered INTEGER CHECK (eval_classes_covered >= 0),
  eval_modes_captured  INTEGER CHECK (eval_modes_captured >= 0),
  eval_high_quality    REAL CHECK (eval_high_quality BETWEEN 0 AND 1),
  eval_kl_uniform      REAL CHECK (eval_kl_uniform >= 0),
  checkpoint_path      TEXT CHECK (length(checkpoint_path) > 0),
  checkpoint_sha256    TEXT CHECK (length(checkpoint_sha256) = 64
                                   AND checkpoint_sha256 NOT GLOB '*[^0-9a-f]*'),
  sample_grid_path     TEXT CHECK (length(sample_grid_path) > 0),
  failure_reason       TEXT CHECK (length(failure_reason) > 0),
  UNIQUE (run_id, round, attempt),
  CHECK ((status = 'running') = (finished_at IS NULL)),
  CHECK (status <> 'committed' OR (checkpoint_path IS NOT NULL AND checkpoint_sha256 IS NOT NULL
                                   AND aggregate_norm IS NOT NULL AND failure_reason IS NULL)),
  CHECK (status NOT IN ('failed', 'aborted') OR failure_reason IS NOT NULL)
) STRICT;

-- One committed attempt per round, and one attempt in flight per run.
CREATE UNIQUE INDEX rounds_one_committed ON rounds (run_id, round) WHERE status = 'committed';
CREATE UNIQUE INDEX rounds_one_running ON rounds (run_id) WHERE status = 'running';

-- History is append-only: an attempt leaves 'running' once, and a committed round gets no new
-- attempt.
CREATE TRIGGER rounds_status_is_final BEFORE UPDATE OF status ON rounds
WHEN OLD.status <> 'running' AND NEW.status <> OLD.status
BEGIN
  SELECT RAISE(ABORT, 'a finished round attempt cannot change status');
END;
CREATE TRIGGER rounds_no_attempt_after_commit BEFORE INSERT ON rounds
WHEN EXISTS (SELECT 1 FROM rounds
             WHERE run_id = NEW.run_id AND round = NEW.round AND status = 'committed')
BEGIN
  SELECT RAISE(ABORT, 'this round is already committed');
END;

CREATE TABLE updates (
  update_id          INTEGER PRIMARY KEY,
  round_id           INTEGER NOT NULL REFERENCES rounds (round_id) ON DELETE CASCADE,
  client_id          INTEGER NOT NULL REFERENCES clients (client_id),
  received_at        REAL NOT NULL,
  accepted           INTEGER NOT NULL CHECK (accepted IN (0, 1)),
  reject_reason      TEXT CHECK (length(reject_reason) > 0
                                 AND reject_reason NOT GLOB '*[^A-Z0-9_]*'),
  reject_message     TEXT,
  num_samples        INTEGER CHECK (num_samples >= 0),
  delta_norm         REAL CHECK (delta_norm >= 0),
  bytes_received     INTEGER NOT NULL DEFAULT 0 CHECK (bytes_received >= 0),
  upload_seconds     REAL CHECK (upload_seconds >= 0),
  train_seconds      REAL CHECK (train_seconds >= 0),
  samples_per_second REAL CHECK (samples_per_second >= 0),
  local_metrics      TEXT CHECK (local_metrics IS NULL OR json_valid(local_metrics)),
  CHECK ((accepted = 1) = (reject_reason IS NULL)),
  CHECK (accepted = 0 OR (reject_message IS NULL AND num_samples IS NOT NULL
                          AND delta_norm IS NOT NULL))
) STRICT;

-- A client contributes at most once to a round attempt; its duplicates are recorded as rejected.
CREATE UNIQUE INDEX updates_one_accepted ON updates (round_id, client_id) WHERE accepted = 1;
CREATE INDEX updates_round ON updates (round_id, accepted);
CREATE INDEX updates_client ON updates (client_id, accepted);
CREATE INDEX updates_reason ON updates (reject_reason) WHERE reject_reason IS NOT NULL;

CREATE TABLE events (
  event_id  INTEGER PRIMARY KEY,
  run_id    TEXT REFERENCES runs (run_id) ON DELETE CASCADE,
  logged_at REAL NOT NULL,
  level     TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warning', 'error')),
  kind      TEXT NOT NULL CHECK (length(kind) > 0),
  round     INTEGER CHECK (round >= 0),
  client    TEXT,
  message   TEXT NOT NULL
) STRICT;

CREATE INDEX events_run_time ON events (run_id, logged_at);
CREATE INDEX events_level ON events (level, logged_at) WHERE level IN ('warning', 'error');
CREATE INDEX events_client ON events (client, logged_at) WHERE client IS NOT NULL;
)sql";

// Version 2: the bound each update's norm was judged against, so the history shows which updates
// were clipped (delta_norm > norm_bound) and restarts continue the adaptive bound.
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE updates ADD COLUMN norm_bound REAL CHECK (norm_bound > 0);
)sql";

// Version 3: how each accepted update compared with its round, written when the round commits,
// and each client's count of committed rounds in which it was flagged.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE updates ADD COLUMN aggregate_distance REAL CHECK (aggregate_distance >= 0);
ALTER TABLE updates ADD COLUMN aggregate_cosine REAL
  CHECK (aggregate_cosine BETWEEN -1 AND 1);
ALTER TABLE updates ADD COLUMN norm_z_score REAL;
ALTER TABLE updates ADD COLUMN rule_effect TEXT
  CHECK (rule_effect IN ('kept', 'down_weighted', 'clipped', 'excluded'));
ALTER TABLE updates ADD COLUMN rule_weight REAL CHECK (rule_weight BETWEEN 0 AND 1);
ALTER TABLE updates ADD COLUMN flagged INTEGER CHECK (flagged IN (0, 1));
ALTER TABLE clients ADD COLUMN flagged_rounds INTEGER NOT NULL DEFAULT 0
  CHECK (flagged_rounds >= 0);
)sql";

// True when the file holds any table, index, view or trigger.
bool has_schema(Database& db) {
  return db.query_int("SELECT count(*) FROM sqlite_schema") > 0;
}

// Refuses a file that is not ours, or that a newer build migrated, before anything is written.
void check_compatible(Database& db, int version, int latest) {
  const int64_t application = db.query_int("PRAGMA application_id");
  check(application == kApplicationId || (application == 0 && version == 0 && !has_schema(db)),
        "{} is not a fedgan database (application_id {}, user_version {}); give fedgan a new file "
        "name",
        db.path(), application, version);
  check(version <= latest,
        "database {} has schema version {}, newer than the newest this build of fedgan knows "
        "({}); open it with the fedgan build that wrote it, or a newer one",
        db.path(), version, latest);
}

void apply(Database& db, const Migration& step) {
  Transaction transaction(db);
  // Another process may have migrated between our read of the version and our write lock.
  if (schema_version(db) >= step.version) return;
  db.execute(step.sql);
  Statement violations = db.prepare("PRAGMA foreign_key_check");
  if (violations.step()) {
    throw StorageError(fmt::format(
        "migration to schema version {} ({}) of {} leaves foreign-key violations (first in table "
        "{})",
        step.version, step.description, db.path(), violations.column<std::string>(0)));
  }
  db.execute(fmt::format("PRAGMA user_version = {}; PRAGMA application_id = {}", step.version,
                         kApplicationId));
  transaction.commit();
}

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> steps = {
      {1, "runs, clients, rounds, updates and events", kSchemaV1},
      {2, "updates.norm_bound", kSchemaV2},
      {3, "updates' comparison with their round, clients.flagged_rounds", kSchemaV3},
  };
  return steps;
}

int latest_schema_version() {
  return migrations().back().version;
}

int schema_version(Database& db) {
  return static_cast<int>(db.query_int("PRAGMA user_version"));
}

int migrate(Database& db, const std::vector<Migration>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    check(steps[i].version == static_cast<int>(i) + 1,
          "migration list out of order: step {} has version {}", i + 1, steps[i].version);
  }
  const int latest = steps.empty() ? 0 : steps.back().version;
  const int before = schema_version(db);
  check_compatible(db, before, latest);
  for (const Migration& step : steps) {
    if (step.version > before) apply(db, step);
  }
  return before;
}

Database open_database(const std::string& path, const DatabaseOptions& options) {
  if (!options.read_only) {
    // Opening read-write switches the file to WAL; look at an existing file read-only first, so
    // that another application's database or a newer fedgan's is refused unmodified.
    if (path != ":memory:" && !path.empty() && std::filesystem::exists(path)) {
      Database probe(path, {options.busy_timeout_ms, true});
      check_compatible(probe, schema_version(probe), latest_schema_version());
    }
    Database db(path, options);
    migrate(db);
    return db;
  }
  Database db(path, options);
  const int version = schema_version(db);
  check_compatible(db, version, latest_schema_version());
  check(version == latest_schema_version(),
        "database {} has schema version {}; this build needs {}: open it read-write once to "
        "migrate it",
        path, version, latest_schema_version());
  return db;
}

}  // namespace fedgan::storage
