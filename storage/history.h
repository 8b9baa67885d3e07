#pragma once

#include "storage/database.h"
#include "storage/records.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fedgan::storage {

/// Reads runs, clients, rounds, updates and events back as records. Works on a read-only
/// database too (inspection tools). Not thread-safe, like the Database it reads.
class History {
 public:
  /// `db` is owned by the caller and must outlive this object.
  explicit History(Database& db) : db_(db) {}

  std::optional<Run> find_run(const std::string& run_id);
  /// Every run, oldest first.
  std::vector<Run> runs();

  std::optional<Client> find_client(const std::string& identity);
  /// Every client, by identity.
  std::vector<Client> clients();

  std::optional<Round> find_round(int64_t round_id);
  /// Every attempt of every round of `run_id`, by round then attempt.
  std::vector<Round> rounds(const std::string& run_id);
  /// The committed attempt with the highest round number, if any.
  std::optional<Round> last_committed_round(const std::string& run_id);

  /// Updates recorded for one round attempt, in the order they were recorded.
  std::vector<Update> updates(int64_t round_id);

  /// The norms of one attempt's accepted updates as they entered its aggregate: delta_norm, or
  /// norm_bound when the update was clipped to it. In the order they were recorded.
  std::vector<double> aggregated_norms(int64_t round_id);

  /// Events of `run_id` in the order they were logged.
  std::vector<Event> events(const std::string& run_id);

  /// The clients a `client_quarantined` event of `run_id` names, sorted.
  std::vector<std::string> quarantined_clients(const std::string& run_id);

  /// (round, identity) of every flagged update of `run_id`'s committed rounds from `first_round`
  /// on, in round order.
  std::vector<std::pair<int64_t, std::string>> flagged_updates(const std::string& run_id,
                                                               int64_t first_round);

 private:
  Database& db_;  // owned by the caller
};

}  // namespace fedgan::storage
