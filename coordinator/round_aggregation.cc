#include "coordinator/round_aggregation.h"

#include "aggregation/fedavg.h"
#include "aggregation/server_adam.h"
#include "coordinator/round_plan.h"

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
        adam_(model.layout(), model.parameter_mask(),
              aggregation::ServerAdamOptions{
                  options.aggregation.server_lr, options.aggregation.server_beta1,
                  options.aggregation.server_beta2, options.aggregation.server_epsilon}) {}

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

}  // namespace

std::unique_ptr<RoundAggregation> make_round_aggregation(const CoordinatorOptions& options,
                                                         const GlobalModel& model) {
  if (options.aggregation.server_optimizer == ServerOptimizer::kAdam) {
    return std::make_unique<ServerAdamStep>(options, model);
  }
  return std::make_unique<FedAvgStep>(options, model);
}

}  // namespace fedgan::coordinator
