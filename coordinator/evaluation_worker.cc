#include "coordinator/evaluation_worker.h"

#include "coordinator/evaluator.h"
#include "coordinator/global_model.h"

#include <fmt/format.h>

namespace fedgan::coordinator {

EvaluationWorker::EvaluationWorker(Evaluate evaluate, Done done)
    : evaluate_(std::move(evaluate)), done_(std::move(done)), thread_([this] { run(); }) {}

EvaluationWorker::~EvaluationWorker() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    queue_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void EvaluationWorker::submit(EvaluateRound request) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(request));
  }
  wake_.notify_all();
}

void EvaluationWorker::run() {
  for (;;) {
    EvaluateRound request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    std::optional<storage::Evaluation> figures;
    std::string failure;
    try {
      figures = evaluate_(request);
    } catch (const std::exception& error) {
      failure = error.what();
    }
    request.state.clear();  // the copy of the model is not needed any more
    done_(request, figures, failure);
  }
}

EvaluationWorker::Evaluate configured_evaluation(const CoordinatorOptions& options) {
  // Built now, so that a bad [evaluation] section is refused when the coordinator starts.
  auto evaluator = std::make_shared<Evaluator>(options.evaluation, options.model.architecture);
  ModelOptions model_options = options.model;
  model_options.init_checkpoint.clear();  // every request brings its own tensors
  std::shared_ptr<GlobalModel> model;     // built by the first evaluation, on the worker
  return [evaluator, model_options, model](const EvaluateRound& request) mutable {
    if (!model) model = std::make_shared<GlobalModel>(model_options);
    model->load_state(request.state, fmt::format("round {}", request.round));
    return evaluator->evaluate(model->model(), request.grid_png, request.seed);
  };
}

}  // namespace fedgan::coordinator
