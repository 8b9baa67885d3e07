#include "gan/batch_source.h"

#include "gan/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace fedgan::gan {

BatchSource::BatchSource(torch::Tensor data, const torch::Device& device, uint64_t seed)
    : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {
  check(data.defined() && data.dim() >= 1 && data.size(0) > 0,
        "training data must have at least one row");
  data_ = data.to(device).contiguous();
  reshuffle();
}

void BatchSource::reshuffle() {
  order_ = torch::randperm(data_.size(0), gen_, torch::kLong).to(data_.device());
  cursor_ = 0;
  ++epochs_;
}

torch::Tensor BatchSource::next(int64_t batch_size) {
  check(batch_size > 0 && batch_size <= data_.size(0),
        "batch size {} does not fit a dataset of {} rows", batch_size, data_.size(0));
  if (cursor_ + batch_size > data_.size(0)) reshuffle();
  auto rows = order_.narrow(0, cursor_, batch_size);
  cursor_ += batch_size;
  return data_.index_select(0, rows);
}

}  // namespace fedgan::gan
