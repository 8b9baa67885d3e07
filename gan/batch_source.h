#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace fedgan::gan {

/// Serves shuffled mini-batches of the rows of a tensor: each epoch visits every row once in an
/// order drawn from its own seeded generator; a final partial batch is dropped and the next epoch
/// reshuffles. The data is moved to the training device once, up front. Not thread-safe.
class BatchSource {
 public:
  /// `data`'s first dimension indexes samples. Throws GanError when it is empty.
  BatchSource(torch::Tensor data, const torch::Device& device, uint64_t seed);

  /// The next `batch_size` rows. Throws GanError when batch_size exceeds the number of rows.
  torch::Tensor next(int64_t batch_size);

  int64_t size() const { return data_.size(0); }
  int64_t epochs_started() const { return epochs_; }

 private:
  void reshuffle();

  torch::Tensor data_;   // on the training device
  torch::Tensor order_;  // int64 row order of the current epoch, on the training device
  int64_t cursor_ = 0;
  int64_t epochs_ = 0;
  at::Generator gen_;
};

}  // namespace fedgan::gan
