#pragma once

#include <torch/types.h>

#include <string>

namespace fedgan::gan {

/// Writes images (N x C x H x W, C = 1 or 3, values in [-1, 1]) as one PNG grid with `columns`
/// tiles per row and `padding` pixels of gap. Written to a temporary file and renamed, so a reader
/// never sees half a PNG. Throws GanError on a bad shape or an I/O failure.
void write_image_grid(const torch::Tensor& images, const std::string& path, int64_t columns = 8,
                      int64_t padding = 2);

/// Renders 2-D points (N x 2) as a scatter image of `size` x `size` pixels over the square
/// [-extent, extent]^2, with optional mode centers (K x 2) marked; written as PNG.
void write_scatter_png(const torch::Tensor& points, const torch::Tensor& centers,
                       const std::string& path, double extent, int64_t size = 512);

}  // namespace fedgan::gan
