#pragma once

#include "coordinator/options.h"
#include "gan/trained_networks.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::coordinator {

/// The pure decisions of the round state machine (no network, no clock, no storage), so they are
/// tested exhaustively and the same inputs always give the same round.

/// Clients needed before a round may start: min_clients, and at least the quorum (a round started
/// with fewer could never commit).
size_t clients_needed_to_start(const RoundOptions& options);

/// How many of `connected` clients a round selects: ceil(fraction * connected), clamped to
/// [min_per_round, max_per_round] (max 0 = unbounded) and to `connected`.
size_t selection_size(const RoundOptions& options, size_t connected);

/// The clients of attempt `attempt` of round `round`: a seeded shuffle of the sorted identities,
/// first selection_size() of them. The seed mixes options.seed, round and attempt, so a retry
/// draws anew and a rerun of the same configuration draws the same clients.
std::vector<std::string> select_clients(std::vector<std::string> connected,
                                        const RoundOptions& options, int64_t round,
                                        int64_t attempt);

/// Accepted updates needed to commit a round of `selected` clients: options.quorum, or every
/// selected client when it is 0.
size_t required_quorum(const RoundOptions& options, size_t selected);

/// The fewest accepted updates a round can commit with: rounds.quorum, or with quorum 0 the
/// selection when the fewest clients that start a round are connected.
size_t fewest_committing_updates(const RoundOptions& options);

enum class RoundDecision {
  kWait,    // keep collecting
  kCommit,  // quorum reached: aggregate and commit now
  kFail,    // quorum can no longer be reached (or the deadline passed without it)
};

/// What to do given the round's counts: commit as soon as `accepted` reaches `quorum` (later
/// uploads are then stale); fail once even every `outstanding` client (selected, still connected,
/// not yet answered) could not bring it there, or at the deadline.
RoundDecision decide(size_t accepted, size_t outstanding, size_t quorum, bool deadline_passed);

const char* to_string(RoundDecision decision);

/// The networks round `round` (1-based) trains: both under training.networks = "both"; under
/// "alternate", the discriminator in odd rounds and the generator in even ones. A function of the
/// round number alone, so a resumed run continues the alternation where it stopped.
gan::TrainedNetworks networks_of_round(const TrainingOptions& options, int64_t round);

/// The server learning rate of round `round` (1-based) under aggregation.server_lr_decay:
/// server_lr, or with "linear" server_lr * (1 - (round - 1) / max_rounds). A function of the
/// round number alone, like networks_of_round.
double server_lr_of_round(const AggregationOptions& aggregation, const RoundOptions& rounds,
                          int64_t round);

}  // namespace fedgan::coordinator
