#include "client/data_source.h"

#include "client/error.h"
#include "tests/client/test_support.h"
#include "tests/gan/data/idx_files.h"

#include <gtest/gtest.h>
#include <png.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

class DataSource : public testing::TempDirTest {
 protected:
  // Writes a PNG of `format` (PNG_FORMAT_GRAY, _GA, _RGB, ...) whose every channel of pixel i is
  // value(i), alpha (when present) opaque.
  void write_png(const std::string& name, int width, int height, png_uint_32 format,
                 const std::function<uint8_t(int)>& value) {
    png_image image;
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(width);
    image.height = static_cast<png_uint_32>(height);
    image.format = format;
    const int channels = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(format));
    const bool alpha = (format & PNG_FORMAT_FLAG_ALPHA) != 0;
    std::vector<uint8_t> pixels;
    for (int i = 0; i < width * height; ++i) {
      for (int c = 0; c < channels; ++c) {
        pixels.push_back(alpha && c == channels - 1 ? 255 : value(i));
      }
    }
    const std::string path = (dir_ / name).string();
    ASSERT_TRUE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr))
        << image.message;
  }

  fs::path write_text(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  fs::path write_bytes(const std::string& name, const gan::Bytes& bytes) {
    const fs::path path = dir_ / name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  // The ClientError message of `load`, or "" when it succeeds.
  template <typename F>
  std::string problem(F&& load) {
    try {
      load();
    } catch (const ClientError& error) {
      return error.what();
    }
    return "";
  }

  std::string csv_problem(const std::string& text, DataOptions limits = {}) {
    const fs::path file = write_text("points.csv", text);
    return problem([&] { load_csv(file, false, limits); });
  }

  DataOptions limits_;
};

TEST_F(DataSource, PngDirectoryLoadsImagesOfOneSizeAsGrayscale) {
  write_png("a.png", 28, 28, PNG_FORMAT_GRAY, [](int i) { return static_cast<uint8_t>(i % 256); });
  write_png("b.png", 28, 28, PNG_FORMAT_RGB, [](int) { return uint8_t{255}; });
  write_png("c.PNG", 28, 28, PNG_FORMAT_GA, [](int) { return uint8_t{0}; });
  write_text("notes.txt", "not an image");
  const LoadedData data = load_png_directory(dir_, limits_);
  ASSERT_EQ(data.rows.sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
  EXPECT_TRUE(data.images);
  EXPECT_FALSE(data.labels.defined());
  // Sorted by name; pixels scaled from [0, 255] to [-1, 1].
  EXPECT_FLOAT_EQ(data.rows[0][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(data.rows[0][0][0][1].item<float>(), 1.0f / 127.5f - 1.0f);
  EXPECT_FLOAT_EQ(data.rows[0][0][9][3].item<float>(), 255.0f / 127.5f - 1.0f);  // pixel 255
  EXPECT_TRUE(torch::all(data.rows[1] == 1.0f).item<bool>());
  EXPECT_TRUE(torch::all(data.rows[2] == -1.0f).item<bool>());
  EXPECT_NE(data.description.find("3 images 28x28"), std::string::npos) << data.description;
}

TEST_F(DataSource, PngDirectoryRefusesImagesOfAnotherSize) {
  write_png("a.png", 28, 28, PNG_FORMAT_GRAY, [](int) { return uint8_t{1}; });
  write_png("b.png", 14, 28, PNG_FORMAT_GRAY, [](int) { return uint8_t{1}; });
  const auto message = problem([&] { load_png_directory(dir_, limits_); });
  EXPECT_NE(message.find("b.png: 14x28 pixels, but the first image is 28x28"), std::string::npos)
      << message;
}

TEST_F(DataSource, PngDirectoryEnforcesItsBounds) {
  write_png("a.png", 28, 28, PNG_FORMAT_GRAY, [](int) { return uint8_t{1}; });
  write_png("b.png", 28, 28, PNG_FORMAT_GRAY, [](int) { return uint8_t{1}; });
  limits_.max_image_side = 16;
  EXPECT_NE(problem([&] { load_png_directory(dir_, limits_); }).find("data.max_image_side = 16"),
            std::string::npos);
  limits_.max_image_side = 1024;
  limits_.max_samples = 1;
  EXPECT_NE(problem([&] { load_png_directory(dir_, limits_); }).find("holds 2 PNG files"),
            std::string::npos);
}

TEST_F(DataSource, PngDirectoryRefusesAFileThatIsNotAPng) {
  write_png("a.png", 8, 8, PNG_FORMAT_GRAY, [](int) { return uint8_t{1}; });
  write_text("b.png", "GIF89a: certainly not a PNG");
  const auto message = problem([&] { load_png_directory(dir_, limits_); });
  EXPECT_NE(message.find("b.png: not a readable PNG"), std::string::npos) << message;
}

TEST_F(DataSource, PngDirectoryRefusesAnEmptyOrMissingDirectory) {
  EXPECT_NE(problem([&] { load_png_directory(dir_, limits_); }).find("holds no .png files"),
            std::string::npos);
  EXPECT_NE(
      problem([&] { load_png_directory(dir_ / "absent", limits_); }).find("is not a directory"),
      std::string::npos);
}

TEST_F(DataSource, CsvReadsNumericRows) {
  const fs::path file = write_text("points.csv", "x, y\n1.5, -2\n\n  3e-1 ,4\r\n-0.25,1e3");
  const LoadedData data = load_csv(file, /*header=*/true, limits_);
  const auto expected = torch::tensor({1.5f, -2.0f, 0.3f, 4.0f, -0.25f, 1000.0f}).view({3, 2});
  EXPECT_TRUE(torch::equal(data.rows, expected)) << data.rows;
  EXPECT_FALSE(data.images);
  EXPECT_FALSE(data.labels.defined());
}

TEST_F(DataSource, CsvRefusesRaggedRows) {
  const auto message = csv_problem("1,2\n3,4\n5\n");
  EXPECT_NE(message.find("points.csv:3: 1 columns, but line 1 has 2"), std::string::npos)
      << message;
}

TEST_F(DataSource, CsvRefusesValuesThatAreNotFiniteNumbers) {
  EXPECT_NE(csv_problem("1,2\n3,nan\n")
                .find("points.csv:2: column 2 is 'nan', which is not a "
                      "finite number"),
            std::string::npos);
  EXPECT_NE(csv_problem("inf,2\n").find("not a finite number"), std::string::npos);
  EXPECT_NE(csv_problem("1e400,2\n").find("not a finite number"), std::string::npos);
  EXPECT_NE(csv_problem("1e39,2\n").find("beyond the float32 range"), std::string::npos);
  EXPECT_NE(csv_problem("1,two\n").find("column 2 is 'two', not a number"), std::string::npos);
  EXPECT_NE(csv_problem("1,,2\n").find("column 2 is empty"), std::string::npos);
  EXPECT_NE(csv_problem(std::string("1,2\0,3\n", 7)).find("not a number"), std::string::npos);
}

TEST_F(DataSource, CsvEnforcesItsBounds) {
  DataOptions limits;
  limits.max_columns = 3;
  EXPECT_NE(csv_problem("1,2,3,4\n", limits).find("more than data.max_columns = 3 columns"),
            std::string::npos);
  // A line far longer than any valid row is refused before it is held whole.
  EXPECT_NE(csv_problem(std::string(100000, '1') + "\n", limits).find("line longer than"),
            std::string::npos);
  limits = {};
  limits.max_samples = 2;
  EXPECT_NE(csv_problem("1\n2\n3\n", limits).find("points.csv:3: more than data.max_samples = 2"),
            std::string::npos);
  EXPECT_NE(csv_problem("\n\n").find("holds no data rows"), std::string::npos);
}

TEST_F(DataSource, IdxPairLoadsAndKeepsOneClientsPartition) {
  constexpr int kImages = 20, kSide = 4;
  gan::Bytes pixels(kImages * kSide * kSide), labels(kImages);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i % 256);
  for (int i = 0; i < kImages; ++i) labels[i] = static_cast<uint8_t>(i % 4);
  DataOptions options;
  options.format = DataFormat::kIdx;
  options.images = write_bytes("images.idx", gan::make_idx(0x08, {kImages, kSide, kSide}, pixels));
  options.labels = write_bytes("labels.idx", gan::make_idx(0x08, {kImages}, labels));

  LoadedData all = load_data(options);
  ASSERT_EQ(all.rows.sizes(), (std::vector<int64_t>{kImages, 1, kSide, kSide}));
  EXPECT_EQ(all.num_classes, 4);
  EXPECT_FLOAT_EQ(all.rows[0][0][0][1].item<float>(), 1.0f / 127.5f - 1.0f);

  // One class per client: client 2 holds the five images of a single class.
  options.partition = "classes:1";
  options.clients = 4;
  options.client_index = 2;
  const LoadedData mine = load_data(options);
  ASSERT_EQ(mine.rows.size(0), 5);
  EXPECT_TRUE(torch::all(mine.labels == mine.labels[0]).item<bool>()) << mine.labels;
  EXPECT_NE(mine.description.find("client 2 of 4 keeps 5 of 20 rows"), std::string::npos)
      << mine.description;

  // Without labels only an iid partition is possible.
  options.labels.clear();
  EXPECT_NE(problem([&] { load_data(options); }).find("splits by label"), std::string::npos);
  options.partition = "iid";
  EXPECT_EQ(load_data(options).rows.size(0), 5);
}

TEST_F(DataSource, IdxRefusesLabelsThatDoNotMatch) {
  DataOptions options;
  options.format = DataFormat::kIdx;
  options.images = write_bytes("images.idx", gan::make_idx(0x08, {3, 2, 2}, gan::Bytes(12, 0)));
  options.labels = write_bytes("labels.idx", gan::make_idx(0x08, {2}, gan::Bytes(2, 0)));
  EXPECT_NE(problem([&] { load_data(options); }).find("2 labels for 3 images"), std::string::npos);
  options.labels = write_bytes("vectors.idx", gan::make_idx(0x08, {3, 2}, gan::Bytes(6, 0)));
  EXPECT_NE(problem([&] { load_data(options); }).find("expected a 1-D uint8 IDX array"),
            std::string::npos);
  options.images = dir_ / "absent.idx";
  EXPECT_NE(problem([&] { load_data(options); }).find("data.images"), std::string::npos);
}

TEST_F(DataSource, MixtureDrawsLabelledPoints) {
  DataOptions options;
  options.format = DataFormat::kMixture;
  options.mixture = Mixture::kRing;
  options.mixture_rows = 800;
  const LoadedData data = load_data(options);
  ASSERT_EQ(data.rows.sizes(), (std::vector<int64_t>{800, 2}));
  EXPECT_EQ(data.num_classes, 8);
  EXPECT_EQ(data.labels.size(0), 800);
  // The same seed draws the same points, so sites of an experiment partition the same rows.
  EXPECT_TRUE(torch::equal(load_data(options).rows, data.rows));
  options.partition = "iid";
  options.clients = 4;
  options.client_index = 3;
  EXPECT_EQ(load_data(options).rows.size(0), 200);
}

}  // namespace
}  // namespace fedgan::client
