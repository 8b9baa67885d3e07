#include "gan/data/partition.h"

#include "gan/error.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace fedgan::gan {
namespace {

constexpr int kClasses = 10;
constexpr int64_t kRows = 1000;

/// 1000 labels, 100 per class, interleaved so that rows of a class are not contiguous.
std::vector<int64_t> balanced_labels() {
  std::vector<int64_t> labels(kRows);
  for (int64_t i = 0; i < kRows; ++i) labels[i] = (i * 7) % kClasses;
  return labels;
}

/// Every list strictly ascending, lists disjoint, union exactly 0..num_rows-1.
void expect_valid(const Partition& p, int num_clients, int64_t num_rows) {
  ASSERT_EQ(static_cast<int>(p.size()), num_clients);
  std::vector<int> seen(num_rows, 0);
  for (const auto& rows : p) {
    EXPECT_TRUE(std::is_sorted(rows.begin(), rows.end()));
    for (int64_t r : rows) {
      ASSERT_GE(r, 0);
      ASSERT_LT(r, num_rows);
      ++seen[r];
    }
  }
  for (int64_t r = 0; r < num_rows; ++r) ASSERT_EQ(seen[r], 1) << "row " << r;
}

std::set<int64_t> classes_of(const std::vector<int64_t>& rows, const std::vector<int64_t>& labels) {
  std::set<int64_t> out;
  for (int64_t r : rows) out.insert(labels[r]);
  return out;
}

/// Mean over clients of the share of a client's rows in its most common class.
double mean_largest_class_share(const Partition& p, const std::vector<int64_t>& labels) {
  double total = 0;
  for (const auto& rows : p) {
    std::vector<int64_t> counts(kClasses, 0);
    for (int64_t r : rows) ++counts[labels[r]];
    total += static_cast<double>(*std::max_element(counts.begin(), counts.end())) / rows.size();
  }
  return total / p.size();
}

template <typename Fn>
void expect_error(Fn&& fn, const std::string& phrase) {
  try {
    fn();
    ADD_FAILURE() << "expected GanError containing '" << phrase << "'";
  } catch (const GanError& e) {
    EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
  }
}

class PartitionTest : public ::testing::TestWithParam<int> {
 protected:
  int clients() const { return GetParam(); }
  // The smallest K (at least 2) that lets the clients cover every class.
  int classes_per_client() const { return std::max(2, (kClasses + clients() - 1) / clients()); }
  std::vector<int64_t> labels_ = balanced_labels();
};

TEST_P(PartitionTest, IidIsValidBalancedAndSeeded) {
  const Partition p = partition_iid(kRows, clients(), 1);
  expect_valid(p, clients(), kRows);
  for (const auto& rows : p) {
    EXPECT_GE(static_cast<int64_t>(rows.size()), kRows / clients());
    EXPECT_LE(static_cast<int64_t>(rows.size()), (kRows + clients() - 1) / clients());
  }
  EXPECT_EQ(partition_iid(kRows, clients(), 1), p);
  EXPECT_NE(partition_iid(kRows, clients(), 2), p);
}

TEST_P(PartitionTest, ClassesGivesEachClientExactlyKClasses) {
  const int k = classes_per_client();
  const Partition p = partition_by_classes(labels_, kClasses, clients(), k, 1);
  expect_valid(p, clients(), kRows);
  std::set<int64_t> covered;
  for (const auto& rows : p) {
    const auto held = classes_of(rows, labels_);
    EXPECT_EQ(static_cast<int>(held.size()), k);
    covered.insert(held.begin(), held.end());
  }
  EXPECT_EQ(static_cast<int>(covered.size()), kClasses);
  EXPECT_EQ(partition_by_classes(labels_, kClasses, clients(), k, 1), p);
  EXPECT_NE(partition_by_classes(labels_, kClasses, clients(), k, 2), p);
}

TEST_P(PartitionTest, DirichletIsValidAndSeeded) {
  const Partition p = partition_dirichlet(labels_, kClasses, clients(), 0.5, 1);
  expect_valid(p, clients(), kRows);
  for (const auto& rows : p) EXPECT_GE(rows.size(), 1u);
  EXPECT_EQ(partition_dirichlet(labels_, kClasses, clients(), 0.5, 1), p);
  EXPECT_NE(partition_dirichlet(labels_, kClasses, clients(), 0.5, 2), p);
}

INSTANTIATE_TEST_SUITE_P(ClientCounts, PartitionTest, ::testing::Values(2, 3, 5, 10, 20),
                         ::testing::PrintToStringParamName());

TEST(Partition, IidSingleClientHoldsEverything) {
  const Partition p = partition_iid(10, 1, 3);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(Partition, IidRejectsMoreClientsThanRows) {
  expect_error([] { partition_iid(3, 4, 1); }, "3 rows cannot give each of 4 clients");
  expect_error([] { partition_iid(3, 0, 1); }, "number of clients 0");
}

TEST(Partition, ClassesRejectsUncoverableSetups) {
  const auto labels = balanced_labels();
  expect_error([&] { partition_by_classes(labels, kClasses, 4, 2, 1); },
               "4 clients hold at most 8 classes, fewer than the 10 classes");
  expect_error([&] { partition_by_classes(labels, kClasses, 4, 11, 1); },
               "between 1 and the number of classes 10");
  expect_error([&] { partition_by_classes(labels, kClasses, 4, 0, 1); },
               "between 1 and the number of classes 10");
  std::vector<int64_t> bad = labels;
  bad[17] = 10;
  expect_error([&] { partition_by_classes(bad, kClasses, 5, 2, 1); },
               "label 10 of row 17 is outside [0, 10)");
  bad[17] = -1;
  expect_error([&] { partition_dirichlet(bad, kClasses, 5, 1.0, 1); },
               "label -1 of row 17 is outside [0, 10)");
}

TEST(Partition, ClassesRejectsClientsWithoutRows) {
  // Two rows of one class cannot feed three holders.
  expect_error([] { partition_by_classes({0, 0}, 1, 3, 1, 1); }, "received no rows");
}

TEST(Partition, DirichletSkewFollowsAlpha) {
  const auto labels = balanced_labels();
  double skewed = 0;
  double uniform = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    skewed +=
        mean_largest_class_share(partition_dirichlet(labels, kClasses, 10, 0.1, seed), labels);
    uniform +=
        mean_largest_class_share(partition_dirichlet(labels, kClasses, 10, 100, seed), labels);
  }
  EXPECT_GT(skewed / 5, 0.5);
  EXPECT_LT(uniform / 5, 0.2);
}

TEST(Partition, DirichletHonoursMinRows) {
  const auto labels = balanced_labels();
  const Partition p = partition_dirichlet(labels, kClasses, 10, 0.3, 4, 60);
  expect_valid(p, 10, kRows);
  for (const auto& rows : p) EXPECT_GE(rows.size(), 60u);
}

TEST(Partition, DirichletGivesUpAfterBoundedAttempts) {
  const auto labels = balanced_labels();
  // 99 of 100 possible rows per client is essentially never drawn with alpha 0.1.
  expect_error([&] { partition_dirichlet(labels, kClasses, 10, 0.1, 1, 99); },
               "after 100 draws some client of 10 still had fewer than 99 rows");
  expect_error([&] { partition_dirichlet(labels, kClasses, 10, 0.1, 1, 101); },
               "1000 rows cannot give each of 10 clients 101 rows");
  expect_error([&] { partition_dirichlet(labels, kClasses, 10, 0.0, 1); },
               "alpha must be positive");
}

TEST(Partition, SpecSelectsThePartitioner) {
  const auto labels = balanced_labels();
  EXPECT_EQ(partition_by_spec("iid", labels, kClasses, 7, 3), partition_iid(kRows, 7, 3));
  EXPECT_EQ(partition_by_spec("classes:3", labels, kClasses, 7, 3),
            partition_by_classes(labels, kClasses, 7, 3, 3));
  EXPECT_EQ(partition_by_spec("dirichlet:0.5", labels, kClasses, 7, 3),
            partition_dirichlet(labels, kClasses, 7, 0.5, 3));
  EXPECT_EQ(partition_by_spec("dirichlet:1e-1", labels, kClasses, 7, 3),
            partition_dirichlet(labels, kClasses, 7, 0.1, 3));
}

TEST(Partition, SpecRejectsMalformedStrings) {
  const auto labels = balanced_labels();
  auto parse = [&](const std::string& spec) {
    return [&labels, spec] { partition_by_spec(spec, labels, kClasses, 5, 1); };
  };
  for (const std::string spec : {"", "IID", "iid:2", "shards", "classes", "dirichlet"}) {
    SCOPED_TRACE(spec);
    expect_error(parse(spec), "unknown partition spec '" + spec + "'");
  }
  for (const std::string spec : {"classes:", "classes:0", "classes:-2", "classes:x", "classes:2x",
                                 "classes: 2", "classes:99999999999"}) {
    SCOPED_TRACE(spec);
    expect_error(parse(spec), "K must be a positive integer");
  }
  for (const std::string spec : {"dirichlet:", "dirichlet:0", "dirichlet:-1", "dirichlet:abc",
                                 "dirichlet:0.5x", "dirichlet:inf", "dirichlet:nan"}) {
    SCOPED_TRACE(spec);
    expect_error(parse(spec), "ALPHA must be a positive number");
  }
  // A well-formed K that cannot cover the classes is reported by the partitioner.
  expect_error(parse("classes:1"), "fewer than the 10 classes");
}

}  // namespace
}  // namespace fedgan::gan
