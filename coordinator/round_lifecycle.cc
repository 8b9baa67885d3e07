#include "coordinator/coordinator_impl.h"

#include "aggregation/delta.h"
#include "aggregation/error.h"
#include "coordinator/error.h"
#include "coordinator/round_plan.h"
#include "coordinator/round_task.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cmath>

namespace fedgan::coordinator {

namespace asio = boost::asio;
using protocol::ProtocolError;

namespace {

constexpr size_t kNonceBytes = 16;
// Longest a round's checkpoint waits for the next round's model to go out (CheckpointGate): how
// long one client that stalls its download can delay the commit.
constexpr std::chrono::milliseconds kCheckpointHoldLimit{1000};
// Ended attempts kept for late uploads: a straggler is one or two attempts behind.
constexpr size_t kEndedAttemptsKept = 4;

std::string random_nonce() {
  std::string nonce(kNonceBytes, '\0');
  check(RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) == 1,
        "the system random generator failed");
  return nonce;
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

}  // namespace

// --- rounds -----------------------------------------------------------------------------------

// Called with mutex_ held.
void Coordinator::Impl::maybe_start_round() {
  if (stopped_ || round_) return;
  if (sessions_.size() < clients_needed_to_start(options_.rounds)) {
    // No model goes out for a waiting checkpoint to make way for.
    if (pending_) pending_->gate->open();
    return;
  }
  start_round();
}

void Coordinator::Impl::start_round() {
  const auto started = Clock::now();
  std::vector<std::string> connected;
  for (const auto& entry : sessions_) connected.push_back(entry.first);
  const int64_t round = next_round_;
  const int64_t attempt_number = failed_attempts_ + 1;
  const auto selected = select_clients(connected, options_.rounds, round, attempt_number);
  const double now = storage::unix_seconds_now();
  RoundPhases phases;
  const wire::Codec codec = parse_wire_codec(options_.model.codec);
  std::shared_ptr<ModelSnapshot> snapshot;
  try {
    PhaseTimer timer(phases.dispatch);
    snapshot = std::make_shared<ModelSnapshot>(model_, codec);
  } catch (const ProtocolError& error) {
    // Every later round would fail the same way: nothing a client can do about it.
    return stop(fmt::format("the global model cannot be sent: {}", error.what()), 1);
  }
  // The previous snapshot (complete by now, unless a client never finished its download) is
  // encoded in full before it is forgotten, since only sent_model_ is finished before model_
  // changes.
  if (sent_model_) sent_model_->finish();
  sent_model_ = snapshot;
  storage::RoundAttempt attempt;
  attempt.run_id = options_.storage.run_id;
  attempt.round = round;
  attempt.attempt = attempt_number;
  std::map<std::string, std::string> nonces;
  for (const auto& identity : selected) nonces[identity] = random_nonce();
  aggregation::FedAvgOptions fedavg_options;
  fedavg_options.weighting = options_.aggregation.weighting == "uniform"
                                 ? aggregation::Weighting::kUniform
                                 : aggregation::Weighting::kSampleCount;
  fedavg_options.max_samples_per_update = options_.aggregation.max_samples_per_update;
  fedavg_options.server_lr = server_lr_of_round(options_.aggregation, options_.rounds, round);
  const auto networks = networks_of_round(options_.training, round);
  const double global_norm = norm_bound_.needs_model_norm(networks)
                                 ? aggregation::l2_norm(model_.layout(), model_.const_views())
                                 : 0.0;
  round_.emplace(RunningRound{attempt,
                              ++generations_,
                              now,
                              static_cast<int64_t>(selected.size()),
                              false,
                              RoundRoster(round, nonces, model_.manifest(), options_.aggregation),
                              aggregation::StreamingFedAvg(model_.layout(), fedavg_options),
                              required_quorum(options_.rounds, selected.size()),
                              started,
                              norm_bound_.for_round(networks, global_norm),
                              {},
                              {},
                              {},
                              phases});
  // Recorded now, or once the previous round's commit is (its checkpoint is being written).
  if (!pending_) record_round_start();
  fmt::print("round {} attempt {}: {} of {} connected clients selected, quorum {}{}, {}\n", round,
             attempt_number, selected.size(), connected.size(), round_->quorum,
             networks == gan::TrainedNetworks::kBoth
                 ? ""
                 : fmt::format(", trains the {} only", gan::trained_networks_name(networks)),
             round_->norm_bound ? fmt::format("delta norm bound {:.4g}", *round_->norm_bound)
                                : std::string("no delta norm bound"));
  std::fflush(stdout);

  std::optional<PhaseTimer> dispatch(round_->phases.dispatch);
  // The previous round's checkpoint waits until every selected client has its model queued.
  std::shared_ptr<CheckpointGate> gate = pending_ ? pending_->gate : nullptr;
  if (gate) gate->await_sends(selected.size());
  const auto on_model_queued = [gate] {
    if (gate) gate->send_done();
  };
  const uint64_t model_bytes = snapshot->total_bytes();
  const int64_t deadline_ms =
      static_cast<int64_t>(std::llround(now * 1000.0)) +
      static_cast<int64_t>(std::llround(options_.rounds.deadline_seconds * 1000.0));
  for (const auto& identity : selected) {
    const wire::Task task = task_of_round(options_, round, nonces[identity], deadline_ms);
    try {
      sessions_.at(identity)->send_task(task, snapshot, on_model_queued);
      round_->bytes_sent += model_bytes;
    } catch (const protocol::TransportError& gone) {
      round_->roster.drop(identity);
      on_model_queued();
    }
  }
  dispatch.reset();
  deadline_timer_.expires_after(millis(options_.rounds.deadline_seconds));
  deadline_timer_.async_wait(
      [weak = std::weak_ptr<Impl>(shared_from_this()),
       generation = round_->generation](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->on_deadline(generation);
      });
  evaluate_round(false);
}

void Coordinator::Impl::on_deadline(uint64_t generation) {
  std::lock_guard lock(mutex_);
  if (!round_ || round_->generation != generation || stopped_) return;
  evaluate_round(true);
}

// Called with mutex_ held whenever a count of the round changed.
void Coordinator::Impl::evaluate_round(bool deadline_passed) {
  if (!round_ || stopped_) return;
  const auto decision = decide(round_->roster.accepted(), round_->roster.outstanding(),
                               round_->quorum, deadline_passed);
  if (decision == RoundDecision::kCommit) return commit_round();
  if (decision == RoundDecision::kFail) {
    fail_round(deadline_passed
                   ? fmt::format("deadline passed with {} of {} required updates accepted",
                                 round_->roster.accepted(), round_->quorum)
                   : fmt::format("quorum of {} unreachable: {} accepted, {} still outstanding",
                                 round_->quorum, round_->roster.accepted(),
                                 round_->roster.outstanding()));
  }
}

void Coordinator::Impl::commit_round() {
  deadline_timer_.cancel();
  // The previous round's checkpoint must be durable before the model changes again, and this
  // round must be in the database before it can be committed there.
  settle_pending_commit();
  end_uploads_in_flight(wire::STATUS_WRONG_ROUND,
                        fmt::format("round {} committed with its quorum of {} before this upload "
                                    "completed",
                                    round_->attempt.round, round_->quorum));
  auto& round = *round_;
  auto& phases = round.phases;
  std::optional<PhaseTimer> aggregation_timer(phases.aggregation);
  // A client still downloading the model this round sent gets it whole, not half the new one.
  if (sent_model_) sent_model_->finish();
  const auto networks = networks_of_round(options_.training, round.attempt.round);
  const std::vector<bool> moving = model_.moving_mask(networks);
  const double server_lr =
      server_lr_of_round(options_.aggregation, options_.rounds, round.attempt.round);
  double aggregate_norm = 0;
  try {
    if (server_adam_) {
      DeltaBuffer mean(model_);
      round.fedavg.aggregate_into(mean.mutable_views());
      server_adam_->set_lr(server_lr);
      aggregate_norm = server_adam_->step(mean.views(), model_.mutable_views(), moving);
    } else {
      aggregate_norm = round.fedavg.apply_to(model_.mutable_views(), moving);
    }
  } catch (const aggregation::AggregationError& error) {
    // Refused before anything changed: the model stays the last committed one. Finite deltas
    // within their bound can still sum beyond the float range (no bound, or a huge one).
    aggregation_timer.reset();
    return fail_round(fmt::format("the aggregate cannot be committed: {}", error.what()));
  }
  aggregation_timer.reset();
  norm_bound_.committed(networks, round.aggregated_norms);

  const double seconds = std::chrono::duration<double>(Clock::now() - round.started).count();
  std::map<std::string, double> mean_losses;
  std::string losses;
  for (const auto& [key, sum] : round.loss_sums) {
    // Each loss is within +-1e9 (check_update_fields), so neither sum nor mean can overflow.
    const double mean_loss = sum / static_cast<double>(round.loss_counts[key]);
    mean_losses[key] = mean_loss;
    losses += fmt::format(", {} {:.4f}",
                          key == protocol::metric::kGeneratorLoss ? "G loss" : "D loss", mean_loss);
  }
  const std::string metrics =
      round_metrics_json(round.fedavg.num_updates(), round.fedavg.total_weight(), seconds,
                         gan::trained_networks_name(networks), server_lr, mean_losses);
  PendingCommit pending;
  pending.round = round.attempt.round;
  pending.round_id = round.attempt.round_id;
  pending.started = round.started;
  pending.phases = phases;
  pending.commit.aggregate_norm = aggregate_norm;
  pending.commit.metrics_json = metrics;
  pending.summary = fmt::format("{} updates{}, aggregate norm {:.6g}, {:.1f} s",
                                round.fedavg.num_updates(), losses, aggregate_norm, seconds);
  pending.slowest_training = round.slowest_training;
  pending.bytes_sent = round.bytes_sent;
  pending.bytes_received = round.bytes_received;
  // The checkpoint is written on its own thread once the next round's model is out (see
  // CheckpointGate). The global model does not change until it is durable: the next
  // commit_round settles this one first. The thread posts the settling itself, so the commit
  // follows the write without polling.
  pending.gate = std::make_shared<CheckpointGate>();
  pending.checkpoint =
      std::async(std::launch::async,
                 [this, weak = std::weak_ptr<Impl>(shared_from_this()), round = pending.round,
                  state = model_.state_dict(), gate = pending.gate] {
                   gate->wait(kCheckpointHoldLimit);
                   const auto start = Clock::now();
                   CheckpointWrite written{checkpoints_.write(round, state), 0};
                   written.seconds = std::chrono::duration<double>(Clock::now() - start).count();
                   asio::post(io_, [weak] {
                     if (auto self = weak.lock()) {
                       std::lock_guard lock(self->mutex_);
                       self->settle_pending_commit();
                     }
                   });
                   return written;
                 });
  pending_ = std::move(pending);

  const int64_t committed = round.attempt.round;
  end_attempt();
  failed_attempts_ = 0;
  next_round_ = committed + 1;
  // An evaluation reads the committed model and the last round ends the run: both wait for the
  // commit. Every other round overlaps it with the next round's dispatch.
  if (evaluator_.due(committed) || committed >= options_.rounds.max_rounds) {
    settle_pending_commit();
  }
  post_round_start();
}

// Called with mutex_ held. Makes the aggregated round durable: waits for its checkpoint (rethrowing
// a failed write), commits it in the database, evaluates it when due, ends the run after the last
// round, and records the round that started meanwhile. Anything that records against the running
// round calls it first, so the database sees rounds strictly in order.
void Coordinator::Impl::settle_pending_commit() {
  if (!pending_) return;
  PendingCommit pending = std::move(*pending_);
  pending_.reset();
  pending.gate->open();
  const CheckpointWrite written = pending.checkpoint.get();
  auto& phases = pending.phases;
  phases.checkpoint += written.seconds;
  pending.commit.finished_at = storage::unix_seconds_now();
  pending.commit.checkpoint_path = written.file.path.string();
  pending.commit.checkpoint_sha256 = written.file.sha256_hex;
  {
    PhaseTimer timer(phases.database);
    store_.commit_round(pending.round_id, pending.commit);
  }
  fmt::print("round {} committed: {}, checkpoint {}\n", pending.round, pending.summary,
             written.file.path.string());
  std::fflush(stdout);
  last_checkpoint_ = written.file.path;
  {
    PhaseTimer timer(phases.checkpoint);
    checkpoints_.prune({options_.storage.keep_last, options_.storage.keep_every},
                       {written.file.path});
  }
  // The round's cost beside training, for bench/overhead.sh and for anyone tuning a deployment.
  // Its wall time ends where the next round started when that overlapped the commit (the
  // federation's cadence), else here.
  const auto ended = round_ ? round_->started : Clock::now();
  const double wall = std::chrono::duration<double>(ended - pending.started).count();
  fmt::print(
      "round {} timing: wall {:.4f} s, slowest training {:.4f} s, overhead {:.4f} s; dispatch "
      "{:.4f}, validation {:.4f}, aggregation {:.4f}, checkpoint {:.4f}, database {:.4f} s; "
      "bytes sent {}, received {}\n",
      pending.round, wall, pending.slowest_training, wall - pending.slowest_training,
      phases.dispatch, phases.validation, phases.aggregation, phases.checkpoint, phases.database,
      pending.bytes_sent, pending.bytes_received);
  std::fflush(stdout);

  // After the commit: a crash while evaluating loses only the figures, never the round.
  if (evaluator_.due(pending.round)) {
    const auto grid = checkpoints_.sample_grid_path(pending.round);
    const auto figures =
        evaluator_.evaluate(model_.model(), grid, static_cast<uint64_t>(pending.round));
    store_.record_evaluation(pending.round_id, figures, grid.string());
    fmt::print("round {} evaluation: {}; samples {}\n", pending.round, describe(figures),
               grid.string());
    std::fflush(stdout);
  }
  if (pending.round >= options_.rounds.max_rounds) {
    store_.finish_run(options_.storage.run_id, storage::unix_seconds_now());
    return stop(fmt::format("run finished after {} rounds", pending.round), 0,
                wire::STATUS_RUN_FINISHED);
  }
  if (round_ && !round_->recorded) record_round_start();
}

// Called with mutex_ held: the running round's attempt goes into the database.
void Coordinator::Impl::record_round_start() {
  auto& round = *round_;
  PhaseTimer timer(round.phases.database);
  round.attempt = store_.begin_round(options_.storage.run_id, round.attempt.round, round.started_at,
                                     round.clients_selected);
  round.recorded = true;
}

// The next round starts after the current handler, so the Ack of the upload that completed this
// round reaches its client before the next Task.
void Coordinator::Impl::post_round_start() {
  asio::post(io_, [weak = std::weak_ptr<Impl>(shared_from_this())] {
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->mutex_);
      self->maybe_start_round();
    }
  });
}

void Coordinator::Impl::fail_round(const std::string& reason) {
  deadline_timer_.cancel();
  settle_pending_commit();
  end_uploads_in_flight(wire::STATUS_DEADLINE_EXCEEDED,
                        fmt::format("round {} attempt {} failed before this upload completed: {}",
                                    round_->attempt.round, round_->attempt.attempt, reason));
  store_.fail_round(round_->attempt.round_id, storage::unix_seconds_now(), reason);
  fmt::print("round {} attempt {} failed: {}\n", round_->attempt.round, round_->attempt.attempt,
             reason);
  std::fflush(stdout);
  end_attempt();
  if (++failed_attempts_ >= options_.rounds.max_attempts) {
    return stop(fmt::format("round {} failed {} times; stopping", next_round_, failed_attempts_),
                3);
  }
  // The retry waits for the next event (a client joining) if too few clients remain.
  post_round_start();
}

// The running attempt is over (committed or failed): it is kept a while for late uploads.
void Coordinator::Impl::end_attempt() {
  ended_.push_back({round_->attempt.round_id, std::move(round_->roster)});
  if (ended_.size() > kEndedAttemptsKept) ended_.pop_front();
  round_.reset();
}

// The adaptive norm bound continues from the history: the aggregated norms of the last committed
// round of each kind of networks.
void Coordinator::Impl::restore_norm_history() {
  const auto rounds = store_.history().rounds(options_.storage.run_id);
  std::map<gan::TrainedNetworks, bool> restored;
  for (auto round = rounds.rbegin(); round != rounds.rend(); ++round) {
    if (round->status != storage::RoundStatus::kCommitted) continue;
    const auto networks = networks_of_round(options_.training, round->round);
    if (restored[networks]) continue;
    restored[networks] = true;
    norm_bound_.committed(networks, store_.history().aggregated_norms(round->round_id));
    if (restored.size() == 3) break;
  }
}

}  // namespace fedgan::coordinator
