#include "tests/storage/test_util.h"

#include "storage/run_store.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>

namespace fedgan::storage::testing {
namespace {

constexpr double kStart = 1.7e9;  // 2023-11-14, a fixed clock for reproducible rows

Update accepted(int64_t round_id, const std::string& client, double at, int64_t samples,
                double norm, double generator_loss) {
  Update u;
  u.round_id = round_id;
  u.client = client;
  u.received_at = at;
  u.accepted = true;
  u.num_samples = samples;
  u.delta_norm = norm;
  u.bytes_received = 400000 + samples;
  u.upload_seconds = 0.5 + samples / 2000.0;
  u.train_seconds = samples / 100.0;
  u.samples_per_second = 100.0;
  u.local_metrics_json = fmt::format(R"({{"generator_loss": {}, "discriminator_loss": {}}})",
                                     generator_loss, 1.4 - generator_loss / 2);
  return u;
}

Update rejected(int64_t round_id, const std::string& client, double at, const std::string& reason,
                std::optional<double> norm) {
  Update u;
  u.round_id = round_id;
  u.client = client;
  u.received_at = at;
  u.reject_reason = reason;
  u.reject_message = fmt::format("{} from {}", reason, client);
  u.num_samples = 500;
  u.delta_norm = norm;
  u.bytes_received = 400500;
  u.upload_seconds = 0.7;
  return u;
}

RoundCommit commit_at(double at, int64_t round) {
  RoundCommit c;
  c.finished_at = at;
  c.aggregate_norm = 0.8;
  c.metrics_json = R"({"generator_loss": 0.9})";
  c.checkpoint_path = fmt::format("/ckpt/round_{:06d}.pt", round);
  c.checkpoint_sha256 = std::string(64, static_cast<char>('a' + round));
  return c;
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "fedgan_storage_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

SampleRun populate_sample_run(Database& db, bool leave_round3_running) {
  SampleRun s;
  RunStore store(db);
  store.create_or_resume_run({s.run_id, kStart, std::nullopt, 7, "dcgan", R"({"rounds": 4})"});
  for (const char* name : {"alice", "bob", "carol", "mallory"}) store.touch_client(name, kStart);

  s.round1 = store.begin_round(s.run_id, 1, kStart + 10, 4).round_id;
  store.record_update(accepted(s.round1, "alice", kStart + 20, 1000, 1.0, 0.9));
  store.record_update(accepted(s.round1, "bob", kStart + 21, 800, 1.2, 0.8));
  store.record_update(accepted(s.round1, "carol", kStart + 25, 600, 0.9, 1.0));
  store.record_update(rejected(s.round1, "mallory", kStart + 26, "NON_FINITE", std::nullopt));
  RoundCommit c1 = commit_at(kStart + 30, 1);
  c1.evaluation.fid = 120.5;
  c1.evaluation.classes_covered = 9;
  c1.evaluation.kl_to_uniform = 0.05;
  c1.sample_grid_path = "/ckpt/round_000001.png";
  store.commit_round(s.round1, c1);

  s.round2_failed = store.begin_round(s.run_id, 2, kStart + 40, 4).round_id;
  store.record_update(accepted(s.round2_failed, "alice", kStart + 50, 1000, 1.1, 0.85));
  store.record_update(rejected(s.round2_failed, "mallory", kStart + 51, "NORM_BOUND", 50.0));
  store.fail_round(s.round2_failed, kStart + 100, "deadline without quorum");

  s.round2 = store.begin_round(s.run_id, 2, kStart + 110, 4).round_id;
  const int64_t alice2 =
      store.record_update(accepted(s.round2, "alice", kStart + 120, 1000, 1.0, 0.8));
  const int64_t bob2 = store.record_update(accepted(s.round2, "bob", kStart + 122, 800, 1.1, 0.7));
  const int64_t carol2 =
      store.record_update(accepted(s.round2, "carol", kStart + 130, 600, 0.8, 0.9));
  const int64_t mallory2 =
      store.record_update(accepted(s.round2, "mallory", kStart + 131, 500, 9.0, 0.1));
  RoundCommit c2 = commit_at(kStart + 140, 2);
  // As Multi-Krum with f = 1 and m = 3 would see them: mallory's update left out and flagged.
  c2.reviews = {{alice2, 0.2, 0.98, -0.53, RuleEffect::kKept, 1.0 / 3, false, std::nullopt},
                {bob2, 0.3, 0.97, -0.50, RuleEffect::kKept, 1.0 / 3, false, std::nullopt},
                {carol2, 0.25, 0.99, -0.59, RuleEffect::kKept, 1.0 / 3, false, std::nullopt},
                {mallory2, 8.1, -0.4, 1.72, RuleEffect::kExcluded, 0.0, true, std::nullopt}};
  c2.evaluation.fid = 98.25;
  c2.evaluation.classes_covered = 10;
  store.commit_round(s.round2, c2);

  if (leave_round3_running) {
    s.round3_running = store.begin_round(s.run_id, 3, kStart + 150, 4).round_id;
    store.record_update(accepted(s.round3_running, "alice", kStart + 160, 1000, 1.0, 0.75));
  }
  return s;
}

std::string integrity_check(Database& db) {
  return db.query_text("PRAGMA integrity_check");
}

}  // namespace fedgan::storage::testing
