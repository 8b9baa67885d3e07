#pragma once

#include "storage/database.h"
#include "storage/records.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace fedgan::storage::testing {

/// A fresh directory under the system's temporary directory, removed with its contents on
/// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// What populate_sample_run wrote.
struct SampleRun {
  std::string run_id = "sample-run";
  int64_t round1 = 0;          // round 1, committed (with evaluation)
  int64_t round2_failed = 0;   // round 2 attempt 1, failed
  int64_t round2 = 0;          // round 2 attempt 2, committed
  int64_t round3_running = 0;  // round 3 attempt 1, still running (0 unless asked for)
};

/// Writes a small but complete run through RunStore into the migrated `db`: four clients
/// (alice, bob, carol, mallory), round 1 committed with three accepted updates and one NON_FINITE
/// rejection, round 2 failed once (mallory's NORM_BOUND rejection, no quorum) and committed on the
/// second attempt with mallory's oversized but accepted update (excluded by the rule and flagged
/// in the round's reviews, so mallory has one flagged round); and, when `leave_round3_running`,
/// round 3 begun with one update. Every one of the documented queries returns rows on it.
SampleRun populate_sample_run(Database& db, bool leave_round3_running = false);

/// The value of `PRAGMA integrity_check` ("ok" for a sound database).
std::string integrity_check(Database& db);

}  // namespace fedgan::storage::testing
