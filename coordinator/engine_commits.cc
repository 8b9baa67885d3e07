// The commit half of RoundEngine::State (engine_state.h): a round that reached its quorum is
// aggregated into the global model, its checkpoint written (by the driver's CheckpointWriter)
// while the next round already runs, then committed in the database; a due evaluation is asked of
// the driver; the last round ends the run once its evaluation is recorded.

#include "coordinator/engine_state.h"

#include "aggregation/error.h"
#include "coordinator/evaluator.h"
#include "coordinator/round_plan.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace fedgan::coordinator {

namespace {

// Both networks, copied: an evaluation runs while the global model moves on.
storage::StateDict copy_of(const storage::StateDict& state) {
  storage::StateDict copy;
  copy.reserve(state.size());
  for (const auto& item : state) copy.insert(item.key(), item.value().clone());
  return copy;
}

storage::RuleEffect storage_effect(aggregation::UpdateEffect effect) {
  switch (effect) {
    case aggregation::UpdateEffect::kKept:
      return storage::RuleEffect::kKept;
    case aggregation::UpdateEffect::kDownWeighted:
      return storage::RuleEffect::kDownWeighted;
    case aggregation::UpdateEffect::kClipped:
      return storage::RuleEffect::kClipped;
    case aggregation::UpdateEffect::kExcluded:
      break;
  }
  return storage::RuleEffect::kExcluded;
}

}  // namespace

void RoundEngine::State::commit_round() {
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
  // A site still downloading the model this round sent gets it whole, not half the new one.
  if (sent_model_) sent_model_->finish();
  const auto networks = networks_of_round(options_.training, round.attempt.round);
  const double server_lr =
      server_lr_of_round(options_.aggregation, options_.rounds, round.attempt.round);
  double aggregate_norm = 0;
  try {
    aggregate_norm =
        aggregation_->commit(*round.aggregator, model, model.moving_mask(networks), server_lr);
  } catch (const aggregation::AggregationError& error) {
    // Refused before anything changed: the model stays the last committed one. Finite deltas
    // within their bound can still sum beyond the float range (no bound, or a huge one).
    aggregation_timer.reset();
    return fail_round(fmt::format("the aggregate cannot be committed: {}", error.what()));
  }
  aggregation_timer.reset();
  norm_bound_.committed(networks, round.aggregated_norms);

  const double seconds = now - round.started_at;
  std::map<std::string, double> mean_losses;
  std::string losses;
  for (const auto& [key, sum] : round.loss_sums) {
    // Each loss is within +-1e9 (check_update_fields), so neither sum nor mean can overflow.
    const double mean_loss = sum / static_cast<double>(round.loss_counts[key]);
    mean_losses[key] = mean_loss;
    losses += fmt::format(", {} {:.4f}",
                          key == protocol::metric::kGeneratorLoss ? "G loss" : "D loss", mean_loss);
  }
  const size_t updates = round.aggregator->num_updates();
  PendingCommit pending;
  pending.commit.reviews = review_updates(round);
  for (size_t i = 0; i < pending.commit.reviews.size(); ++i) {
    if (pending.commit.reviews[i].flagged) pending.flagged.push_back(round.accepted_identities[i]);
  }
  pending.round = round.attempt.round;
  pending.round_id = round.attempt.round_id;
  pending.started = round.started_at;
  pending.phases = phases;
  pending.commit.aggregate_norm = aggregate_norm;
  pending.commit.metrics_json =
      round_metrics_json(updates, aggregation_->total_weight(*round.aggregator), seconds,
                         gan::trained_networks_name(networks), server_lr, mean_losses);
  pending.summary = fmt::format("{} updates{}, aggregate norm {:.6g}, {:.1f} s", updates, losses,
                                aggregate_norm, seconds);
  pending.slowest_training = round.slowest_training;
  pending.bytes_sent = round.bytes_sent;
  pending.bytes_received = round.bytes_received;
  // The checkpoint is written by the driver's writer once the next round's model is out (see
  // CheckpointGate). The global model does not change until it is durable: the next commit_round
  // settles this one first.
  pending.gate = std::make_shared<CheckpointGate>();
  pending.checkpoint =
      writer_->start(checkpoints_, pending.round, model.state_dict(), pending.gate);
  pending_ = std::move(pending);

  const int64_t committed = round.attempt.round;
  end_attempt();
  failed_attempts_ = 0;
  next_round = committed + 1;
  // The last round ends the run: it waits for the commit. Every other round overlaps it with the
  // next round's dispatch.
  if (committed >= options_.rounds.max_rounds) return settle_pending_commit();
  // The next round starts once the Ack of the upload that completed this one is on its way.
  actions.push_back(ResumeLater{});
}

// Each accepted update's row gains how it compared with the round: its norm's z-score within the
// round and, under a rule that kept every update, its distance and cosine to the aggregate and
// what the rule did to it. Flagged: excluded or clipped by the rule, or given under half an equal
// share of the aggregate.
std::vector<storage::UpdateReview> RoundEngine::State::review_updates(
    const RunningRound& round) const {
  const auto& norms = round.aggregated_norms;
  const size_t n = round.accepted_update_ids.size();
  if (n == 0 || norms.size() != n) return {};
  double mean = 0;
  for (const double norm : norms) mean += norm / static_cast<double>(n);
  double variance = 0;
  for (const double norm : norms)
    variance += (norm - mean) * (norm - mean) / static_cast<double>(n);
  const double deviation = std::sqrt(variance);
  const auto kept = aggregation_->review(*round.aggregator);
  std::vector<storage::UpdateReview> reviews(n);
  for (size_t i = 0; i < n; ++i) {
    auto& review = reviews[i];
    review.update_id = round.accepted_update_ids[i];
    review.norm_z_score = deviation > 0 ? (norms[i] - mean) / deviation : 0.0;
    if (kept.size() != n) continue;
    const auto& verdict = kept[i].verdict;
    review.aggregate_distance = kept[i].distance;
    review.aggregate_cosine = kept[i].cosine;
    review.rule_effect = storage_effect(verdict.effect);
    review.rule_weight = std::clamp(verdict.weight, 0.0, 1.0);
    review.norm_bound = kept[i].norm_bound;
    review.flagged = verdict.effect == aggregation::UpdateEffect::kExcluded ||
                     verdict.effect == aggregation::UpdateEffect::kClipped ||
                     verdict.weight < 0.5 / static_cast<double>(n);
  }
  return reviews;
}

void RoundEngine::State::checkpoint_written() {
  if (pending_ && pending_->checkpoint->done()) settle_pending_commit();
}

// Makes the aggregated round durable: waits for its checkpoint (rethrowing a failed write), commits
// it in the database, asks for its evaluation when due, ends the run after the last round, and
// records the round that started meanwhile. Anything that records against the running round calls
// it first, so the database sees rounds strictly in order.
void RoundEngine::State::settle_pending_commit() {
  if (!pending_) return;
  PendingCommit pending = std::move(*pending_);
  pending_.reset();
  const CheckpointWrite written = pending.checkpoint->wait();
  auto& phases = pending.phases;
  phases.checkpoint += written.seconds;
  pending.commit.finished_at = now;
  pending.commit.checkpoint_path = written.file.path.string();
  pending.commit.checkpoint_sha256 = written.file.sha256_hex;
  {
    PhaseTimer timer(phases.database);
    store_.commit_round(pending.round_id, pending.commit);
  }
  print(fmt::format("round {} committed: {}, checkpoint {}", pending.round, pending.summary,
                    written.file.path.string()));
  actions.push_back(RoundCommitted{pending.round, written.file.path});
  // Before anything else: the last round's Goodbyes must not reach a quarantined site first.
  quarantine_flagged(pending.round, pending.flagged);
  {
    PhaseTimer timer(phases.checkpoint);
    checkpoints_.prune({options_.storage.keep_last, options_.storage.keep_every},
                       {written.file.path});
  }
  // The round's cost beside training, for bench/overhead.sh and for anyone tuning a deployment.
  // Its wall time ends where the next round started when that overlapped the commit (the
  // federation's cadence), else here.
  const double ended = round_ ? round_->started_at : now;
  const double wall = ended - pending.started;
  print(fmt::format(
      "round {} timing: wall {:.4f} s, slowest training {:.4f} s, overhead {:.4f} s; dispatch "
      "{:.4f}, validation {:.4f}, aggregation {:.4f}, checkpoint {:.4f}, database {:.4f} s; "
      "bytes sent {}, received {}",
      pending.round, wall, pending.slowest_training, wall - pending.slowest_training,
      phases.dispatch, phases.validation, phases.aggregation, phases.checkpoint, phases.database,
      pending.bytes_sent, pending.bytes_received));

  // After the commit: a failed evaluation loses only the figures, never the round. It runs off the
  // engine's thread, on a copy, while the next round trains.
  const bool last = pending.round >= options_.rounds.max_rounds;
  if (evaluates_ && pending.round % options_.evaluation.every_rounds == 0) {
    actions.push_back(EvaluateRound{pending.round, pending.round_id, copy_of(model.state_dict()),
                                    checkpoints_.sample_grid_path(pending.round),
                                    static_cast<uint64_t>(pending.round)});
    if (last) awaiting_last_evaluation_ = true;
  } else if (last) {
    finish_if_last(pending.round);
  }
  if (round_ && !round_->recorded) record_round_start();
}

// After the round that flagged them is committed: a site flagged too often is closed with
// STATUS_QUARANTINED and leaves the running round (an upload in flight is recorded as refused);
// its later Hellos are refused (site_connected).
void RoundEngine::State::quarantine_flagged(int64_t round,
                                            const std::vector<std::string>& flagged) {
  for (const std::string& identity : quarantine_.committed(round, flagged)) {
    const std::string why = fmt::format(
        "{} is quarantined for the rest of run '{}': its update was flagged in {} of the last {} "
        "committed rounds (aggregation.quarantine_after)",
        identity, options_.storage.run_id, quarantine_.flagged_rounds(identity),
        quarantine_.window());
    log(storage::EventLevel::kWarning, "client_quarantined", why, identity);
    print(why, true);
    const auto session = sessions_.find(identity);
    if (session == sessions_.end()) continue;
    actions.push_back(CloseSession{session->second, wire::STATUS_QUARANTINED, why});
    sessions_.erase(session);
    if (!round_) continue;
    // The round that started meanwhile is in the database before anything is filed under it.
    if (!round_->recorded) record_round_start();
    if (round_->roster.is_uploading(identity)) {
      record_refusal(facts_of(identity, running_attempt_id()),
                     protocol::ProtocolError(wire::STATUS_QUARANTINED, why));
    }
    round_->roster.drop(identity);
    // The round is judged again once this handler's actions are out: it may now fail or commit.
    actions.push_back(ResumeLater{});
  }
}

void RoundEngine::State::evaluation_done(const EvaluateRound& request,
                                         const storage::Evaluation* figures,
                                         const std::string& failure) {
  if (figures) {
    store_.record_evaluation(request.round_id, *figures, request.grid_png.string());
    print(fmt::format("round {} evaluation: {}; samples {}", request.round, describe(*figures),
                      request.grid_png.string()));
  } else {
    log(storage::EventLevel::kError, "evaluation_failed",
        fmt::format("round {}: {}", request.round, failure));
    print(fmt::format("round {} evaluation failed: {}", request.round, failure), true);
  }
  // A run stopped by the operator meanwhile is not finished: its last round may rerun.
  if (awaiting_last_evaluation_ && !stopped && request.round >= options_.rounds.max_rounds) {
    awaiting_last_evaluation_ = false;
    finish_if_last(request.round);
  }
}

void RoundEngine::State::finish_if_last(int64_t round) {
  store_.finish_run(options_.storage.run_id, now);
  stop(fmt::format("run finished after {} rounds", round), 0, wire::STATUS_RUN_FINISHED);
}

}  // namespace fedgan::coordinator
