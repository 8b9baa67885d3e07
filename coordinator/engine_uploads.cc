// The upload half of RoundEngine::State (engine_state.h): admitting an UpdateHeader, judging a
// received delta, and the one `updates` row every admitted upload ends in. The rule this file
// keeps: nothing of an update reaches the aggregate or the round's counts before its row is
// written, and every refusal is filed under the attempt the upload was for.

#include "coordinator/engine_state.h"

#include "aggregation/delta.h"
#include "aggregation/error.h"
#include "storage/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace fedgan::coordinator {

using protocol::ProtocolError;

Admission RoundEngine::State::update_announced(const std::string& identity,
                                               const wire::UpdateHeader& header) {
  try {
    protocol::check(round_.has_value() && !stopped, wire::STATUS_WRONG_ROUND,
                    "update for round {} refused: no round is running", header.round());
    PhaseTimer timer(round_->phases.validation);
    check_update_fields(header);
    round_->roster.admit(identity, header);
  } catch (const ProtocolError& refused) {
    record_header_refusal(identity, header, refused);
    throw;
  }
  return {std::make_unique<DeltaBuffer>(model), round_->generation};
}

wire::Status RoundEngine::State::update_received(const std::string& identity, uint64_t attempt,
                                                 ReceivedUpdate update) {
  if (!round_ || round_->generation != attempt) {
    // Its attempt ended while it was on its way, and end_uploads_in_flight recorded it then.
    return make_status(wire::STATUS_WRONG_ROUND,
                       fmt::format("the attempt at round {} this upload was admitted to ended "
                                   "before it completed",
                                   update.header.round()));
  }
  UploadFacts facts = facts_of(identity, running_attempt_id());
  facts.header = &update.header;
  facts.bytes = update.bytes;
  facts.upload_seconds = update.upload_seconds;
  facts.norm_bound = round_->norm_bound;
  const auto& layout = model.layout();
  auto& phases = round_->phases;
  std::optional<PhaseTimer> validation(phases.validation);
  const double norm = aggregation::l2_norm(layout, update.delta->views());
  facts.delta_norm = norm;
  NormVerdict verdict;
  try {
    verdict = check_delta_norm(norm, round_->norm_bound, options_.aggregation);
  } catch (const ProtocolError& error) {
    validation.reset();
    return refuse_received(facts, error);
  }
  if (verdict.scale != 1.0) {
    // bound / norm, the factor clip_to_norm would compute from a second pass over the delta.
    aggregation::scale_in_place(layout, update.delta->mutable_views(), verdict.scale);
  }
  validation.reset();
  // The row first: an update the history does not show never reaches the aggregate.
  try {
    PhaseTimer timer(phases.database);
    round_->accepted_update_ids.push_back(store_.record_update(accepted_update(facts)));
    round_->accepted_identities.push_back(facts.identity);
  } catch (const storage::StorageError& error) {
    print(fmt::format("the accepted update of {} could not be recorded: {}", facts.identity,
                      error.what()),
          true);
    round_->roster.finish(facts.identity, false);
    evaluate_round(false);
    return make_status(wire::STATUS_INTERNAL, "the update could not be recorded");
  }
  try {
    // The buffer has the model's layout and admission bounded the sample count: only a rule that
    // keeps updates can fail here, when its spill file cannot be written.
    PhaseTimer timer(phases.aggregation);
    round_->aggregator->add(update.delta->views(), update.header.num_samples());
  } catch (const aggregation::AggregationError& error) {
    // Its row says accepted; the attempt fails, so no committed model depends on it.
    round_->roster.finish(facts.identity, false);
    fail_round(fmt::format("the accepted update of {} could not be kept for aggregation: {}",
                           facts.identity, error.what()));
    return make_status(wire::STATUS_INTERNAL, "the update could not be kept for aggregation");
  }
  round_->roster.finish(facts.identity, true);
  round_->aggregated_norms.push_back(verdict.scale != 1.0 ? *round_->norm_bound : norm);
  round_->slowest_training =
      std::max(round_->slowest_training,
               reported_metric(update.header, protocol::metric::kTrainSeconds).value_or(0.0));
  round_->bytes_received += update.bytes;
  for (const char* key : {protocol::metric::kGeneratorLoss, protocol::metric::kDiscriminatorLoss}) {
    if (const auto value = reported_metric(update.header, key)) {
      round_->loss_sums[key] += *value;
      ++round_->loss_counts[key];
    }
  }
  const std::string message =
      verdict.scale != 1.0
          ? fmt::format("accepted, clipped from norm {:.6g} to {:.6g}", norm, *round_->norm_bound)
          : "accepted";
  evaluate_round(false);
  return make_status(wire::STATUS_OK, message);
}

void RoundEngine::State::transfer_refused(const std::string& identity, uint64_t attempt,
                                          const wire::UpdateHeader& header,
                                          const ProtocolError& error, uint64_t bytes) {
  // An upload of an attempt that already ended was recorded when it ended.
  if (!round_ || round_->generation != attempt) return;
  UploadFacts facts = facts_of(identity, running_attempt_id());
  facts.header = &header;
  facts.bytes = bytes;
  refuse_received(facts, error);
}

// Records a refused upload of the running attempt and ends the client's part in it.
wire::Status RoundEngine::State::refuse_received(const UploadFacts& facts,
                                                 const ProtocolError& error) {
  record_refusal(facts, error);
  round_->roster.finish(facts.identity, false);
  evaluate_round(false);
  return make_status(error.code(), error.what());
}

// A header refused at admission is filed under the attempt whose task carried its nonce (a late
// upload of an attempt that ended), else under the running attempt, else logged as an event.
void RoundEngine::State::record_header_refusal(const std::string& identity,
                                               const wire::UpdateHeader& header,
                                               const ProtocolError& error) {
  UploadFacts facts = facts_of(identity, 0);
  facts.header = &header;
  if (const auto attempt = attempt_that_issued(identity, header.nonce())) {
    facts.round_id = *attempt;
  } else if (round_) {
    settle_pending_commit();
    facts.round_id = running_attempt_id();
  } else {
    return log(storage::EventLevel::kWarning, "update_rejected",
               fmt::format("{}: {}", reason_name(error.code()), error.what()), identity);
  }
  record_refusal(facts, error);
}

void RoundEngine::State::record_refusal(const UploadFacts& facts, const ProtocolError& error) {
  const storage::Update update = refused_update(facts, error);
  {
    std::optional<PhaseTimer> timer;
    if (round_) timer.emplace(round_->phases.database);
    store_.record_update(update);
  }
  print(fmt::format("update of {} rejected: {} ({})", facts.identity, update.reject_reason,
                    storage::bounded_text(update.reject_message, 300)));
}

// Every upload of the running attempt still being received when it ends gets its row now, and its
// session stops decoding it: the buffer is freed, the rest of its chunks discarded.
void RoundEngine::State::end_uploads_in_flight(wire::StatusCode code, const std::string& why) {
  for (const std::string& identity : round_->roster.uploading()) {
    record_refusal(facts_of(identity, running_attempt_id()), ProtocolError(code, why));
    round_->roster.finish(identity, false);
    if (const auto session = sessions_.find(identity); session != sessions_.end()) {
      actions.push_back(AbandonUpload{session->second, round_->generation, make_status(code, why)});
    }
  }
}

// What every row of `identity`'s upload says beside its verdict, filed under `round_id`.
UploadFacts RoundEngine::State::facts_of(const std::string& identity, int64_t round_id) {
  UploadFacts facts;
  facts.round_id = round_id;
  facts.identity = identity;
  facts.received_at = now;
  return facts;
}

// The running attempt's round_id, once it is in the database: recording against it first waits
// for the previous round's commit, so the history reads round after round.
int64_t RoundEngine::State::running_attempt_id() {
  settle_pending_commit();
  return round_->attempt.round_id;
}

// The running or a recently ended attempt whose task gave `identity` this nonce.
std::optional<int64_t> RoundEngine::State::attempt_that_issued(const std::string& identity,
                                                               const std::string& nonce) {
  if (round_ && round_->roster.issued(identity, nonce)) return running_attempt_id();
  for (const EndedAttempt& ended : ended_) {
    if (ended.roster.issued(identity, nonce)) return ended.round_id;
  }
  return std::nullopt;
}

}  // namespace fedgan::coordinator
