#pragma once

#include "storage/database.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fedgan::storage {

/// Written to the file header (`PRAGMA application_id`), so that fedgan refuses to migrate a
/// SQLite file that belongs to something else, and `file(1)` can tell what the file is. "FGAN".
inline constexpr int32_t kApplicationId = 0x4647414E;

/// One forward step of the schema. `sql` may hold several statements; it runs inside the
/// transaction that also sets `PRAGMA user_version` to `version`, so a step is applied entirely
/// or not at all. Foreign keys are enforced while it runs: a step that rebuilds a referenced table
/// must follow SQLite's 12-step ALTER TABLE procedure with a new table name, and every step ends
/// with a `PRAGMA foreign_key_check` that must come back empty.
struct Migration {
  int version = 0;  // 1, 2, ...: the user_version once applied
  std::string_view description;
  std::string_view sql;
};

/// The migrations of this build, in order (`migrations()[i].version == i + 1`). Released steps are
/// never edited; a schema change is a new step at the end.
const std::vector<Migration>& migrations();

/// The schema version this build writes: the version of the last migration.
int latest_schema_version();

/// The database's `PRAGMA user_version` (0 for a new file).
int schema_version(Database& db);

/// Brings the database to the newest version of `steps` (default: migrations()), applying each
/// pending step in its own transaction. Returns the version found before. Opening an up-to-date
/// database changes nothing. Throws StorageError, leaving the database at the last complete step,
/// when a step fails; and without touching it when the file holds another application's tables,
/// or a schema version newer than `steps` knows (a newer fedgan wrote it).
int migrate(Database& db, const std::vector<Migration>& steps = migrations());

/// Opens the database at `path` and migrates it (read-write), or, with `options.read_only`,
/// checks that it is a fedgan database of exactly latest_schema_version(). Throws StorageError.
Database open_database(const std::string& path, const DatabaseOptions& options = {});

}  // namespace fedgan::storage
