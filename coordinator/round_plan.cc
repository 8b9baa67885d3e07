#include "coordinator/round_plan.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace fedgan::coordinator {

size_t clients_needed_to_start(const RoundOptions& options) {
  return std::max({options.min_clients, options.quorum, options.min_per_round, size_t{1}});
}

size_t selection_size(const RoundOptions& options, size_t connected) {
  auto size = static_cast<size_t>(std::ceil(options.fraction * static_cast<double>(connected)));
  size = std::max(size, options.min_per_round);
  if (options.max_per_round > 0) size = std::min(size, options.max_per_round);
  return std::min(size, connected);
}

std::vector<std::string> select_clients(std::vector<std::string> connected,
                                        const RoundOptions& options, int64_t round,
                                        int64_t attempt) {
  // Sorted first: the draw must not depend on the order in which clients happened to connect.
  std::sort(connected.begin(), connected.end());
  connected.erase(std::unique(connected.begin(), connected.end()), connected.end());
  std::seed_seq seed{static_cast<uint32_t>(options.seed), static_cast<uint32_t>(options.seed >> 32),
                     static_cast<uint32_t>(round), static_cast<uint32_t>(attempt)};
  std::mt19937_64 random(seed);
  std::shuffle(connected.begin(), connected.end(), random);
  connected.resize(selection_size(options, connected.size()));
  std::sort(connected.begin(), connected.end());
  return connected;
}

size_t required_quorum(const RoundOptions& options, size_t selected) {
  return options.quorum == 0 ? selected : options.quorum;
}

size_t fewest_committing_updates(const RoundOptions& options) {
  return options.quorum > 0 ? options.quorum
                            : selection_size(options, clients_needed_to_start(options));
}

RoundDecision decide(size_t accepted, size_t outstanding, size_t quorum, bool deadline_passed) {
  if (accepted >= quorum && quorum > 0) return RoundDecision::kCommit;
  if (deadline_passed || accepted + outstanding < quorum || quorum == 0) {
    return RoundDecision::kFail;
  }
  return RoundDecision::kWait;
}

const char* to_string(RoundDecision decision) {
  switch (decision) {
    case RoundDecision::kWait:
      return "wait";
    case RoundDecision::kCommit:
      return "commit";
    case RoundDecision::kFail:
      return "fail";
  }
  return "unknown";
}

gan::TrainedNetworks networks_of_round(const TrainingOptions& options, int64_t round) {
  if (options.networks == Networks::kBoth) return gan::TrainedNetworks::kBoth;
  return round % 2 == 1 ? gan::TrainedNetworks::kDiscriminator : gan::TrainedNetworks::kGenerator;
}

double server_lr_of_round(const AggregationOptions& aggregation, const RoundOptions& rounds,
                          int64_t round) {
  if (aggregation.server_lr_decay == LrDecay::kNone) return aggregation.server_lr;
  const double done = static_cast<double>(std::clamp<int64_t>(round - 1, 0, rounds.max_rounds - 1));
  return aggregation.server_lr * (1.0 - done / static_cast<double>(rounds.max_rounds));
}

}  // namespace fedgan::coordinator
