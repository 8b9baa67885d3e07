#include "gan/eval/image_grid.h"

#include "files/durable_file.h"
#include "files/error.h"
#include "gan/error.h"

#include <fmt/ranges.h>
#include <png.h>
#include <torch/torch.h>

#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

namespace fedgan::gan {

namespace {

// Grid layout (as torchvision's make_grid): tiles of H x W are laid out row-major, `columns` per
// row (fewer when there are fewer images), with `padding` pixels before the first tile, between
// tiles and after the last one, in both directions. Padding and unused tiles are white, which
// separates the dark backgrounds of Fashion-MNIST tiles.
constexpr uint8_t kPaddingValue = 255;
constexpr int64_t kMaxDimension = 1 << 15;  // keeps width * height * 3 far from overflow
// Scatter plots: black sample pixels, red crosses of kCrossArm pixels each way at mode centers.
constexpr int64_t kCrossArm = 4;

std::string shape_of(const torch::Tensor& t) {
  return t.defined() ? fmt::format("[{}]", fmt::join(t.sizes(), ", ")) : std::string("(undefined)");
}

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// Owns a libpng write struct and its info struct.
class PngWriter {
 public:
  PngWriter(png_error_ptr on_error, void* error_context) {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, error_context, on_error,
                                   [](png_structp, png_const_charp) {});
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngWriter() { png_destroy_write_struct(&png_, &info_); }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;

  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

// Where a libpng error message lands; a plain array so that the frame holding setjmp has nothing
// to destroy when libpng longjmps back into it.
struct PngErrorContext {
  char message[256] = {};
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* context = static_cast<PngErrorContext*>(png_get_error_ptr(png));
  std::snprintf(context->message, sizeof(context->message), "%s", message);
  png_longjmp(png, 1);
}

// The only frame libpng may longjmp into. It owns no C++ object with a destructor, so the jump
// skips no destructors; the caller turns a false result into a GanError.
bool write_png_rows(png_structp png, png_infop info, std::FILE* file, png_uint_32 width,
                    png_uint_32 height, int color_type, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

// The bytes of a PNG encoded in memory; written to its file at once, durably, by the caller.
struct EncodedPng {
  char* data = nullptr;  // owned: malloc'ed by open_memstream
  size_t size = 0;
  EncodedPng() = default;
  ~EncodedPng() { std::free(data); }
  EncodedPng(const EncodedPng&) = delete;
  EncodedPng& operator=(const EncodedPng&) = delete;
};

// Writes `pixels` (H x W x C uint8, C = 1 gray or 3 RGB) as a PNG at `path`, atomically.
void write_png(const torch::Tensor& pixels, const std::string& path) {
  namespace fs = std::filesystem;
  const torch::Tensor data = pixels.contiguous();
  const int64_t height = data.size(0), width = data.size(1), channels = data.size(2);
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  check(!ec, "cannot create directory {} for {}: {}", target.parent_path().string(), path,
        ec.message());

  EncodedPng encoded;
  FilePtr file(open_memstream(&encoded.data, &encoded.size));
  check(file != nullptr, "cannot encode {}: {}", path, std::strerror(errno));
  PngErrorContext error;
  PngWriter writer(on_png_error, &error);
  check(writer.ok(), "cannot allocate libpng structures for {}", path);

  std::vector<png_bytep> rows(static_cast<size_t>(height));
  auto* base = data.data_ptr<uint8_t>();
  for (int64_t r = 0; r < height; ++r) rows[static_cast<size_t>(r)] = base + r * width * channels;
  const int color_type = channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
  const bool written =
      write_png_rows(writer.png(), writer.info(), file.get(), static_cast<png_uint_32>(width),
                     static_cast<png_uint_32>(height), color_type, rows.data());
  check(written, "libpng failed writing {}: {}", path, error.message);
  // The memory stream's buffer and size are final once it is closed.
  const int closed = std::fclose(file.release());
  check(closed == 0, "cannot encode {}: {}", path, std::strerror(errno));
  try {
    files::write_file_atomically(target, encoded.data, encoded.size);
  } catch (const files::FileError& e) {
    throw GanError(e.what());
  }
}

// [-1, 1] -> [0, 255], rounded; NaN (a diverged generator) becomes black rather than an error.
torch::Tensor to_bytes(const torch::Tensor& images) {
  const torch::Tensor x =
      torch::nan_to_num(images.detach().to(torch::kCPU, torch::kFloat32), -1.0, 1.0, -1.0);
  return ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch::kUInt8);
}

}  // namespace

void write_image_grid(const torch::Tensor& images, const std::string& path, int64_t columns,
                      int64_t padding) {
  check(images.defined() && images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3),
        "write_image_grid: images must be N x C x H x W with C = 1 or 3, got {}", shape_of(images));
  check(images.size(0) >= 1 && images.size(2) >= 1 && images.size(3) >= 1,
        "write_image_grid: no pixels to write (shape {})", shape_of(images));
  check(images.is_floating_point(), "write_image_grid: images must be floating point in [-1, 1]");
  check(columns >= 1, "write_image_grid: columns must be positive, got {}", columns);
  check(padding >= 0, "write_image_grid: padding must be non-negative, got {}", padding);

  const int64_t n = images.size(0), channels = images.size(1);
  const int64_t tile_h = images.size(2), tile_w = images.size(3);
  const int64_t grid_cols = std::min(columns, n);
  const int64_t grid_rows = (n + grid_cols - 1) / grid_cols;
  const int64_t width = grid_cols * (tile_w + padding) + padding;
  const int64_t height = grid_rows * (tile_h + padding) + padding;
  check(width <= kMaxDimension && height <= kMaxDimension,
        "write_image_grid: a {} x {} grid is too large; write fewer images or more columns", width,
        height);

  const torch::Tensor tiles = to_bytes(images).permute({0, 2, 3, 1});  // N x H x W x C
  torch::Tensor grid = torch::full({height, width, channels}, kPaddingValue, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = padding + (i / grid_cols) * (tile_h + padding);
    const int64_t left = padding + (i % grid_cols) * (tile_w + padding);
    grid.slice(0, top, top + tile_h).slice(1, left, left + tile_w).copy_(tiles[i]);
  }
  write_png(grid, path);
}

void write_scatter_png(const torch::Tensor& points, const torch::Tensor& centers,
                       const std::string& path, double extent, int64_t size) {
  check(points.defined() && points.dim() == 2 && points.size(1) == 2,
        "write_scatter_png: points must be N x 2, got {}", shape_of(points));
  check(!centers.defined() || (centers.dim() == 2 && centers.size(1) == 2),
        "write_scatter_png: centers must be K x 2 (or undefined), got {}", shape_of(centers));
  check(extent > 0.0 && std::isfinite(extent),
        "write_scatter_png: extent must be positive and finite, got {}", extent);
  check(size >= 8 && size <= kMaxDimension, "write_scatter_png: size must be in [8, {}], got {}",
        kMaxDimension, size);

  // Pixel (row, col) for a point (x, y): x grows to the right, y grows upwards.
  const auto to_pixels = [&](const torch::Tensor& xy) {
    const torch::Tensor scaled =
        ((xy.detach().to(torch::kCPU, torch::kFloat64) + extent) / (2.0 * extent) * size).floor();
    const torch::Tensor col = scaled.select(1, 0);
    const torch::Tensor row = (size - 1) - scaled.select(1, 1);
    // Drops points outside the square, and NaN ones (every comparison with NaN is false).
    const torch::Tensor inside = (col >= 0) & (col < size) & (row >= 0) & (row < size);
    return std::make_pair(row.masked_select(inside).to(torch::kLong),
                          col.masked_select(inside).to(torch::kLong));
  };

  torch::Tensor image = torch::full({size, size, 3}, 255, torch::kUInt8);
  const auto [rows, cols] = to_pixels(points);
  image.index_put_({rows, cols}, torch::zeros({3}, torch::kUInt8));
  if (centers.defined() && centers.size(0) > 0) {
    const torch::Tensor red = torch::tensor({255, 0, 0}, torch::kUInt8);
    const auto [center_rows, center_cols] = to_pixels(centers);
    for (int64_t d = -kCrossArm; d <= kCrossArm; ++d) {
      image.index_put_({(center_rows + d).clamp(0, size - 1), center_cols}, red);
      image.index_put_({center_rows, (center_cols + d).clamp(0, size - 1)}, red);
    }
  }
  write_png(image, path);
}

}  // namespace fedgan::gan
