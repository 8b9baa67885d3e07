#include "gan/data/fashion_mnist.h"

#include "gan/data/idx.h"
#include "gan/error.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

namespace fedgan::gan {
namespace {

// Labels of an MNIST-format dataset are class indices below this.
constexpr int64_t kNumClasses = 10;

IdxArray read_required(const std::string& path, const std::string& dir) {
  check(std::filesystem::exists(path),
        "{}: not found; expected the MNIST-format files train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
        "(or their uncompressed versions) in {} (Debian package dataset-fashion-mnist)",
        path, dir);
  return read_idx(path);
}

}  // namespace

std::string idx_file_path(const std::string& dir, Split split, bool labels) {
  const std::string base = std::string(split == Split::kTrain ? "train" : "t10k") +
                           (labels ? "-labels-idx1-ubyte" : "-images-idx3-ubyte");
  const std::filesystem::path gz = std::filesystem::path(dir) / (base + ".gz");
  const std::filesystem::path plain = std::filesystem::path(dir) / base;
  // Name the preferred .gz file when neither exists, so the "not found" error points at it.
  if (!std::filesystem::exists(gz) && std::filesystem::exists(plain)) return plain.string();
  return gz.string();
}

ImageDataset load_mnist_format(const std::string& dir, Split split) {
  const std::string images_path = idx_file_path(dir, split, /*labels=*/false);
  const std::string labels_path = idx_file_path(dir, split, /*labels=*/true);
  IdxArray images = read_required(images_path, dir);
  IdxArray labels = read_required(labels_path, dir);

  check(images.type == IdxType::kUint8 && images.dims.size() == 3,
        "{}: expected a 3-D uint8 IDX array (N x H x W), got {} dimensions of type code 0x{:02x}",
        images_path, images.dims.size(), static_cast<int>(images.type));
  check(labels.type == IdxType::kUint8 && labels.dims.size() == 1,
        "{}: expected a 1-D uint8 IDX array, got {} dimensions of type code 0x{:02x}", labels_path,
        labels.dims.size(), static_cast<int>(labels.type));
  const int64_t n = images.dims[0];
  check(labels.dims[0] == n, "{}: {} labels for {} images in {}; the two files do not match",
        labels_path, labels.dims[0], n, images_path);
  auto bad = std::find_if(labels.bytes.begin(), labels.bytes.end(),
                          [](uint8_t v) { return v >= kNumClasses; });
  check(bad == labels.bytes.end(), "{}: label {} at index {} is not below {}", labels_path,
        static_cast<int>(bad == labels.bytes.end() ? 0 : *bad), bad - labels.bytes.begin(),
        kNumClasses);

  ImageDataset dataset;
  dataset.num_classes = kNumClasses;
  // from_blob borrows the IDX buffers; to() copies, so the tensors own their memory.
  dataset.images =
      torch::from_blob(images.bytes.data(), {n, 1, images.dims[1], images.dims[2]}, torch::kUInt8)
          .to(torch::kFloat32)
          .div_(127.5)
          .sub_(1.0);
  dataset.labels = torch::from_blob(labels.bytes.data(), {n}, torch::kUInt8).to(torch::kInt64);
  return dataset;
}

}  // namespace fedgan::gan
