#include "coordinator/round_aggregation.h"

#include "aggregation/fedavg.h"
#include "aggregation/robust_aggregator.h"
#include "aggregation/server_adam.h"
#include "coordinator/round_plan.h"
#include "coordinator/rule_options.h"

#include <fmt/format.h>

#include <array>
#include <optional>

namespace fedgan::coordinator {

namespace {

aggregation::FedAvgOptions fedavg_options(const AggregationOptions& options) {
  aggregation::FedAvgOptions fedavg;
  switch (options.weighting) {
    case UpdateWeighting::kSamples:
      fedavg.weighting = aggregation::Weighting::kSampleCount;
      break;
    case UpdateWeighting::kUniform:
      fedavg.weighting = aggregation::Weighting::kUniform;
      break;
  }
  fedavg.max_samples_per_update = options.max_samples_per_update;
  return fedavg;
}

aggregation::ServerAdamOptions server_adam_options(const AggregationOptions& a) {
  return {a.server_lr, a.server_beta1, a.server_beta2, a.server_epsilon};
}

// global += server_lr * weighted mean, in one pass over the running sum (no buffer for the mean).
class FedAvgStep : public RoundAggregation {
 public:
  FedAvgStep(const CoordinatorOptions& options, const GlobalModel& model)
      : layout_(model.layout()), options_(fedavg_options(options.aggregation)) {}

  std::unique_ptr<aggregation::Aggregator> begin_round(int64_t) override {
    return std::make_unique<aggregation::StreamingFedAvg>(layout_, options_);
  }
  double commit(aggregation::Aggregator& round, GlobalModel& model, const std::vector<bool>& moving,
                double server_lr) override {
    // The server learning rate is the FedAvg rule's own option (a schedule sets it per round).
    auto& fedavg = dynamic_cast<aggregation::StreamingFedAvg&>(round);
    fedavg.set_server_lr(server_lr);
    return fedavg.apply_to(model.mutable_views(), moving);
  }
  double total_weight(const aggregation::Aggregator& round) const override {
    return dynamic_cast<const aggregation::StreamingFedAvg&>(round).total_weight();
  }

 private:
  aggregation::ModelLayout layout_;
  aggregation::FedAvgOptions options_;
};

// The same weighted mean, as the pseudo-gradient of one server Adam step (Reddi et al., "Adaptive
// Federated Optimization").
class ServerAdamStep : public FedAvgStep {
 public:
  ServerAdamStep(const CoordinatorOptions& options, const GlobalModel& model)
      : FedAvgStep(options, model),
        adam_(model.layout(), model.parameter_mask(), server_adam_options(options.aggregation)) {}

  double commit(aggregation::Aggregator& round, GlobalModel& model, const std::vector<bool>& moving,
                double server_lr) override {
    DeltaBuffer mean(model);
    round.aggregate_into(mean.mutable_views());
    adam_.set_lr(server_lr);
    return adam_.step(mean.views(), model.mutable_views(), moving);
  }

 private:
  aggregation::ServerAdam adam_;
};

// A rule that needs every update (RobustAggregator keeps them; the rule runs at commit), stepped
// with plain server_lr or server Adam as FedAvg is. Centered clipping's center is the last
// committed aggregate of the same tensors, kept here in memory (a restarted coordinator starts
// from zero, as it starts server Adam's moments afresh).
class RobustStep : public RoundAggregation {
 public:
  RobustStep(const CoordinatorOptions& options, const GlobalModel& model)
      : options_(options),
        layout_(model.layout()),
        rule_(aggregation::make_robust_rule(*robust_rule_options(options.aggregation))) {
    for (const auto networks : {gan::TrainedNetworks::kBoth, gan::TrainedNetworks::kDiscriminator,
                                gan::TrainedNetworks::kGenerator}) {
      kept_[static_cast<size_t>(networks)] = model.moving_mask(networks);
    }
    if (options.aggregation.server_optimizer == ServerOptimizer::kAdam) {
      adam_.emplace(model.layout(), model.parameter_mask(),
                    server_adam_options(options.aggregation));
    }
  }

  std::unique_ptr<aggregation::Aggregator> begin_round(int64_t round) override {
    const auto networks = networks_of_round(options_.training, round);
    aggregation::UpdateStoreOptions store;
    store.memory_budget_bytes = options_.aggregation.robust_memory_mb << 20;
    store.spill_directory = options_.storage.checkpoint_dir;
    store.spill_name = fmt::format("round-{}-updates", round);
    auto aggregator = std::make_unique<aggregation::RobustAggregator>(
        layout_, kept_[static_cast<size_t>(networks)], *rule_, store,
        shuffle_seed_of_round(options_.rounds.seed, round), options_.aggregation.server_lr);
    if (options_.aggregation.norm_bound == NormBoundKind::kRoundMedian) {
      aggregator->clip_to_round_median(options_.aggregation.norm_bound_factor);
    }
    return aggregator;
  }

  double commit(aggregation::Aggregator& round, GlobalModel& model, const std::vector<bool>& moving,
                double server_lr) override {
    auto& robust = dynamic_cast<aggregation::RobustAggregator&>(round);
    set_center_for(robust);
    double norm = 0;
    if (adam_) {
      DeltaBuffer aggregate(model);
      robust.aggregate_into(aggregate.mutable_views());
      adam_->set_lr(server_lr);
      norm = adam_->step(aggregate.views(), model.mutable_views(), moving);
    } else {
      robust.set_server_lr(server_lr);
      norm = robust.apply_to(model.mutable_views(), moving);
    }
    keep_center_of(robust);
    return norm;
  }

  // Robust rules weigh every update alike.
  double total_weight(const aggregation::Aggregator& round) const override {
    return static_cast<double>(round.num_updates());
  }

  std::vector<aggregation::KeptUpdateReview> review(
      const aggregation::Aggregator& round) const override {
    return dynamic_cast<const aggregation::RobustAggregator&>(round).review();
  }

 private:
  bool keeps_center() const {
    return options_.aggregation.rule == AggregationRule::kCenteredClipping;
  }

  // The last committed aggregate of the round's kept tensors (zero before there is one).
  void set_center_for(const aggregation::RobustAggregator& robust) {
    if (!keeps_center()) return;
    if (center_.empty()) return rule_->set_center(nullptr, 0);
    std::vector<float> center;
    size_t offset = 0;
    for (size_t t = 0; t < layout_.num_tensors(); ++t) {
      const size_t size = layout_.tensors[t].size;
      if (robust.kept()[t]) {
        center.insert(center.end(), center_.begin() + offset, center_.begin() + offset + size);
      }
      offset += size;
    }
    rule_->set_center(center.data(), center.size());
  }

  void keep_center_of(const aggregation::RobustAggregator& robust) {
    if (!keeps_center()) return;
    if (center_.empty()) center_.assign(layout_.num_parameters(), 0.0f);
    const float* from = robust.kept_aggregate().data();
    size_t offset = 0;
    for (size_t t = 0; t < layout_.num_tensors(); ++t) {
      const size_t size = layout_.tensors[t].size;
      if (robust.kept()[t]) {
        std::copy(from, from + size, center_.begin() + offset);
        from += size;
      }
      offset += size;
    }
  }

  const CoordinatorOptions options_;
  aggregation::ModelLayout layout_;
  std::unique_ptr<aggregation::RobustRule> rule_;
  // The tensors a round that trains networks N keeps: kept_[N].
  std::array<std::vector<bool>, 3> kept_;
  std::optional<aggregation::ServerAdam> adam_;
  // Centered clipping: the full layout's last committed aggregate, flat; empty before the first.
  std::vector<float> center_;
};

}  // namespace

std::unique_ptr<RoundAggregation> make_round_aggregation(const CoordinatorOptions& options,
                                                         const GlobalModel& model) {
  if (options.aggregation.rule != AggregationRule::kFedAvg) {
    return std::make_unique<RobustStep>(options, model);
  }
  if (options.aggregation.server_optimizer == ServerOptimizer::kAdam) {
    return std::make_unique<ServerAdamStep>(options, model);
  }
  return std::make_unique<FedAvgStep>(options, model);
}

}  // namespace fedgan::coordinator
