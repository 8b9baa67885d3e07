#include "coordinator/rule_options.h"

#include "aggregation/error.h"
#include "coordinator/error.h"
#include "coordinator/round_plan.h"

namespace fedgan::coordinator {

namespace {

// A MiB count whose bytes fit a uint64_t with room to spare.
constexpr uint64_t kMaxRobustMemoryMb = uint64_t{1} << 30;
// Iterations of the geometric median and of centered clipping.
constexpr size_t kMaxRuleIterations = 1000;
// Flags are kept per site for this many rounds.
constexpr size_t kMaxQuarantineWindow = 100'000;

aggregation::RuleKind rule_kind(AggregationRule rule) {
  switch (rule) {
    case AggregationRule::kMedian:
      return aggregation::RuleKind::kMedian;
    case AggregationRule::kTrimmedMean:
      return aggregation::RuleKind::kTrimmedMean;
    case AggregationRule::kMultiKrum:
      return aggregation::RuleKind::kMultiKrum;
    case AggregationRule::kBulyan:
      return aggregation::RuleKind::kBulyan;
    case AggregationRule::kGeometricMedian:
      return aggregation::RuleKind::kGeometricMedian;
    case AggregationRule::kCenteredClipping:
      return aggregation::RuleKind::kCenteredClipping;
    case AggregationRule::kFedAvg:
      break;
  }
  throw CoordinatorError("fedavg is not a robust rule");
}

}  // namespace

std::optional<aggregation::RobustRuleOptions> robust_rule_options(const AggregationOptions& a) {
  if (a.rule == AggregationRule::kFedAvg) return std::nullopt;
  aggregation::RobustRuleOptions rule;
  rule.kind = rule_kind(a.rule);
  rule.trim_beta = a.trim_beta;
  rule.byzantine = a.byzantine;
  rule.krum_selected = a.krum_selected;
  rule.weiszfeld_iterations = a.weiszfeld_iterations;
  rule.clip_radius = a.clip_radius;
  rule.clip_iterations = a.clip_iterations;
  rule.bucket_size = a.bucket_size;
  return rule;
}

void validate_rule(const AggregationOptions& a, const RoundOptions& rounds) {
  check(a.quarantine_window >= 1 && a.quarantine_window <= kMaxQuarantineWindow,
        "aggregation.quarantine_window is {}: it must be in [1, {}]", a.quarantine_window,
        kMaxQuarantineWindow);
  check(a.quarantine_after <= a.quarantine_window,
        "aggregation.quarantine_after is {} but aggregation.quarantine_window is {}: no site could "
        "be flagged that often",
        a.quarantine_after, a.quarantine_window);
  const auto rule = robust_rule_options(a);
  check(rule || a.norm_bound != NormBoundKind::kRoundMedian,
        "aggregation.norm_bound is \"round_median\" but aggregation.rule is \"fedavg\", which "
        "keeps no update to take the median of: choose a robust rule or another norm_bound");
  check(rule || a.quarantine_after == 0,
        "aggregation.quarantine_after is {} but aggregation.rule is \"fedavg\", which flags no "
        "update: choose a robust rule or set quarantine_after = 0",
        a.quarantine_after);
  if (!rule) return;
  check(a.robust_memory_mb <= kMaxRobustMemoryMb,
        "aggregation.robust_memory_mb is {}: it must be at most {}", a.robust_memory_mb,
        kMaxRobustMemoryMb);
  // Each iteration is a pass over every update of the round, on the engine's thread.
  check(
      a.weiszfeld_iterations <= kMaxRuleIterations && a.clip_iterations <= kMaxRuleIterations,
      "aggregation.weiszfeld_iterations is {} and aggregation.clip_iterations is {}: each must be "
      "at most {} (each iteration is a pass over the round's updates)",
      a.weiszfeld_iterations, a.clip_iterations, kMaxRuleIterations);
  try {
    aggregation::validate(*rule);
  } catch (const aggregation::AggregationError& error) {
    throw CoordinatorError(
        fmt::format("aggregation.rule \"{}\": {}", config::enum_name(a.rule), error.what()));
  }
  const size_t needed = aggregation::min_updates(*rule);
  const size_t fewest = fewest_committing_updates(rounds);
  check(fewest >= needed,
        "aggregation.rule \"{}\"{} needs at least {} updates per round, but a round can commit "
        "with {} (rounds.quorum {}, rounds.min_clients {}): raise rounds.quorum or lower "
        "aggregation.byzantine",
        config::enum_name(a.rule),
        a.bucket_size > 1 ? fmt::format(" with buckets of {}", a.bucket_size) : std::string(),
        needed, fewest, rounds.quorum, rounds.min_clients);
  if (a.rule == AggregationRule::kMultiKrum) {
    check(a.krum_selected <= fewest,
          "aggregation.krum_selected is {} but a round can commit with {} updates", a.krum_selected,
          fewest);
  }
}

uint64_t shuffle_seed_of_round(uint64_t run_seed, int64_t round) {
  // SplitMix64's finaliser over the pair: nearby seeds and rounds give unrelated shuffles.
  uint64_t z = run_seed ^ (static_cast<uint64_t>(round) * 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace fedgan::coordinator
