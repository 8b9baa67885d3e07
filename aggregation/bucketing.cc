// Bucketing (Karimireddy, He, Jaggi, "Byzantine-Robust Learning on Heterogeneous Datasets via
// Bucketing", 2022): the rows are shuffled, averaged in buckets of s consecutive shuffled rows (the
// last bucket holds the n mod s left over, when there are some) and the inner rule runs on the
// bucket means. The means are never stored for every column: the inner rule reads them through an
// UpdateMatrix whose blocks are computed from the updates' blocks as it visits them.

#include "aggregation/error.h"
#include "aggregation/rule_support.h"

#include <algorithm>
#include <random>
#include <utility>

namespace fedgan::aggregation::detail {
namespace {

// A uniform draw from [0, bound), bound > 0: draws below 2^64 mod bound are rejected, so every
// residue has the same number of draws mapping to it.
uint64_t uniform_below(std::mt19937_64& engine, uint64_t bound) {
  const uint64_t rejected = (0 - bound) % bound;  // 2^64 mod bound, in unsigned arithmetic
  while (true) {
    const uint64_t draw = engine();
    if (draw >= rejected) return draw % bound;
  }
}

// The bucket means of `updates`, one row per bucket. Each pass of for_each_block allocates one
// block of means (buckets * block_columns floats), so the view may be read from several threads.
class BucketMeans final : public UpdateMatrix {
 public:
  BucketMeans(const UpdateMatrix& updates, std::vector<std::vector<size_t>> buckets)
      : updates_(updates), buckets_(std::move(buckets)) {}

  size_t num_rows() const override { return buckets_.size(); }
  size_t num_columns() const override { return updates_.num_columns(); }
  size_t block_columns() const override { return updates_.block_columns(); }

  void for_each_block(const BlockVisitor& visit) const override {
    const size_t width = updates_.block_columns();
    std::vector<float> means(buckets_.size() * width);
    std::vector<const float*> rows(buckets_.size());
    std::vector<double> sums;
    updates_.for_each_block([&](size_t first, size_t length, const float* const* members) {
      for (size_t b = 0; b < buckets_.size(); ++b) {
        mean_of_rows(members, buckets_[b], length, sums, means.data() + b * width);
        rows[b] = means.data() + b * width;
      }
      visit(first, length, rows.data());
    });
  }

 private:
  const UpdateMatrix& updates_;
  std::vector<std::vector<size_t>> buckets_;
};

class BucketingRule final : public RobustRule {
 public:
  BucketingRule(const RobustRuleOptions& options, std::unique_ptr<RobustRule> inner)
      : options_(options), inner_(std::move(inner)) {}

  void set_center(const float* center, size_t num_columns) override {
    inner_->set_center(center, num_columns);
  }

  /// Each row gets its bucket's verdict: the same effect, and the bucket's weight split equally
  /// among the bucket's members (so a member of a smaller last bucket gets a larger part).
  std::vector<UpdateVerdict> aggregate(const UpdateMatrix& updates, uint64_t shuffle_seed,
                                       float* out) override {
    const size_t n = updates.num_rows();
    const size_t s = options_.bucket_size;
    const size_t needed = min_updates(options_);
    RobustRuleOptions plain = options_;
    plain.bucket_size = 0;
    check(n >= needed, "{} in buckets of {} needs at least {} updates ({}), got {} ({})",
          describe_rule(options_), s, needed, buckets_text(min_updates(plain)), n,
          buckets_text(n / s + (n % s != 0 ? 1 : 0)));

    const std::vector<size_t> order = shuffled_rows(n, shuffle_seed);
    std::vector<std::vector<size_t>> buckets;
    for (size_t begin = 0; begin < n; begin += s) {
      const size_t end = std::min(n, begin + s);
      buckets.emplace_back(order.begin() + begin, order.begin() + end);
    }
    const BucketMeans means(updates, buckets);
    const std::vector<UpdateVerdict> bucket_verdicts = inner_->aggregate(means, shuffle_seed, out);

    std::vector<UpdateVerdict> verdicts(n);
    for (size_t b = 0; b < buckets.size(); ++b) {
      const double size = static_cast<double>(buckets[b].size());
      for (size_t row : buckets[b]) {
        verdicts[row] = UpdateVerdict{bucket_verdicts[b].effect, bucket_verdicts[b].weight / size};
      }
    }
    return verdicts;
  }

 private:
  static std::string buckets_text(size_t count) {
    return fmt::format("{} bucket{}", count, count == 1 ? "" : "s");
  }

  RobustRuleOptions options_;
  std::unique_ptr<RobustRule> inner_;
};

}  // namespace

std::vector<size_t> shuffled_rows(size_t n, uint64_t seed) {
  std::vector<size_t> order = row_indices(n);
  std::mt19937_64 engine(seed);
  for (size_t i = n; i > 1; --i) {
    std::swap(order[i - 1], order[uniform_below(engine, i)]);
  }
  return order;
}

std::unique_ptr<RobustRule> make_bucketing_rule(const RobustRuleOptions& options,
                                                std::unique_ptr<RobustRule> inner) {
  return std::make_unique<BucketingRule>(options, std::move(inner));
}

}  // namespace fedgan::aggregation::detail
