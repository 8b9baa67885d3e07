#include "aggregation/rule_support.h"

#include "aggregation/error.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace fedgan::aggregation::detail {
namespace {

// The lane arithmetic of LaneSum for either type of `b`: the head up to the next column that is a
// multiple of kLanes and the tail one column at a time, the body kLanes columns at a time with the
// lanes in locals (so the compiler keeps them in one vector register).
template <typename B>
void add_squares(std::array<double, LaneSum::kLanes>& lanes, const float* a, const B* b,
                 size_t first, size_t length) {
  constexpr size_t kLanes = LaneSum::kLanes;
  size_t j = 0;
  for (; j < length && (first + j) % kLanes != 0; ++j) {
    const double difference = static_cast<double>(a[j]) - static_cast<double>(b[j]);
    lanes[(first + j) % kLanes] += difference * difference;
  }
  double sums[kLanes] = {lanes[0], lanes[1], lanes[2], lanes[3]};
  for (; j + kLanes <= length; j += kLanes) {
    for (size_t lane = 0; lane < kLanes; ++lane) {
      const double difference = static_cast<double>(a[j + lane]) - static_cast<double>(b[j + lane]);
      sums[lane] += difference * difference;
    }
  }
  for (size_t lane = 0; lane < kLanes; ++lane) lanes[lane] = sums[lane];
  for (; j < length; ++j) {
    const double difference = static_cast<double>(a[j]) - static_cast<double>(b[j]);
    lanes[(first + j) % kLanes] += difference * difference;
  }
}

}  // namespace

std::vector<size_t> row_indices(size_t n) {
  std::vector<size_t> rows(n);
  std::iota(rows.begin(), rows.end(), size_t{0});
  return rows;
}

std::string describe_rule(const RobustRuleOptions& options) {
  switch (options.kind) {
    case RuleKind::kMedian:
      return "the coordinate-wise median";
    case RuleKind::kTrimmedMean:
      return fmt::format("the trimmed mean with beta = {}", options.trim_beta);
    case RuleKind::kMultiKrum:
      return fmt::format("Multi-Krum with f = {}", options.byzantine);
    case RuleKind::kBulyan:
      return fmt::format("Bulyan with f = {}", options.byzantine);
    case RuleKind::kGeometricMedian:
      return "the geometric median";
    case RuleKind::kCenteredClipping:
      return "centered clipping";
  }
  return "an unknown rule";
}

void check_row_count(const RobustRuleOptions& options, size_t count, size_t needed) {
  check(count >= needed, "{} needs at least {} update{}, got {}", describe_rule(options), needed,
        needed == 1 ? "" : "s", count);
}

void check_finite_result(const RobustRuleOptions& options, const float* out, size_t size) {
  bool bad = false;
  for (size_t c = 0; c < size; ++c) bad |= !std::isfinite(out[c]);
  if (!bad) return;
  size_t c = 0;
  while (std::isfinite(out[c])) ++c;
  throw AggregationError(
      fmt::format("{} is not finite in float at column {}: {}", describe_rule(options), c, out[c]));
}

KeptCredits::KeptCredits(size_t num_rows)
    : whole_(num_rows, 0), parts_(num_rows, 0.0), compensation_(num_rows, 0.0) {}

void KeptCredits::add(size_t row, size_t kept, size_t among) {
  if (kept == among) {
    ++whole_[row];
    return;
  }
  const double part = static_cast<double>(kept) / static_cast<double>(among);
  const double sum = parts_[row] + part;
  compensation_[row] +=
      std::fabs(parts_[row]) >= part ? (parts_[row] - sum) + part : (part - sum) + parts_[row];
  parts_[row] = sum;
}

void KeptCredits::credit_sorted(const std::vector<ColumnEntry>& sorted, size_t begin, size_t end) {
  size_t k = begin;
  while (k < end) {
    // The run of entries equal to sorted[k]; only the first run can start before `begin`.
    const float value = sorted[k].value;
    size_t run_begin = k;
    while (run_begin > 0 && sorted[run_begin - 1].value == value) --run_begin;
    size_t run_end = k + 1;
    while (run_end < sorted.size() && sorted[run_end].value == value) ++run_end;
    const size_t kept = std::min(run_end, end) - k;
    for (size_t r = run_begin; r < run_end; ++r) add(sorted[r].row, kept, run_end - run_begin);
    k = std::min(run_end, end);
  }
}

void KeptCredits::credit_value(const std::vector<ColumnEntry>& entries, float value, size_t kept) {
  size_t among = 0;
  for (const ColumnEntry& entry : entries) among += entry.value == value ? 1 : 0;
  for (const ColumnEntry& entry : entries) {
    if (entry.value == value) add(entry.row, kept, among);
  }
}

std::vector<UpdateVerdict> KeptCredits::verdicts(size_t columns, size_t kept, double share) const {
  std::vector<UpdateVerdict> verdicts(whole_.size());
  const double total = static_cast<double>(columns) * static_cast<double>(kept);
  for (size_t i = 0; i < whole_.size(); ++i) {
    const double credited = static_cast<double>(whole_[i]) + (parts_[i] + compensation_[i]);
    const double weight = columns == 0 ? share : credited / total;
    verdicts[i].weight = weight;
    verdicts[i].effect =
        weight < share * (1.0 - kShareSlack) ? UpdateEffect::kDownWeighted : UpdateEffect::kKept;
  }
  return verdicts;
}

void gather_column(const float* const* rows, const std::vector<size_t>& members, size_t first,
                   size_t column, std::vector<ColumnEntry>& entries) {
  entries.resize(members.size());
  bool finite = true;
  for (size_t k = 0; k < members.size(); ++k) {
    const float value = rows[members[k]][column];
    entries[k] = ColumnEntry{value, members[k]};
    finite &= std::isfinite(value);
  }
  if (finite) return;
  size_t k = 0;
  while (std::isfinite(entries[k].value)) ++k;
  throw AggregationError(fmt::format("update {} holds a non-finite value at column {}: {}",
                                     entries[k].row, first + column, entries[k].value));
}

void mean_of_rows(const float* const* rows, const std::vector<size_t>& members, size_t length,
                  std::vector<double>& sums, float* out) {
  sums.assign(length, 0.0);
  double* sum = sums.data();
  for (size_t member : members) {
    const float* row = rows[member];
    for (size_t j = 0; j < length; ++j) sum[j] += static_cast<double>(row[j]);
  }
  const double count = static_cast<double>(members.size());
  for (size_t j = 0; j < length; ++j) out[j] = static_cast<float>(sum[j] / count);
}

void LaneSum::add_squared_differences(const float* a, const float* b, size_t first, size_t length) {
  add_squares(lanes_, a, b, first, length);
}

void LaneSum::add_squared_differences(const float* a, const double* b, size_t first,
                                      size_t length) {
  add_squares(lanes_, a, b, first, length);
}

std::vector<double> distances_to(const RobustRuleOptions& options, const UpdateMatrix& updates,
                                 const std::vector<double>& point) {
  std::vector<LaneSum> sums(updates.num_rows());
  updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
    for (size_t i = 0; i < sums.size(); ++i) {
      sums[i].add_squared_differences(rows[i], point.data() + first, first, length);
    }
  });
  std::vector<double> distances(sums.size());
  for (size_t i = 0; i < sums.size(); ++i) {
    distances[i] = std::sqrt(sums[i].total());
    check(std::isfinite(distances[i]),
          "{}: the distance from update {} to the current estimate is {}: the update holds a NaN "
          "or an infinity",
          describe_rule(options), i, distances[i]);
  }
  return distances;
}

std::vector<double> pairwise_squared_distances(const UpdateMatrix& updates) {
  const size_t n = updates.num_rows();
  // Pair (i, j), i < j, at i * n + j: n * n lanes, half unused, for plain indexing.
  std::vector<LaneSum> sums(n * n);
  // Every pair reads a tile of both rows: tiles of 2,048 columns (8 KiB a row) keep the n rows'
  // tiles in the L2 cache for the n^2 / 2 pairs, where whole 256 KiB blocks came from memory. A
  // tile starts at a multiple of the lane count, so each lane adds the same values in the same
  // order as without tiles: the sums are bit for bit the same.
  constexpr size_t kTileColumns = 2048;
  static_assert(kTileColumns % LaneSum::kLanes == 0);
  updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
    for (size_t tile = 0; tile < length; tile += kTileColumns) {
      const size_t width = std::min(kTileColumns, length - tile);
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = i + 1; j < n; ++j) {
          sums[i * n + j].add_squared_differences(rows[i] + tile, rows[j] + tile, first + tile,
                                                  width);
        }
      }
    }
  });
  std::vector<double> distances(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const double distance = sums[i * n + j].total();
      // The square of a difference of finite floats is below 2^257: only a non-finite value in a
      // row makes a distance non-finite.
      check(std::isfinite(distance),
            "the squared distance between updates {} and {} is {}: one of them holds a NaN or an "
            "infinity",
            i, j, distance);
      distances[i * n + j] = distance;
      distances[j * n + i] = distance;
    }
  }
  return distances;
}

double krum_score(const std::vector<double>& distances, size_t n, size_t row,
                  const std::vector<size_t>& candidates, size_t nearest) {
  std::vector<double> others;
  others.reserve(candidates.size());
  for (size_t other : candidates) {
    if (other != row) others.push_back(distances[row * n + other]);
  }
  nearest = std::min(nearest, others.size());
  std::partial_sort(others.begin(), others.begin() + nearest, others.end());
  double score = 0.0;
  for (size_t k = 0; k < nearest; ++k) score += others[k];
  return score;
}

}  // namespace fedgan::aggregation::detail
