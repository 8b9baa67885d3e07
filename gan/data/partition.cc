#include "gan/data/partition.h"

#include "gan/error.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <random>

namespace fedgan::gan {
namespace {

// Dirichlet draws are repeated at most this many times (continuing one seeded stream, so the
// outcome is still a pure function of the seed) before giving up on min_rows_per_client.
constexpr int kMaxDirichletAttempts = 100;

/// Uniform integer in [0, bound) by rejection, spelled out (rather than
/// std::uniform_int_distribution, whose algorithm varies between standard libraries) so that a
/// seed gives the same partition everywhere.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % bound;
}

void shuffle(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_below(rng, i)]);
}

void check_common(int num_classes, int num_clients) {
  check(num_clients >= 1, "partition: number of clients {} must be at least 1", num_clients);
  check(num_classes >= 1, "partition: number of classes {} must be at least 1", num_classes);
}

/// Rows of each class, ascending; throws on a label outside [0, num_classes).
std::vector<std::vector<int64_t>> rows_by_class(const std::vector<int64_t>& labels,
                                                int num_classes) {
  std::vector<std::vector<int64_t>> rows(num_classes);
  for (size_t i = 0; i < labels.size(); ++i) {
    check(labels[i] >= 0 && labels[i] < num_classes,
          "partition: label {} of row {} is outside [0, {}); is num_classes right?", labels[i], i,
          num_classes);
    rows[labels[i]].push_back(static_cast<int64_t>(i));
  }
  return rows;
}

/// Appends `rows` split into near-equal contiguous pieces, one per listed client, to `out`.
void deal_evenly(const std::vector<int64_t>& rows, const std::vector<int>& clients,
                 Partition& out) {
  const size_t parts = clients.size();
  for (size_t p = 0; p < parts; ++p) {
    const size_t begin = rows.size() * p / parts;
    const size_t end = rows.size() * (p + 1) / parts;
    auto& dst = out[clients[p]];
    dst.insert(dst.end(), rows.begin() + begin, rows.begin() + end);
  }
}

void sort_all(Partition& partition) {
  for (auto& rows : partition) std::sort(rows.begin(), rows.end());
}

/// One Dirichlet draw over clients for every class; returns the resulting partition.
Partition dirichlet_attempt(std::vector<std::vector<int64_t>> by_class, int num_clients,
                            double alpha, std::mt19937_64& rng) {
  Partition out(num_clients);
  std::gamma_distribution<double> gamma(alpha, 1.0);
  std::vector<double> weights(num_clients);
  for (auto& rows : by_class) {
    shuffle(rows, rng);
    double total = 0;
    for (double& w : weights) total += (w = gamma(rng));
    if (!(total > 0)) {
      // With a tiny alpha every draw can underflow to 0: the limit is one client taking it all.
      std::fill(weights.begin(), weights.end(), 0.0);
      weights[uniform_below(rng, num_clients)] = 1.0;
      total = 1.0;
    }
    const double n = static_cast<double>(rows.size());
    double cumulative = 0;
    size_t begin = 0;
    for (int c = 0; c < num_clients; ++c) {
      cumulative += weights[c];
      size_t end = c + 1 == num_clients
                       ? rows.size()
                       : static_cast<size_t>(std::floor(n * cumulative / total + 0.5));
      end = std::clamp(end, begin, rows.size());
      out[c].insert(out[c].end(), rows.begin() + begin, rows.begin() + end);
      begin = end;
    }
  }
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

Partition partition_iid(int64_t num_rows, int num_clients, uint64_t seed) {
  check(num_clients >= 1, "partition iid: number of clients {} must be at least 1", num_clients);
  check(num_rows >= num_clients,
        "partition iid: {} rows cannot give each of {} clients at least one row", num_rows,
        num_clients);
  std::vector<int64_t> rows(num_rows);
  std::iota(rows.begin(), rows.end(), 0);
  std::mt19937_64 rng(seed);
  shuffle(rows, rng);
  std::vector<int> clients(num_clients);
  std::iota(clients.begin(), clients.end(), 0);
  Partition out(num_clients);
  deal_evenly(rows, clients, out);
  sort_all(out);
  return out;
}

Partition partition_by_classes(const std::vector<int64_t>& labels, int num_classes, int num_clients,
                               int classes_per_client, uint64_t seed) {
  check_common(num_classes, num_clients);
  check(classes_per_client >= 1 && classes_per_client <= num_classes,
        "partition classes:{}: classes per client must be between 1 and the number of classes {}",
        classes_per_client, num_classes);
  check(
      int64_t{num_clients} * classes_per_client >= num_classes,
      "partition classes:{}: {} clients hold at most {} classes, fewer than the {} classes; raise "
      "K or the number of clients",
      classes_per_client, num_clients, int64_t{num_clients} * classes_per_client, num_classes);
  auto by_class = rows_by_class(labels, num_classes);

  std::mt19937_64 rng(seed);
  std::vector<int64_t> class_order(num_classes);
  std::iota(class_order.begin(), class_order.end(), 0);
  shuffle(class_order, rng);
  // Client c takes the K consecutive entries from position c*K of the cyclic class order: K <= C
  // makes them distinct, and clients*K >= C makes every class taken.
  std::vector<std::vector<int>> holders(num_classes);
  for (int c = 0; c < num_clients; ++c) {
    for (int j = 0; j < classes_per_client; ++j) {
      const int64_t position = (int64_t{c} * classes_per_client + j) % num_classes;
      holders[class_order[position]].push_back(c);
    }
  }

  Partition out(num_clients);
  for (int k = 0; k < num_classes; ++k) {
    check(!holders[k].empty(), "partition classes:{}: class {} has no holder", classes_per_client,
          k);
    shuffle(by_class[k], rng);
    deal_evenly(by_class[k], holders[k], out);
  }
  for (int c = 0; c < num_clients; ++c) {
    check(!out[c].empty(),
          "partition classes:{}: client {} received no rows ({} rows over {} clients); use fewer "
          "clients or a larger K",
          classes_per_client, c, labels.size(), num_clients);
  }
  sort_all(out);
  return out;
}

Partition partition_dirichlet(const std::vector<int64_t>& labels, int num_classes, int num_clients,
                              double alpha, uint64_t seed, int64_t min_rows_per_client) {
  check_common(num_classes, num_clients);
  check(std::isfinite(alpha) && alpha > 0, "partition dirichlet:{}: alpha must be positive", alpha);
  check(min_rows_per_client >= 0, "partition dirichlet: min_rows_per_client {} is negative",
        min_rows_per_client);
  check(min_rows_per_client <= static_cast<int64_t>(labels.size()) / num_clients,
        "partition dirichlet:{}: {} rows cannot give each of {} clients {} rows", alpha,
        labels.size(), num_clients, min_rows_per_client);
  const auto by_class = rows_by_class(labels, num_classes);

  std::mt19937_64 rng(seed);
  for (int attempt = 0; attempt < kMaxDirichletAttempts; ++attempt) {
    Partition out = dirichlet_attempt(by_class, num_clients, alpha, rng);
    const bool enough = std::all_of(out.begin(), out.end(), [&](const std::vector<int64_t>& rows) {
      return static_cast<int64_t>(rows.size()) >= min_rows_per_client;
    });
    if (enough) {
      sort_all(out);
      return out;
    }
  }
  throw GanError(fmt::format(
      "partition dirichlet:{}: after {} draws some client of {} still had fewer than {} rows; "
      "raise alpha, use fewer clients or lower min_rows_per_client",
      alpha, kMaxDirichletAttempts, num_clients, min_rows_per_client));
}

Partition partition_by_spec(const std::string& spec, const std::vector<int64_t>& labels,
                            int num_classes, int num_clients, uint64_t seed) {
  const std::string expected = "expected 'iid', 'classes:K' or 'dirichlet:ALPHA'";
  if (spec == "iid") return partition_iid(static_cast<int64_t>(labels.size()), num_clients, seed);
  if (starts_with(spec, "classes:")) {
    const std::string value = spec.substr(8);
    int k = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), k);
    check(ec == std::errc() && end == value.data() + value.size() && !value.empty() && k >= 1,
          "partition spec '{}': K must be a positive integer ({})", spec, expected);
    return partition_by_classes(labels, num_classes, num_clients, k, seed);
  }
  if (starts_with(spec, "dirichlet:")) {
    const std::string value = spec.substr(10);
    double alpha = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), alpha);
    check(ec == std::errc() && end == value.data() + value.size() && !value.empty() &&
              std::isfinite(alpha) && alpha > 0,
          "partition spec '{}': ALPHA must be a positive number ({})", spec, expected);
    return partition_dirichlet(labels, num_classes, num_clients, alpha, seed);
  }
  throw GanError(fmt::format("unknown partition spec '{}': {}", spec, expected));
}

}  // namespace fedgan::gan
