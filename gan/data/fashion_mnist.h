#pragma once

#include <torch/types.h>

#include <string>

namespace fedgan::gan {

/// One split of an MNIST-format image dataset.
struct ImageDataset {
  torch::Tensor images;  // float32, N x 1 x H x W, scaled to [-1, 1]
  torch::Tensor labels;  // int64, N, values in [0, num_classes)
  int64_t num_classes = 10;
};

enum class Split { kTrain, kTest };

/// Names of the four files of an MNIST-format dataset (train-images-idx3-ubyte[.gz], ...).
/// Prefers the .gz name and falls back to the plain one.
std::string idx_file_path(const std::string& dir, Split split, bool labels);

/// Loads a Fashion-MNIST (or MNIST) split from `dir`: images must be a 3-D uint8 IDX array,
/// labels a 1-D uint8 array of the same length with values below 10. Throws GanError otherwise.
ImageDataset load_mnist_format(const std::string& dir, Split split);

/// Directory of the Debian package `dataset-fashion-mnist`.
inline constexpr const char* kDefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace fedgan::gan
