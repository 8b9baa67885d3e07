#include "coordinator/engine_state.h"

#include "aggregation/delta.h"
#include "aggregation/error.h"
#include "coordinator/error.h"
#include "coordinator/round_plan.h"
#include "coordinator/round_task.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cmath>

namespace fedgan::coordinator {

using protocol::ProtocolError;

namespace {

constexpr size_t kNonceBytes = 16;
// Ended attempts kept for late uploads: a straggler is one or two attempts behind.
constexpr size_t kEndedAttemptsKept = 4;

std::string random_nonce() {
  std::string nonce(kNonceBytes, '\0');
  check(RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), kNonceBytes) == 1,
        "the system random generator failed");
  return nonce;
}

}  // namespace

// --- rounds -----------------------------------------------------------------------------------

void RoundEngine::State::maybe_start_round() {
  if (stopped || round_ || next_round > options_.rounds.max_rounds) return;
  if (sessions_.size() < clients_needed_to_start(options_.rounds)) {
    // No model goes out for a waiting checkpoint to make way for.
    if (pending_) pending_->gate->open();
    return;
  }
  start_round();
}

void RoundEngine::State::resume() {
  if (round_) return evaluate_round(false);
  maybe_start_round();
}

void RoundEngine::State::start_round() {
  std::vector<std::string> connected;
  for (const auto& entry : sessions_) connected.push_back(entry.first);
  const int64_t round = next_round;
  const int64_t attempt_number = failed_attempts_ + 1;
  const auto selected = select_clients(connected, options_.rounds, round, attempt_number);
  RoundPhases phases;
  const wire::Codec codec = wire_codec(options_.model.codec);
  std::shared_ptr<ModelSnapshot> snapshot;
  try {
    PhaseTimer timer(phases.dispatch);
    snapshot = std::make_shared<ModelSnapshot>(model, codec);
  } catch (const ProtocolError& error) {
    // Every later round would fail the same way: nothing a site can do about it.
    return stop(fmt::format("the global model cannot be sent: {}", error.what()), 1);
  }
  // The previous snapshot (complete by now, unless a site never finished its download) is
  // encoded in full before it is forgotten, since only sent_model_ is finished before the model
  // changes.
  if (sent_model_) sent_model_->finish();
  sent_model_ = snapshot;
  storage::RoundAttempt attempt;
  attempt.run_id = options_.storage.run_id;
  attempt.round = round;
  attempt.attempt = attempt_number;
  std::map<std::string, std::string> nonces;
  for (const auto& identity : selected) nonces[identity] = random_nonce();
  const auto networks = networks_of_round(options_.training, round);
  const double global_norm = norm_bound_.needs_model_norm(networks)
                                 ? aggregation::l2_norm(model.layout(), model.const_views())
                                 : 0.0;
  round_.emplace(RunningRound{attempt,
                              ++generations_,
                              now,
                              static_cast<int64_t>(selected.size()),
                              false,
                              RoundRoster(round, nonces, model.manifest(), options_.aggregation),
                              aggregation_->begin_round(round),
                              required_quorum(options_.rounds, selected.size()),
                              now + options_.rounds.deadline_seconds,
                              norm_bound_.for_round(networks, global_norm),
                              {},
                              {},
                              {},
                              phases,
                              0.0,
                              0,
                              0,
                              {},
                              {}});
  // Recorded now, or once the previous round's commit is (its checkpoint is being written).
  if (!pending_) record_round_start();
  print(fmt::format("round {} attempt {}: {} of {} connected clients selected, quorum {}{}, {}",
                    round, attempt_number, selected.size(), connected.size(), round_->quorum,
                    networks == gan::TrainedNetworks::kBoth
                        ? ""
                        : fmt::format(", trains the {} only", gan::trained_networks_name(networks)),
                    round_->norm_bound ? fmt::format("delta norm bound {:.4g}", *round_->norm_bound)
                                       : std::string("no delta norm bound")));
  dispatch(selected, nonces, snapshot);
  actions.push_back(SetDeadline{round_->deadline});
  evaluate_round(false);
}

// Queues the Task and the model to every selected site.
void RoundEngine::State::dispatch(const std::vector<std::string>& selected,
                                  const std::map<std::string, std::string>& nonces,
                                  const std::shared_ptr<ModelSnapshot>& snapshot) {
  PhaseTimer timer(round_->phases.dispatch);
  const int64_t round = round_->attempt.round;
  // The previous round's checkpoint waits until every selected site has its model queued.
  std::shared_ptr<CheckpointGate> gate = pending_ ? pending_->gate : nullptr;
  if (gate) gate->await_sends(selected.size());
  const auto on_model_queued = [gate] {
    if (gate) gate->send_done();
  };
  const uint64_t model_bytes = snapshot->total_bytes();
  const int64_t deadline_ms = static_cast<int64_t>(std::llround(round_->deadline * 1000.0));
  for (const auto& identity : selected) {
    SendTask send;
    send.session = sessions_.at(identity);
    send.task = task_of_round(options_, round, nonces.at(identity), deadline_ms);
    send.model = snapshot;
    send.on_model_queued = on_model_queued;
    actions.push_back(std::move(send));
    round_->bytes_sent += model_bytes;
  }
}

void RoundEngine::State::time_advanced() {
  if (!round_ || stopped) return;
  // A driver's timer and its clock may disagree by a little: early, the deadline is asked again.
  if (now < round_->deadline) return actions.push_back(SetDeadline{round_->deadline});
  evaluate_round(true);
}

// Called whenever a count of the round changed.
void RoundEngine::State::evaluate_round(bool deadline_passed) {
  if (!round_ || stopped) return;
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

// The running round's attempt goes into the database.
void RoundEngine::State::record_round_start() {
  auto& round = *round_;
  PhaseTimer timer(round.phases.database);
  round.attempt = store_.begin_round(options_.storage.run_id, round.attempt.round, round.started_at,
                                     round.clients_selected);
  round.recorded = true;
}

void RoundEngine::State::fail_round(const std::string& reason) {
  settle_pending_commit();
  end_uploads_in_flight(wire::STATUS_DEADLINE_EXCEEDED,
                        fmt::format("round {} attempt {} failed before this upload completed: {}",
                                    round_->attempt.round, round_->attempt.attempt, reason));
  store_.fail_round(round_->attempt.round_id, now, reason);
  print(fmt::format("round {} attempt {} failed: {}", round_->attempt.round,
                    round_->attempt.attempt, reason));
  end_attempt();
  if (++failed_attempts_ >= options_.rounds.max_attempts) {
    return stop(fmt::format("round {} failed {} times; stopping", next_round, failed_attempts_), 3);
  }
  // The retry waits for the next event (a site joining) if too few sites remain.
  actions.push_back(ResumeLater{});
}

// The running attempt is over (committed or failed): it is kept a while for late uploads.
void RoundEngine::State::end_attempt() {
  ended_.push_back({round_->attempt.round_id, std::move(round_->roster)});
  if (ended_.size() > kEndedAttemptsKept) ended_.pop_front();
  round_.reset();
}

// The adaptive norm bound continues from the history: the aggregated norms of the last committed
// round of each kind of networks.
void RoundEngine::State::restore_norm_history() {
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

// Quarantines outlive restarts: the ones recorded as events stand, and the flags of the last
// quarantine_window committed rounds count on.
void RoundEngine::State::restore_quarantine() {
  if (!quarantine_.enabled()) return;
  auto history = store_.history();
  for (const auto& identity : history.quarantined_clients(options_.storage.run_id)) {
    quarantine_.restore_quarantined(identity);
  }
  const auto last = history.last_committed_round(options_.storage.run_id);
  if (!last) return;
  const int64_t first = last->round - static_cast<int64_t>(quarantine_.window()) + 1;
  for (const auto& [round, identity] : history.flagged_updates(options_.storage.run_id, first)) {
    quarantine_.restore_flag(round, identity);
  }
}

}  // namespace fedgan::coordinator
