// Multi-Krum (Blanchard et al. 2017) and Bulyan (El Mhamdi et al. 2018). Both start from the
// squared distances between every two updates, accumulated in one pass over the blocks; the
// selection then works on that n * n matrix alone, and a second pass reads the selected rows.
//
// Krum's score of a row among r candidates is the sum of its squared distances to its r - f - 2
// nearest other candidates, added in ascending order. Ties between scores go to the row with the
// smaller sum of squared distances to all the other candidates, then to the lower row index. The
// second key settles the ties that the geometry makes systematic (with one nearest, two rows that
// are each other's nearest score the same) by the distances rather than by the rows' order, so the
// selection depends on the row order only for rows tied on both keys (identical rows, symmetric
// configurations).

#include "aggregation/error.h"
#include "aggregation/rule_support.h"

#include <algorithm>
#include <utility>

namespace fedgan::aggregation::detail {
namespace {

struct Scored {
  double score = 0.0;
  double total = 0.0;  // to every other candidate
  size_t row = 0;
};

bool operator<(const Scored& a, const Scored& b) {
  if (a.score != b.score) return a.score < b.score;
  if (a.total != b.total) return a.total < b.total;
  return a.row < b.row;
}

// The candidates ordered by Krum score, lowest first.
std::vector<Scored> krum_ranking(const std::vector<double>& distances, size_t n,
                                 const std::vector<size_t>& candidates, size_t nearest) {
  std::vector<Scored> ranking;
  ranking.reserve(candidates.size());
  for (size_t row : candidates) {
    ranking.push_back(Scored{krum_score(distances, n, row, candidates, nearest),
                             krum_score(distances, n, row, candidates, candidates.size()), row});
  }
  std::sort(ranking.begin(), ranking.end());
  return ranking;
}

std::vector<UpdateVerdict> excluded_verdicts(size_t n) {
  return std::vector<UpdateVerdict>(n, UpdateVerdict{UpdateEffect::kExcluded, 0.0});
}

class MultiKrumRule final : public StatelessRule {
 public:
  explicit MultiKrumRule(const RobustRuleOptions& options) : options_(options) {}

  /// The m lowest-scored rows (m = krum_selected, or n - f when 0) averaged: summed in double in
  /// ranking order (so the rows' order matters only through ties on both ranking keys), divided
  /// once. Verdicts: the selected rows kKept with weight 1 / m, the others kExcluded with 0.
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    const size_t f = options_.byzantine;
    check_row_count(options_, n, min_updates(options_));
    const size_t m = options_.krum_selected == 0 ? n - f : options_.krum_selected;
    check(m <= n, "{} averages krum_selected = {} updates, got only {}", describe_rule(options_), m,
          n);

    const std::vector<double> distances = pairwise_squared_distances(updates);
    const std::vector<Scored> ranking = krum_ranking(distances, n, row_indices(n), n - f - 2);
    std::vector<size_t> selected;
    for (size_t k = 0; k < m; ++k) selected.push_back(ranking[k].row);

    std::vector<double> sums;
    updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
      mean_of_rows(rows, selected, length, sums, out + first);
    });
    check_finite_result(options_, out, updates.num_columns());

    std::vector<UpdateVerdict> verdicts = excluded_verdicts(n);
    for (size_t row : selected) {
      verdicts[row] = UpdateVerdict{UpdateEffect::kKept, 1.0 / static_cast<double>(m)};
    }
    return verdicts;
  }

 private:
  RobustRuleOptions options_;
};

// Bulyan's coordinate stage on the sorted values of the selected rows: the beta values closest to
// their median (the middle value, or the mean of the two middle ones in double), averaged in
// double. Those values are a run of the sorted order; it is found by dropping, while the run is
// longer than beta, whichever end is farther from the median, the upper end on a tie (so of two
// equally close values the lower one is kept).
float closest_to_median_mean(const std::vector<ColumnEntry>& sorted, size_t beta,
                             KeptCredits& credits) {
  const size_t theta = sorted.size();
  const size_t mid = theta / 2;
  const double median =
      theta % 2 == 1
          ? static_cast<double>(sorted[mid].value)
          : (static_cast<double>(sorted[mid - 1].value) + static_cast<double>(sorted[mid].value)) /
                2.0;
  size_t begin = 0;
  size_t end = theta;
  while (end - begin > beta) {
    const double below = median - static_cast<double>(sorted[begin].value);
    const double above = static_cast<double>(sorted[end - 1].value) - median;
    if (below > above) {
      ++begin;
    } else {
      --end;
    }
  }
  double sum = 0.0;
  for (size_t k = begin; k < end; ++k) sum += sorted[k].value;
  credits.credit_sorted(sorted, begin, end);
  return static_cast<float>(sum / static_cast<double>(beta));
}

class BulyanRule final : public StatelessRule {
 public:
  explicit BulyanRule(const RobustRuleOptions& options) : options_(options) {}

  /// theta = n - 2f rows selected by repeated Krum, then per coordinate the mean of the
  /// beta = theta - 2f values closest to the selected rows' median. Verdicts: rows not selected
  /// kExcluded with weight 0; a selected row's weight is (coordinates where its value was among
  /// the beta) / (d * beta), kDownWeighted below 1 / theta (its share of the selection).
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    check_row_count(options_, n, min_updates(options_));
    const size_t theta = n - 2 * options_.byzantine;
    const size_t beta = theta - 2 * options_.byzantine;
    const std::vector<size_t> selected = select(pairwise_squared_distances(updates), n, theta);

    KeptCredits credits(n);
    std::vector<ColumnEntry> entries;
    updates.for_each_block([&](size_t first, size_t length, const float* const* rows) {
      for (size_t j = 0; j < length; ++j) {
        gather_column(rows, selected, first, j, entries);
        std::sort(entries.begin(), entries.end());
        out[first + j] = closest_to_median_mean(entries, beta, credits);
      }
    });
    check_finite_result(options_, out, updates.num_columns());

    const std::vector<UpdateVerdict> shares =
        credits.verdicts(updates.num_columns(), beta, 1.0 / static_cast<double>(theta));
    std::vector<UpdateVerdict> verdicts = excluded_verdicts(n);
    for (size_t row : selected) verdicts[row] = shares[row];
    return verdicts;
  }

 private:
  // Picks theta rows one at a time, each the best-ranked by Krum among the rows left (r of them),
  // scored on its r - f - 2 nearest. n >= 4f + 3 leaves r >= 2f + 1 at the last pick, so for
  // f <= 1 the last picks have r - f - 2 <= 0: every score is 0 and the tie-break (the sum of the
  // distances to all the others) decides.
  std::vector<size_t> select(const std::vector<double>& distances, size_t n, size_t theta) const {
    const size_t f = options_.byzantine;
    std::vector<size_t> remaining = row_indices(n);
    std::vector<size_t> selected;
    while (selected.size() < theta) {
      const size_t r = remaining.size();
      const size_t nearest = r >= f + 2 ? r - f - 2 : 0;
      const size_t best = krum_ranking(distances, n, remaining, nearest).front().row;
      selected.push_back(best);
      remaining.erase(std::find(remaining.begin(), remaining.end(), best));
    }
    return selected;
  }

  RobustRuleOptions options_;
};

}  // namespace

std::unique_ptr<RobustRule> make_multi_krum_rule(const RobustRuleOptions& options) {
  return std::make_unique<MultiKrumRule>(options);
}

std::unique_ptr<RobustRule> make_bulyan_rule(const RobustRuleOptions& options) {
  return std::make_unique<BulyanRule>(options);
}

}  // namespace fedgan::aggregation::detail
