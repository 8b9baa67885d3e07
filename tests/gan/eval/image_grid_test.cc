#include "gan/eval/image_grid.h"

#include "gan/error.h"

#include <gtest/gtest.h>
#include <png.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace fedgan::gan {
namespace {

namespace fs = std::filesystem;

// A PNG read back through libpng's simplified API, converted to 8-bit gray or RGB.
struct Png {
  uint32_t width = 0;
  uint32_t height = 0;
  bool color = false;  // as stored in the file
  int channels = 0;    // of `pixels`
  std::vector<uint8_t> pixels;

  uint8_t at(uint32_t row, uint32_t col, int channel = 0) const {
    return pixels.at((static_cast<size_t>(row) * width + col) * channels + channel);
  }
};

Png read_png(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_file(&image, path.c_str())) << image.message;
  Png png;
  png.width = image.width;
  png.height = image.height;
  png.color = (image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  image.format = png.color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png.channels = png.color ? 3 : 1;
  png.pixels.resize(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, png.pixels.data(), 0, nullptr))
      << image.message;
  return png;
}

class ImageGridTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fedgan_image_grid_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

TEST_F(ImageGridTest, GrayscaleGridLayout) {
  // Three 4 x 5 tiles, two columns, padding 1: tile 0 black, tile 1 white, tile 2 mid-gray.
  constexpr int64_t kH = 4, kW = 5, kPad = 1;
  torch::Tensor images = torch::empty({3, 1, kH, kW});
  images[0].fill_(-1.0);
  images[1].fill_(1.0);
  images[2].fill_(0.0);
  const std::string path = (dir_ / "sub" / "grid.png").string();
  write_image_grid(images, path, /*columns=*/2, /*padding=*/kPad);

  const Png png = read_png(path);
  EXPECT_FALSE(png.color);
  // Width = columns * W + padding * (columns + 1); height = rows * H + padding * (rows + 1).
  ASSERT_EQ(png.width, 2 * kW + 3 * kPad);
  ASSERT_EQ(png.height, 2 * kH + 3 * kPad);
  // Tile (r, c) occupies rows pad + r (H + pad) ..., columns pad + c (W + pad) ...
  const auto tile_value = [&](uint32_t row, uint32_t col) -> int {
    const uint32_t r = row - kPad, c = col - kPad;
    if (r % (kH + kPad) >= kH || c % (kW + kPad) >= kW) return -1;  // padding
    return static_cast<int>((r / (kH + kPad)) * 2 + c / (kW + kPad));
  };
  for (uint32_t row = 0; row < png.height; ++row) {
    for (uint32_t col = 0; col < png.width; ++col) {
      const bool border = row == 0 || col == 0;
      const int tile = border ? -1 : tile_value(row, col);
      const int expected = tile == 0 ? 0 : tile == 2 ? 128 : 255;  // padding, tile 1, slot 3: 255
      ASSERT_EQ(png.at(row, col), expected) << "row " << row << " col " << col;
    }
  }
  // Only the PNG is left behind: no temporary file.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "sub"), fs::directory_iterator()), 1);
}

TEST_F(ImageGridTest, RgbTilesAndFewerImagesThanColumns) {
  torch::Tensor image = torch::full({1, 3, 2, 2}, -1.0);
  image[0][0].fill_(1.0);  // pure red
  const std::string path = (dir_ / "rgb.png").string();
  write_image_grid(image, path, /*columns=*/8, /*padding=*/0);
  const Png png = read_png(path);
  EXPECT_TRUE(png.color);
  ASSERT_EQ(png.width, 2u);
  ASSERT_EQ(png.height, 2u);
  for (uint32_t row = 0; row < 2; ++row) {
    for (uint32_t col = 0; col < 2; ++col) {
      EXPECT_EQ(png.at(row, col, 0), 255);
      EXPECT_EQ(png.at(row, col, 1), 0);
      EXPECT_EQ(png.at(row, col, 2), 0);
    }
  }
}

TEST_F(ImageGridTest, ClampsOutOfRangeValues) {
  const torch::Tensor images = torch::tensor({-5.0f, 7.0f}).reshape({1, 1, 1, 2});
  const std::string path = (dir_ / "clamp.png").string();
  write_image_grid(images, path, 1, 0);
  const Png png = read_png(path);
  EXPECT_EQ(png.at(0, 0), 0);
  EXPECT_EQ(png.at(0, 1), 255);
}

TEST_F(ImageGridTest, OverwritesAnExistingFile) {
  const std::string path = (dir_ / "again.png").string();
  write_image_grid(torch::zeros({4, 1, 3, 3}), path, 2, 1);
  write_image_grid(torch::zeros({1, 1, 3, 3}), path, 2, 1);
  EXPECT_EQ(read_png(path).width, 5u);
}

TEST_F(ImageGridTest, RejectsBadArguments) {
  const std::string path = (dir_ / "bad.png").string();
  EXPECT_THROW(write_image_grid(torch::zeros({1, 28, 28}), path), GanError);
  EXPECT_THROW(write_image_grid(torch::zeros({2, 2, 28, 28}), path), GanError);
  EXPECT_THROW(write_image_grid(torch::zeros({0, 1, 28, 28}), path), GanError);
  EXPECT_THROW(write_image_grid(torch::zeros({2, 1, 28, 28}, torch::kUInt8), path), GanError);
  EXPECT_THROW(write_image_grid(torch::zeros({2, 1, 28, 28}), path, /*columns=*/0), GanError);
  EXPECT_THROW(write_image_grid(torch::zeros({2, 1, 28, 28}), path, 8, /*padding=*/-1), GanError);
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(ImageGridTest, ReportsUnwritablePath) {
  // A path whose parent is a regular file cannot be created.
  fs::create_directories(dir_);
  const fs::path file = dir_ / "plain_file";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_THROW(write_image_grid(torch::zeros({1, 1, 4, 4}), (file / "x.png").string()), GanError);
}

TEST_F(ImageGridTest, ScatterPlotHasPointsAndRedCenters) {
  constexpr int64_t kSize = 64;
  constexpr double kExtent = 5.0;
  // (1, 1) maps to column floor(6 / 10 * 64) = 38 and row 63 - 38 = 25.
  const torch::Tensor points = torch::tensor({{1.0f, 1.0f}, {100.0f, 0.0f}});
  // (0, 0) maps to column 32, row 31.
  const torch::Tensor centers = torch::tensor({{0.0f, 0.0f}});
  const std::string path = (dir_ / "scatter.png").string();
  write_scatter_png(points, centers, path, kExtent, kSize);

  const Png png = read_png(path);
  ASSERT_TRUE(png.color);
  ASSERT_EQ(png.width, kSize);
  ASSERT_EQ(png.height, kSize);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(png.at(25, 38, c), 0) << "channel " << c;
  for (const auto& [row, col] : std::vector<std::pair<int, int>>{{31, 32}, {31, 36}, {27, 32}}) {
    EXPECT_EQ(png.at(row, col, 0), 255);
    EXPECT_EQ(png.at(row, col, 1), 0);
    EXPECT_EQ(png.at(row, col, 2), 0);
  }
  // Everything else is white; count the non-white pixels: 1 point + a cross of 2 * 8 + 1 pixels.
  int non_white = 0;
  for (uint32_t row = 0; row < png.height; ++row) {
    for (uint32_t col = 0; col < png.width; ++col) {
      if (png.at(row, col, 0) != 255 || png.at(row, col, 1) != 255 || png.at(row, col, 2) != 255) {
        ++non_white;
      }
    }
  }
  EXPECT_EQ(non_white, 1 + 17);
}

TEST_F(ImageGridTest, ScatterWithoutCentersAndBadArguments) {
  const std::string path = (dir_ / "plain.png").string();
  write_scatter_png(torch::zeros({10, 2}), torch::Tensor(), path, 1.0, 32);
  EXPECT_EQ(read_png(path).width, 32u);
  EXPECT_THROW(write_scatter_png(torch::zeros({10, 3}), torch::Tensor(), path, 1.0), GanError);
  EXPECT_THROW(write_scatter_png(torch::zeros({10, 2}), torch::zeros({3}), path, 1.0), GanError);
  EXPECT_THROW(write_scatter_png(torch::zeros({10, 2}), torch::Tensor(), path, 0.0), GanError);
  EXPECT_THROW(write_scatter_png(torch::zeros({10, 2}), torch::Tensor(), path, 1.0, 0), GanError);
}

}  // namespace
}  // namespace fedgan::gan
