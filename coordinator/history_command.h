#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>

namespace fedgan::coordinator {

/// The read-only subcommands of fedgan-coordinator. Both open `database` read-only (they are safe
/// to run beside a serving coordinator: the database is in WAL mode) and print run `run_id`.
/// Times are printed in UTC. Both throw CoordinatorError when there is no file at `database`
/// ("no database at PATH: has the coordinator run?") or no run `run_id` in it (the message lists
/// the runs there), and StorageError when the file is not a fedgan database of this version.

/// `history`: the round table, one line per attempt at a round, in order: round, attempt, status,
/// start time, duration, clients selected, updates accepted and rejected, samples aggregated,
/// the aggregate's L2 norm, the mean local generator and discriminator losses of the accepted
/// updates (their local_metrics' `generator_loss` and `discriminator_loss`), the evaluation
/// figures where any line has them (FID and classes covered, or modes captured and the percentage
/// of high-quality samples), and why an attempt failed. Columns are aligned. With `json`, a JSON
/// array of one object per attempt with every field, null where there is no value. `last`, when
/// set, keeps only the last `last` attempts.
void print_history(const std::filesystem::path& database, const std::string& run_id, bool json,
                   std::optional<int64_t> last, std::ostream& out);

/// `status`: the run (id, model, seed, when it was created and whether it finished), its attempt
/// counts, the last committed round with its checkpoint file and hash, the running attempt if
/// there is one, and the number of known clients with the 5 seen most recently and their totals
/// of accepted and rejected updates (over all runs, as the clients table keeps them). With
/// `json`, the same as one JSON object.
void print_status(const std::filesystem::path& database, const std::string& run_id, bool json,
                  std::ostream& out);

/// `history --clients`: every client the database knows (its totals are over all runs, as the
/// clients table keeps them), most often flagged first, then by identity: identity, first and
/// last seen, updates accepted and rejected, samples, flagged rounds, and for run `run_id` its
/// accepted updates, how many of them the robust rule flagged and their mean cosine to their
/// rounds' aggregates ("-" under FedAvg, which records none). With `json`, a JSON array of one
/// object per client.
void print_client_history(const std::filesystem::path& database, const std::string& run_id,
                          bool json, std::ostream& out);

}  // namespace fedgan::coordinator
