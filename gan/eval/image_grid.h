#pragma once

#include <torch/types.h>

#include <string>

namespace fedgan::gan {

/// Writes images (N x C x H x W, C = 1 or 3, values in [-1, 1]) as one PNG grid with `columns`
/// tiles per row and `padding` pixels of gap. Layout (as torchvision's make_grid): c = min(columns,
/// N) tiles per row, r = ceil(N / c) rows, image c * (W + padding) + padding wide and
/// r * (H + padding) + padding high; tile i starts at row padding + (i / c) * (H + padding) and
/// column padding + (i % c) * (W + padding). Padding and empty slots are white; pixel values are
/// round((clamp(v, -1, 1) + 1) * 127.5), NaN as black; C = 1 gives a grayscale PNG, C = 3 an RGB
/// one. Missing parent directories are created. Written to a temporary file and renamed, so a
/// reader never sees half a PNG. Throws GanError on a bad shape or an I/O failure.
void write_image_grid(const torch::Tensor& images, const std::string& path, int64_t columns = 8,
                      int64_t padding = 2);

/// Renders 2-D points (N x 2) as a scatter image of `size` x `size` pixels over the square
/// [-extent, extent]^2 (x to the right, y upwards), with optional mode centers (K x 2, or an
/// undefined tensor) marked; written as an RGB PNG, atomically like write_image_grid. Points are
/// black pixels on white (points outside the square or not finite are left out), centers red
/// crosses. Throws GanError on a bad shape, extent or size, or an I/O failure.
void write_scatter_png(const torch::Tensor& points, const torch::Tensor& centers,
                       const std::string& path, double extent, int64_t size = 512);

}  // namespace fedgan::gan
