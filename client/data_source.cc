#include "client/data_source.h"

#include "client/error.h"
#include "gan/data/idx.h"
#include "gan/data/mixtures.h"
#include "gan/data/partition.h"
#include "gan/error.h"

#include <png.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

// The longest CSV field we read: a float written with every digit and an exponent is under 32
// characters; anything much longer is not a number we want.
constexpr size_t kMaxCsvFieldBytes = 64;

template <typename F>
auto wrap_gan_errors(std::string_view what, F&& load) {
  try {
    return load();
  } catch (const gan::GanError& error) {
    throw ClientError(fmt::format("{}: {}", what, error.what()));
  }
}

// Pixels of N images (uint8, N x H x W contiguous) as float32 N x 1 x H x W in [-1, 1].
torch::Tensor scale_pixels(const uint8_t* pixels, int64_t n, int64_t height, int64_t width) {
  return torch::from_blob(const_cast<uint8_t*>(pixels), {n, 1, height, width}, torch::kUInt8)
      .to(torch::kFloat32)
      .div_(127.5)
      .sub_(1.0);
}

// ---------------------------------------------------------------------------------------------
// PNG.

// libpng's simplified reader; png_image_free releases whatever begin_read allocated, on every path.
struct PngImage {
  png_image image;
  PngImage() {
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
  }
  ~PngImage() { png_image_free(&image); }
  PngImage(const PngImage&) = delete;
  PngImage& operator=(const PngImage&) = delete;
};

std::vector<fs::path> png_files(const fs::path& directory) {
  std::error_code error;
  check(fs::is_directory(directory, error), "data.directory {} is not a directory",
        directory.string());
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    std::string extension = entry.path().extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (extension == ".png" && entry.is_regular_file()) files.push_back(entry.path());
  }
  check(!error, "cannot list data.directory {}: {}", directory.string(), error.message());
  std::sort(files.begin(), files.end());
  return files;
}

// Decodes one PNG as 8-bit grayscale into `out` (height * width bytes), checking its size
// against the first image's (or, for the first, against the bounds).
void read_png(const fs::path& file, const DataOptions& limits, int64_t& width, int64_t& height,
              std::vector<uint8_t>& out) {
  PngImage png;
  check(png_image_begin_read_from_file(&png.image, file.c_str()) != 0, "{}: not a readable PNG: {}",
        file.string(), png.image.message);
  const int64_t w = png.image.width;
  const int64_t h = png.image.height;
  if (width == 0) {
    check(w >= 1 && h >= 1 && w <= limits.max_image_side && h <= limits.max_image_side,
          "{}: {}x{} pixels; images may be at most data.max_image_side = {} pixels on a side",
          file.string(), w, h, limits.max_image_side);
    width = w;
    height = h;
  }
  check(w == width && h == height,
        "{}: {}x{} pixels, but the first image is {}x{}: every image must have the same size",
        file.string(), w, h, width, height);
  png.image.format = PNG_FORMAT_GRAY;
  // Zeroed: with no background color, alpha is composited onto the buffer, that is onto black.
  out.assign(PNG_IMAGE_SIZE(png.image), 0);
  check(png_image_finish_read(&png.image, nullptr, out.data(), 0, nullptr) != 0,
        "{}: cannot decode: {}", file.string(), png.image.message);
}

// ---------------------------------------------------------------------------------------------
// CSV.

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

float parse_field(std::string_view field, const fs::path& file, int64_t line, size_t column) {
  const std::string_view text = trim(field);
  check(!text.empty(), "{}:{}: column {} is empty", file.string(), line, column);
  check(text.size() <= kMaxCsvFieldBytes, "{}:{}: column {} is not a number (too long)",
        file.string(), line, column);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool whole = error == std::errc() && end == text.data() + text.size();
  check(whole || error == std::errc::result_out_of_range, "{}:{}: column {} is '{}', not a number",
        file.string(), line, column, printable(text));
  check(whole && std::isfinite(value), "{}:{}: column {} is '{}', which is not a finite number",
        file.string(), line, column, printable(text));
  check(std::fabs(value) <= std::numeric_limits<float>::max(),
        "{}:{}: column {} is {}, beyond the float32 range", file.string(), line, column,
        printable(text));
  return static_cast<float>(value);
}

// Appends the values of one CSV line to `values`; returns how many there were.
size_t parse_csv_line(std::string_view line, const fs::path& file, int64_t line_number,
                      const DataOptions& limits, std::vector<float>& values) {
  size_t columns = 0;
  size_t begin = 0;
  while (true) {
    const size_t comma = line.find(',', begin);
    const std::string_view field = line.substr(
        begin, comma == std::string_view::npos ? std::string_view::npos : comma - begin);
    ++columns;
    check(columns <= static_cast<size_t>(limits.max_columns),
          "{}:{}: more than data.max_columns = {} columns", file.string(), line_number,
          limits.max_columns);
    values.push_back(parse_field(field, file, line_number, columns));
    if (comma == std::string_view::npos) return columns;
    begin = comma + 1;
  }
}

}  // namespace

LoadedData load_idx(const fs::path& images, const fs::path& labels, const DataOptions& limits) {
  gan::IdxLimits idx_limits;
  idx_limits.max_dims = 3;
  const auto image_array =
      wrap_gan_errors("data.images", [&] { return gan::read_idx(images.string(), idx_limits); });
  check(image_array.type == gan::IdxType::kUint8 && image_array.dims.size() == 3,
        "{}: expected a 3-D uint8 IDX array (N x H x W), got {} dimensions of type code 0x{:02x}",
        images.string(), image_array.dims.size(), static_cast<int>(image_array.type));
  const int64_t n = image_array.dims[0];
  const int64_t height = image_array.dims[1];
  const int64_t width = image_array.dims[2];
  check(n >= 1 && n <= limits.max_samples,
        "{}: {} images; there must be 1 to data.max_samples = {}", images.string(), n,
        limits.max_samples);
  check(height >= 1 && width >= 1 && height <= limits.max_image_side &&
            width <= limits.max_image_side,
        "{}: images of {}x{} pixels; at most data.max_image_side = {} on a side", images.string(),
        width, height, limits.max_image_side);
  LoadedData data;
  data.rows = scale_pixels(image_array.bytes.data(), n, height, width);
  data.images = true;
  data.description = fmt::format("{} images {}x{} from {}", n, width, height, images.string());
  if (labels.empty()) return data;

  const auto label_array =
      wrap_gan_errors("data.labels", [&] { return gan::read_idx(labels.string(), idx_limits); });
  check(label_array.type == gan::IdxType::kUint8 && label_array.dims.size() == 1,
        "{}: expected a 1-D uint8 IDX array, got {} dimensions of type code 0x{:02x}",
        labels.string(), label_array.dims.size(), static_cast<int>(label_array.type));
  check(label_array.dims[0] == n, "{}: {} labels for {} images in {}; the two files do not match",
        labels.string(), label_array.dims[0], n, images.string());
  data.labels = torch::from_blob(const_cast<uint8_t*>(label_array.bytes.data()), {n}, torch::kUInt8)
                    .to(torch::kInt64);
  data.num_classes = 1 + *std::max_element(label_array.bytes.begin(), label_array.bytes.end());
  return data;
}

LoadedData load_png_directory(const fs::path& directory, const DataOptions& limits) {
  const auto files = png_files(directory);
  check(!files.empty(), "data.directory {} holds no .png files", directory.string());
  check(static_cast<int64_t>(files.size()) <= limits.max_samples,
        "data.directory {} holds {} PNG files; at most data.max_samples = {} are loaded",
        directory.string(), files.size(), limits.max_samples);
  int64_t width = 0, height = 0;
  std::vector<uint8_t> image;
  std::vector<uint8_t> pixels;
  for (const auto& file : files) {
    read_png(file, limits, width, height, image);
    if (pixels.empty()) pixels.reserve(files.size() * image.size());
    pixels.insert(pixels.end(), image.begin(), image.end());
  }
  const auto n = static_cast<int64_t>(files.size());
  LoadedData data;
  data.rows = scale_pixels(pixels.data(), n, height, width);
  data.images = true;
  data.description = fmt::format("{} images {}x{} from {}", n, width, height, directory.string());
  return data;
}

LoadedData load_csv(const fs::path& file, bool header, const DataOptions& limits) {
  std::error_code error;
  check(fs::is_regular_file(file, error), "data.csv {} is not a readable file", file.string());
  std::ifstream in(file, std::ios::binary);
  check(in.is_open(), "cannot open data.csv {}", file.string());
  // Lines longer than the longest valid row are refused before they are held whole.
  const size_t max_line = static_cast<size_t>(limits.max_columns) * (kMaxCsvFieldBytes + 8) + 2;
  std::vector<char> buffer(max_line + 1);
  std::vector<float> values;
  size_t columns = 0;
  int64_t rows = 0, line_number = 0, first_row_line = 0;
  while (true) {
    in.getline(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto extracted = static_cast<size_t>(in.gcount());
    if (extracted == 0 && in.fail()) break;  // end of the file (or a read error, checked below)
    ++line_number;
    check(!in.fail(), "{}:{}: line longer than {} bytes (more than data.max_columns columns?)",
          file.string(), line_number, max_line);
    // The newline was extracted too unless the file ended; a NUL byte stays part of the line.
    const bool delimited = !in.eof();
    const std::string_view line(buffer.data(), extracted - (delimited ? 1 : 0));
    const bool skip = (header && line_number == 1) || trim(line).empty();
    if (!skip) {
      check(rows < limits.max_samples, "{}:{}: more than data.max_samples = {} rows", file.string(),
            line_number, limits.max_samples);
      const size_t found = parse_csv_line(line, file, line_number, limits, values);
      if (rows == 0) {
        columns = found;
        first_row_line = line_number;
      }
      check(found == columns,
            "{}:{}: {} columns, but line {} has {}: every row must have the same number",
            file.string(), line_number, found, first_row_line, columns);
      ++rows;
    }
    if (!delimited) break;
  }
  check(!in.bad(), "cannot read data.csv {}", file.string());
  check(rows > 0, "data.csv {} holds no data rows", file.string());
  LoadedData data;
  data.rows =
      torch::from_blob(values.data(), {rows, static_cast<int64_t>(columns)}, torch::kFloat32)
          .clone();
  data.description = fmt::format("{} rows of {} values from {}", rows, columns, file.string());
  return data;
}

void keep_partition(LoadedData& data, const std::string& spec, int64_t clients,
                    int64_t client_index, uint64_t seed) {
  check(client_index >= 0 && client_index < clients,
        "data.client_index {} is outside [0, {}) (data.clients)", client_index, clients);
  const int64_t n = data.rows.size(0);
  std::vector<int64_t> labels(static_cast<size_t>(n), 0);
  int64_t num_classes = 1;
  if (data.labels.defined()) {
    const auto contiguous = data.labels.contiguous();
    labels.assign(contiguous.data_ptr<int64_t>(), contiguous.data_ptr<int64_t>() + n);
    num_classes = data.num_classes;
  } else {
    check(spec == "iid", "data.partition {} splits by label, but this data has none", spec);
  }
  const auto parts = wrap_gan_errors("data.partition", [&] {
    return gan::partition_by_spec(spec, labels, static_cast<int>(num_classes),
                                  static_cast<int>(clients), seed);
  });
  const auto& mine = parts[static_cast<size_t>(client_index)];
  check(!mine.empty(), "data.partition {} leaves client {} of {} without data", spec, client_index,
        clients);
  const auto index = torch::tensor(mine, torch::kLong);
  data.rows = data.rows.index_select(0, index);
  if (data.labels.defined()) data.labels = data.labels.index_select(0, index);
  data.description += fmt::format(", partition {}: client {} of {} keeps {} of {} rows", spec,
                                  client_index, clients, mine.size(), n);
}

namespace {

// data.format = "mixture": samples of the named 2-D mixture.
LoadedData load_mixture(const DataOptions& options) {
  check(options.mixture_rows >= 1 && options.mixture_rows <= options.max_samples,
        "data.mixture_rows is {}: it must be in [1, data.max_samples = {}]", options.mixture_rows,
        options.max_samples);
  const std::string name(config::enum_name(options.mixture));
  const auto mixture = wrap_gan_errors("data.mixture", [&] { return gan::mixture_by_name(name); });
  auto samples = gan::sample_mixture(mixture, options.mixture_rows, options.seed);
  LoadedData data;
  data.rows = samples.points;
  data.labels = samples.modes;
  data.num_classes = mixture.num_modes();
  data.description = fmt::format("{} points of the {} mixture (seed {})", options.mixture_rows,
                                 name, options.seed);
  return data;
}

}  // namespace

LoadedData load_data(const DataOptions& options) {
  LoadedData data;
  switch (options.format) {
    case DataFormat::kIdx:
      data = load_idx(options.images, options.labels, options);
      break;
    case DataFormat::kPngDir:
      data = load_png_directory(options.directory, options);
      break;
    case DataFormat::kCsv:
      data = load_csv(options.csv, options.csv_header, options);
      break;
    case DataFormat::kMixture:
      data = load_mixture(options);
      break;
    case DataFormat::kUnset:
      throw ClientError("data.format is empty: choose idx, png-dir, csv or mixture");
  }
  if (!options.partition.empty()) {
    keep_partition(data, options.partition, options.clients, options.client_index, options.seed);
  }
  return data;
}

}  // namespace fedgan::client
