#pragma once

#include "client/options.h"

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace fedgan::client {

/// A site's training data, ready for gan::BatchSource.
struct LoadedData {
  /// float32: N x 1 x H x W images scaled to [-1, 1], or N x D vectors as written.
  torch::Tensor rows;
  /// int64 N class (or mixture mode) per row, values in [0, num_classes); undefined when the
  /// source has no labels.
  torch::Tensor labels;
  int64_t num_classes = 0;
  bool images = false;
  /// What was loaded, for the log ("600 images 28x28 from train-images-idx3-ubyte.gz").
  std::string description;
};

/// Loads the source `options.format` names, then keeps this site's share when a partition is
/// configured. Every file is untrusted input, checked against the bounds of `options`
/// (max_samples, max_columns, max_image_side); throws ClientError naming the file and the problem.
LoadedData load_data(const DataOptions& options);

/// An IDX pair: `images` a 3-D uint8 array (N x H x W, plain or gzip), `labels` (optional, empty
/// path = none) a 1-D uint8 array of N labels. Pixels are scaled from [0, 255] to [-1, 1].
LoadedData load_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                    const DataOptions& limits);

/// Every `*.png` file (any case) directly in `directory`, sorted by name: all must have the same
/// width and height (at most max_image_side), there must be 1 to max_samples of them. Color
/// images are converted to grayscale, alpha is composited over black, 16-bit samples reduced to
/// 8 bits; pixels are scaled to [-1, 1]. Throws ClientError naming the file at fault.
LoadedData load_png_directory(const std::filesystem::path& directory, const DataOptions& limits);

/// Numeric rows separated by commas (spaces around values allowed, blank lines skipped, the first
/// line skipped when `header`): every row must have the same number of columns (at most
/// max_columns), there must be 1 to max_samples rows, and every value must be a finite number
/// within float32's range. Throws ClientError naming the file, line and column at fault.
LoadedData load_csv(const std::filesystem::path& file, bool header, const DataOptions& limits);

/// Keeps only the rows of client `client_index` of `clients` under `spec` ("iid", "classes:K",
/// "dirichlet:ALPHA"), partitioning with `seed`. The class-skewed specs need labels.
void keep_partition(LoadedData& data, const std::string& spec, int64_t clients,
                    int64_t client_index, uint64_t seed);

}  // namespace fedgan::client
