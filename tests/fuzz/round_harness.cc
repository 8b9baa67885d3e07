#include "tests/fuzz/round_harness.h"

#include "coordinator/coordinator.h"
#include "coordinator/error.h"
#include "storage/checkpoint_store.h"
#include "storage/history.h"
#include "storage/schema.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/memory_connection.h"
#include "tests/fuzz/round_script_sites.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

namespace fedgan::testing {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void violated(const std::string& what) {
  std::fprintf(stderr, "invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// A directory of its own for one input, in memory where the system has /dev/shm (fsync is free).
class ScratchDir {
 public:
  ScratchDir() {
    const fs::path base =
        fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    std::random_device random;
    path_ = base / fmt::format("fedgan-round-fuzz-{}-{}", ::getpid(), random());
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The coordinator's configuration, partly chosen by the input: a small MLP federation whose
// deadline never passes during a script (time does not advance), so rounds end by quorum,
// failure of quorum, or the end of the script.
coordinator::CoordinatorOptions options_from(FuzzInput& in, const fs::path& dir) {
  coordinator::CoordinatorOptions o;
  o.model.architecture = coordinator::Architecture::kMlp;
  o.rounds.min_clients = 1 + in.pick(3);
  o.rounds.quorum = in.pick(4);
  o.rounds.fraction = in.flag() ? 1.0 : 0.5;
  o.rounds.max_rounds = 1 + static_cast<int64_t>(in.pick(4));
  o.rounds.max_attempts = 1 + static_cast<int64_t>(in.pick(4));
  o.rounds.deadline_seconds = 3600;
  const coordinator::NormBoundKind bounds[] = {coordinator::NormBoundKind::kAdaptive,
                                               coordinator::NormBoundKind::kFixed,
                                               coordinator::NormBoundKind::kNone};
  o.aggregation.norm_bound = bounds[in.pick(3)];
  if (o.aggregation.norm_bound == coordinator::NormBoundKind::kFixed)
    o.aggregation.max_delta_norm = in.flag() ? 1.0 : 1e6;
  o.aggregation.norm_policy =
      in.flag() ? coordinator::NormPolicy::kClip : coordinator::NormPolicy::kReject;
  o.aggregation.server_optimizer =
      in.flag() ? coordinator::ServerOptimizer::kAdam : coordinator::ServerOptimizer::kSgd;
  o.aggregation.server_lr = in.flag() ? 1.0 : 3.0;
  o.aggregation.weighting =
      in.flag() ? coordinator::UpdateWeighting::kSamples : coordinator::UpdateWeighting::kUniform;
  o.training.networks =
      in.flag() ? coordinator::Networks::kAlternate : coordinator::Networks::kBoth;
  // The robust rules that the scripts' few sites can run (Multi-Krum and Bulyan need 5 and 7),
  // with every update spilled or none, quarantine after one flagged round, and the round's own
  // median norm as the bound.
  const coordinator::AggregationRule rules[] = {
      coordinator::AggregationRule::kFedAvg, coordinator::AggregationRule::kMedian,
      coordinator::AggregationRule::kTrimmedMean, coordinator::AggregationRule::kGeometricMedian,
      coordinator::AggregationRule::kCenteredClipping};
  o.aggregation.rule = rules[in.pick(5)];
  if (o.aggregation.rule != coordinator::AggregationRule::kFedAvg) {
    o.aggregation.robust_memory_mb = in.flag() ? 0 : 64;
    o.aggregation.quarantine_after = in.flag() ? 1 : 0;
    o.aggregation.quarantine_window = 2;
    if (in.flag()) {
      o.aggregation.norm_bound = coordinator::NormBoundKind::kRoundMedian;
      o.aggregation.max_delta_norm = 0;
    }
  }
  o.storage.database = dir / "fedgan.db";
  o.storage.checkpoint_dir = dir / "checkpoints";
  o.storage.run_id = "fuzz";
  o.storage.keep_last = 100;
  // Never read: the script's connections are adopted, no TLS server is started.
  o.tls.ca_file = "unused-ca.pem";
  o.tls.certificate_file = "unused.pem";
  o.tls.private_key_file = "unused.key";
  return o;
}

// Reads what the coordinator committed, after every action.
class HistoryChecks {
 public:
  explicit HistoryChecks(const coordinator::CoordinatorOptions& options)
      : db_(storage::open_database(options.storage.database.string(), {5000, true})),
        history_(db_),
        run_id_(options.storage.run_id) {}

  void after_action(const SiteBook& book) {
    for (const auto& round : history_.rounds(run_id_)) {
      if (round.status != storage::RoundStatus::kCommitted || checked_.count(round.round_id)) {
        continue;
      }
      checked_.insert(round.round_id);
      check_committed(round);
    }
    for (const auto& [identity, site] : book.sites()) {
      const int64_t accepted = db_.query_int(fmt::format(
          "SELECT count(*) FROM updates JOIN clients USING (client_id) WHERE accepted = 1 AND "
          "identity = '{}'",
          identity));
      if (accepted != site.verdicts_ok) {
        violated(fmt::format("{} got {} accepted verdicts but has {} accepted rows", identity,
                             site.verdicts_ok, accepted));
      }
      if (site.non_finite_accepted) violated(identity + " had an update with NaN accepted");
    }
  }

  // With every site gone and the coordinator stopped, every admission answer has its record.
  void at_end(const SiteBook& book) {
    for (const auto& [identity, site] : book.sites()) {
      const int64_t rows = db_.query_int(fmt::format(
          "SELECT count(*) FROM updates JOIN clients USING (client_id) WHERE identity = '{}'",
          identity));
      const int64_t events = db_.query_int(fmt::format(
          "SELECT count(*) FROM events WHERE kind = 'update_rejected' AND client = '{}'",
          identity));
      if (rows + events != site.admission_answers) {
        violated(fmt::format("{} got {} admission answers but left {} rows and {} events", identity,
                             site.admission_answers, rows, events));
      }
    }
  }

 private:
  void check_committed(const storage::Round& round) {
    const auto rows = history_.updates(round.round_id);
    int64_t accepted = 0;
    for (const auto& row : rows) accepted += row.accepted;
    const auto metrics = nlohmann::json::parse(round.metrics_json.value_or("{}"));
    if (accepted != round.updates_accepted || metrics.value("updates", -1) != accepted) {
      violated(fmt::format("round {} attempt {}: {} accepted rows, updates_accepted {}, metrics {}",
                           round.round, round.attempt, accepted, round.updates_accepted,
                           round.metrics_json.value_or("")));
    }
    // Every accepted update of a committed round was reviewed with the commit.
    const int64_t unreviewed = db_.query_int(
        fmt::format("SELECT count(*) FROM updates WHERE round_id = {} AND accepted = 1 AND "
                    "(flagged IS NULL OR norm_z_score IS NULL)",
                    round.round_id));
    if (unreviewed != 0) {
      violated(fmt::format("round {} attempt {}: {} accepted updates without their review",
                           round.round, round.attempt, unreviewed));
    }
    const auto state =
        storage::CheckpointStore::load(*round.checkpoint_path, *round.checkpoint_sha256);
    for (const auto& item : state) {
      if (!torch::isfinite(item.value()).all().item<bool>()) {
        violated(fmt::format("round {} committed a non-finite {}", round.round, item.key()));
      }
    }
  }

  storage::Database db_;
  storage::History history_;
  std::string run_id_;
  std::set<int64_t> checked_;
};

}  // namespace

void play_round_script(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  ScratchDir dir;
  const auto options = options_from(in, dir.path());
  try {
    coordinator::validate(options);
  } catch (const coordinator::CoordinatorError&) {
    return;  // a configuration the coordinator refuses to start with: nothing to play
  }
  boost::asio::io_context io;
  coordinator::Coordinator coordinator(options, io);
  HistoryChecks checks(options);
  SiteBook book(io, coordinator);
  constexpr int kMaxActions = 48;
  for (int action = 0; action < kMaxActions && !in.empty(); ++action) {
    book.act(in);
    io.poll();
    io.restart();
    book.read_replies();
    checks.after_action(book);
  }
  book.leave_all();
  io.poll();
  io.restart();
  coordinator.stop("script over");  // settles a checkpoint still being written
  io.poll();
  io.restart();
  book.read_replies();
  checks.after_action(book);
  checks.at_end(book);
}

}  // namespace fedgan::testing
