#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fedgan::gan {

/// Sample indices held by each client: result[c] lists the dataset rows of client c, ascending.
/// Every partitioner returns disjoint lists whose union is all rows 0..N-1.
using Partition = std::vector<std::vector<int64_t>>;

/// Shuffles rows with `seed` and deals them into `num_clients` near-equal parts.
Partition partition_iid(int64_t num_rows, int num_clients, uint64_t seed);

/// Label skew by class: client c holds `classes_per_client` distinct classes. Classes are
/// permuted by `seed` and dealt round-robin so every class has at least one holder (requires
/// num_clients * classes_per_client >= num_classes); each class's rows are split evenly among
/// its holders. Throws GanError when a class could not be covered or a label is out of range.
Partition partition_by_classes(const std::vector<int64_t>& labels, int num_classes, int num_clients,
                               int classes_per_client, uint64_t seed);

/// Label skew by Dirichlet(alpha): for each class, proportions over clients are drawn from a
/// symmetric Dirichlet(alpha) and that class's shuffled rows are cut accordingly. Small alpha
/// means strong skew. Redraws (up to a bounded number of attempts, deterministically) until
/// every client holds at least `min_rows_per_client` rows, then throws GanError.
Partition partition_dirichlet(const std::vector<int64_t>& labels, int num_classes, int num_clients,
                              double alpha, uint64_t seed, int64_t min_rows_per_client = 1);

/// Parses "iid", "classes:K" or "dirichlet:ALPHA" and applies that partitioner.
Partition partition_by_spec(const std::string& spec, const std::vector<int64_t>& labels,
                            int num_classes, int num_clients, uint64_t seed);

}  // namespace fedgan::gan
