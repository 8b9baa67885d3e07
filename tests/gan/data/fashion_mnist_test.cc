#include "gan/data/fashion_mnist.h"
#include "tests/gan/data/idx_files.h"

#include "gan/data/idx.h"
#include "gan/error.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fedgan::gan {
namespace {

namespace fs = std::filesystem;

const std::string kDataDir = FEDGAN_TEST_FASHION_MNIST_DIR;

void expect_class_counts(const ImageDataset& data, int64_t per_class) {
  const torch::Tensor counts = torch::bincount(data.labels, {}, 10);
  ASSERT_EQ(counts.size(0), 10);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(counts[k].item<int64_t>(), per_class) << "class " << k;
}

TEST(FashionMnist, LoadsTestSplit) {
  const ImageDataset data = load_mnist_format(kDataDir, Split::kTest);
  EXPECT_EQ(data.num_classes, 10);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(data.images.scalar_type(), torch::kFloat32);
  EXPECT_EQ(data.images.min().item<float>(), -1.0f);
  EXPECT_EQ(data.images.max().item<float>(), 1.0f);
  ASSERT_EQ(data.labels.sizes(), (std::vector<int64_t>{10000}));
  EXPECT_EQ(data.labels.scalar_type(), torch::kInt64);
  expect_class_counts(data, 1000);

  // Pixels are exactly x / 127.5 - 1 of the raw bytes.
  const IdxArray raw = read_idx(idx_file_path(kDataDir, Split::kTest, false));
  const torch::Tensor first =
      torch::from_blob(const_cast<uint8_t*>(raw.bytes.data()), {1, 28, 28}, torch::kUInt8)
              .to(torch::kFloat32) /
          127.5 -
      1.0;
  EXPECT_TRUE(torch::equal(data.images[0], first));
}

TEST(FashionMnist, LoadsTrainSplit) {
  const ImageDataset data = load_mnist_format(kDataDir, Split::kTrain);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{60000, 1, 28, 28}));
  EXPECT_GE(data.images.min().item<float>(), -1.0f);
  EXPECT_LE(data.images.max().item<float>(), 1.0f);
  expect_class_counts(data, 6000);
}

class MnistDirTest : public TempDirTest {
 protected:
  void write(const std::string& name, const Bytes& content) { write_plain(name, content); }

  std::string load_error() {
    try {
      load_mnist_format(dir_.string(), Split::kTest);
    } catch (const GanError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected GanError";
    return "";
  }
};

TEST_F(MnistDirTest, LoadsUncompressedFilesWithExactScaling) {
  write("t10k-images-idx3-ubyte", make_idx(0x08, {2, 1, 3}, {0, 255, 51, 102, 153, 204}));
  write("t10k-labels-idx1-ubyte", make_idx(0x08, {2}, {9, 0}));
  const ImageDataset data = load_mnist_format(dir_.string(), Split::kTest);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 1, 1, 3}));
  const torch::Tensor expected =
      torch::tensor({0.0, 255.0, 51.0, 102.0, 153.0, 204.0}, torch::kFloat32).view({2, 1, 1, 3}) /
          127.5 -
      1.0;
  EXPECT_TRUE(torch::equal(data.images, expected));
  EXPECT_EQ(data.images[0][0][0][0].item<float>(), -1.0f);
  EXPECT_EQ(data.images[0][0][0][1].item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({9, 0}, torch::kInt64)));
}

TEST_F(MnistDirTest, PrefersGzipNameAndFallsBackToPlain) {
  const std::string dir = dir_.string();
  EXPECT_EQ(idx_file_path(dir, Split::kTrain, true),
            (dir_ / "train-labels-idx1-ubyte.gz").string());
  write("train-labels-idx1-ubyte", {});
  EXPECT_EQ(idx_file_path(dir, Split::kTrain, true), (dir_ / "train-labels-idx1-ubyte").string());
  write("train-labels-idx1-ubyte.gz", {});
  EXPECT_EQ(idx_file_path(dir, Split::kTrain, true),
            (dir_ / "train-labels-idx1-ubyte.gz").string());
  EXPECT_EQ(idx_file_path(dir, Split::kTest, false), (dir_ / "t10k-images-idx3-ubyte.gz").string());
}

TEST_F(MnistDirTest, RejectsLabelCountMismatch) {
  write("t10k-images-idx3-ubyte", make_idx(0x08, {3, 2, 2}, Bytes(12, 7)));
  write("t10k-labels-idx1-ubyte", make_idx(0x08, {2}, {1, 2}));
  EXPECT_NE(load_error().find("2 labels for 3 images"), std::string::npos);
}

TEST_F(MnistDirTest, RejectsLabelOutOfRange) {
  write("t10k-images-idx3-ubyte", make_idx(0x08, {3, 2, 2}, Bytes(12, 7)));
  write("t10k-labels-idx1-ubyte", make_idx(0x08, {3}, {1, 10, 2}));
  EXPECT_NE(load_error().find("label 10 at index 1 is not below 10"), std::string::npos);
}

TEST_F(MnistDirTest, RejectsWrongShapeOrType) {
  write("t10k-images-idx3-ubyte", make_idx(0x08, {3, 4}, Bytes(12, 7)));
  write("t10k-labels-idx1-ubyte", make_idx(0x08, {3}, {1, 2, 3}));
  EXPECT_NE(load_error().find("expected a 3-D uint8 IDX array"), std::string::npos);
  write("t10k-images-idx3-ubyte", make_idx(0x0C, {3, 1, 1}, Bytes(12, 7)));
  EXPECT_NE(load_error().find("expected a 3-D uint8 IDX array"), std::string::npos);
}

TEST_F(MnistDirTest, MissingFilesNameTheDirectory) {
  const std::string message = load_error();
  EXPECT_NE(message.find("t10k-images-idx3-ubyte.gz: not found"), std::string::npos) << message;
  EXPECT_NE(message.find(dir_.string()), std::string::npos) << message;
}

}  // namespace
}  // namespace fedgan::gan
