// A coordinator's storage loop in miniature, for crash_test.cc to SIGKILL at random moments:
// open and migrate, resume the run, abort the in-flight round, load the resume checkpoint
// (checking its hash and values), then run rounds: begin, record updates, write the checkpoint,
// commit, prune. Prints "resumed <last committed round> <attempts aborted>" once and
// "committed <round>" after each commit returns.
//
// usage: fedgan_storage_crash_writer <database> <checkpoint directory> <last round>
#include "storage/checkpoint_store.h"
#include "storage/error.h"
#include "storage/run_store.h"
#include "storage/schema.h"

#include <torch/torch.h>

#include <cstdio>
#include <exception>
#include <string>

namespace fedgan::storage {
namespace {

constexpr int kClients = 3;
constexpr int64_t kTensorSize = 4096;

// The global model after `round`: every value equals the round, so a resumed process can tell
// whether it loaded the right checkpoint.
StateDict model_after(int64_t round) {
  StateDict tensors;
  tensors.insert("generator.weight", torch::full({kTensorSize}, static_cast<double>(round)));
  tensors.insert("round", torch::tensor(round));
  return tensors;
}

int64_t resume(RunStore& store, const std::string& run_id) {
  const ResumePoint point = store.recover(run_id, unix_seconds_now());
  int64_t last = 0;
  if (point.last_committed) {
    last = point.last_committed->round;
    const StateDict loaded = CheckpointStore::load(*point.last_committed->checkpoint_path,
                                                   *point.last_committed->checkpoint_sha256);
    if (loaded["round"].item<int64_t>() != last ||
        !torch::equal(loaded["generator.weight"], model_after(last)["generator.weight"])) {
      throw StorageError("the resume checkpoint does not hold the last committed round");
    }
  }
  std::printf("resumed %lld %zu\n", static_cast<long long>(last), point.aborted.size());
  std::fflush(stdout);
  return last;
}

void run_round(RunStore& store, const CheckpointStore& checkpoints, const std::string& run_id,
               int64_t round) {
  const RoundAttempt attempt = store.begin_round(run_id, round, unix_seconds_now(), kClients);
  for (int c = 0; c < kClients; ++c) {
    Update update;
    update.round_id = attempt.round_id;
    update.client = "client-" + std::to_string(c);
    update.received_at = unix_seconds_now();
    update.accepted = c != 0 || round % 3 != 0;  // some rejections too
    if (!update.accepted) update.reject_reason = "NORM_BOUND";
    update.num_samples = 100 + c;
    update.delta_norm = 1.0 + c;
    update.bytes_received = kTensorSize * 4;
    update.local_metrics_json = R"({"generator_loss": 0.5})";
    store.record_update(update);
  }
  const CheckpointFile file = checkpoints.write(round, model_after(round));
  RoundCommit commit;
  commit.finished_at = unix_seconds_now();
  commit.aggregate_norm = 1.0;
  commit.checkpoint_path = file.path.string();
  commit.checkpoint_sha256 = file.sha256_hex;
  store.commit_round(attempt.round_id, commit);
  std::printf("committed %lld\n", static_cast<long long>(round));
  std::fflush(stdout);
  checkpoints.prune({2, 5}, {file.path});
}

int run(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <database> <checkpoint directory> <last round>\n", argv[0]);
    return 2;
  }
  Database db = open_database(argv[1]);
  CheckpointStore checkpoints(argv[2]);
  RunStore store(db);
  const std::string run_id = "crash";
  store.create_or_resume_run({run_id, unix_seconds_now(), std::nullopt, 1, "mlp", "{}"});
  const int64_t last_round = std::stoll(argv[3]);
  for (int64_t round = resume(store, run_id) + 1; round <= last_round; ++round) {
    run_round(store, checkpoints, run_id, round);
  }
  return 0;
}

}  // namespace
}  // namespace fedgan::storage

int main(int argc, char** argv) {
  try {
    return fedgan::storage::run(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "crash writer: %s\n", error.what());
    return 1;
  }
}
