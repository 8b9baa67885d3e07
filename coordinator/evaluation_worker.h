#pragma once

#include "coordinator/engine_actions.h"
#include "coordinator/options.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace fedgan::coordinator {

/// Evaluates committed rounds (EvaluateRound actions) on a thread of its own, one at a time and in
/// the order they were submitted, so that an evaluation (the first one trains the classifier,
/// about two minutes) never holds up the thread that serves sessions.
class EvaluationWorker {
 public:
  /// What evaluates one round: returns its figures, or throws (std::exception) saying why not.
  using Evaluate = std::function<storage::Evaluation(const EvaluateRound& request)>;
  /// Told the outcome of each evaluation, on the worker's thread: the figures, or the failure.
  using Done = std::function<void(const EvaluateRound& request,
                                  const std::optional<storage::Evaluation>& figures,
                                  const std::string& failure)>;

  EvaluationWorker(Evaluate evaluate, Done done);
  /// Drops the evaluations still queued and waits for the one in progress.
  ~EvaluationWorker();
  EvaluationWorker(const EvaluationWorker&) = delete;
  EvaluationWorker& operator=(const EvaluationWorker&) = delete;

  void submit(EvaluateRound request);

 private:
  void run();

  Evaluate evaluate_;
  Done done_;
  std::mutex mutex_;  // guards queue_ and closing_
  std::condition_variable wake_;
  std::deque<EvaluateRound> queue_;
  bool closing_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

/// The configured evaluation ([evaluation]): an Evaluator over a model of `options.model`'s
/// architecture that each request's state is loaded into. Built on first use, on the caller's
/// thread; not thread-safe (one EvaluationWorker calls it).
EvaluationWorker::Evaluate configured_evaluation(const CoordinatorOptions& options);

}  // namespace fedgan::coordinator
