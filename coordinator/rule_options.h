#pragma once

#include "aggregation/robust_rule.h"
#include "coordinator/options.h"

#include <cstdint>
#include <optional>

namespace fedgan::coordinator {

/// The robust rule aggregation.rule names, with its options; nullopt for "fedavg".
std::optional<aggregation::RobustRuleOptions> robust_rule_options(
    const AggregationOptions& options);

/// Throws CoordinatorError naming the fields when the rule's options are out of range or when a
/// round could commit with fewer updates than the rule is defined for (Multi-Krum needs 2f + 3,
/// Bulyan 4f + 3, counted in buckets with bucketing): the smallest committing round has
/// rounds.quorum updates, or with quorum 0 every client selected when the fewest that start a round
/// are connected.
void validate_rule(const AggregationOptions& aggregation, const RoundOptions& rounds);

/// The seed of round `round`'s bucketing shuffle: a function of the run's seed and the round, so a
/// resumed run shuffles as the interrupted one would have.
uint64_t shuffle_seed_of_round(uint64_t run_seed, int64_t round);

}  // namespace fedgan::coordinator
