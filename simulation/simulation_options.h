#pragma once

#include "client/options.h"
#include "coordinator/options.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace fedgan::simulation {

/// What a simulation adds to a coordinator's configuration: its virtual sites and their clock.
struct SimulationOptions {
  /// Virtual sites, named `identity_prefix` + 1..sites ("site-1", ...): the names a real
  /// federation's certificates would carry, which seed each site's batches and latents.
  int64_t sites = 10;
  std::string identity_prefix = "site-";
  /// How the template site's data is shared among the sites: "iid", "classes:K",
  /// "dirichlet:ALPHA" (gan/data/partition.h), with the template's data.seed; "" gives every site
  /// all of it.
  std::string partition = "iid";
  /// Per-site heterogeneity, drawn once from `seed`: each site's speed factor is uniform in
  /// [1, speed_spread] (its local step takes step_seconds * factor of virtual time), and each
  /// task is dropped with probability `dropout` (the site disconnects when it would have
  /// uploaded, and reconnects reconnect_seconds later).
  double speed_spread = 1.0;
  double dropout = 0.0;
  double step_seconds = 0.05;
  double reconnect_seconds = 1.0;
  uint64_t seed = 1;
  /// Sites trained at once, each on one LibTorch thread; the results do not depend on it.
  int64_t threads = 1;
  /// Where every site trains: "auto", "cpu", "cuda" or "cuda:N" (gan::resolve_device), instead of
  /// the template's training.device; empty keeps the template's. Sites on a GPU share it, one
  /// after another with threads = 1; their memory is not paged (memory_budget_mib must be 0).
  std::string device;
  /// Memory the sites' models, optimizer states and buffers may hold, in MiB; beyond it the
  /// least recently used idle sites are paged out to files in `page_dir` (0: never).
  double memory_budget_mib = 0;
  /// Where paged-out sites go; empty: a fresh directory under the system's temporary directory,
  /// removed at the end.
  std::filesystem::path page_dir;
  /// Attacking sites: the first `attackers` sites (site-1 ...) do what the template's [attack]
  /// section says to their deltas; the others are honest. 0 with an [attack] kind in the template,
  /// or more than 0 without one, is refused (validate_attack).
  int64_t attackers = 0;
  /// Print only the end-of-run summary, not the engine's console lines.
  bool quiet = false;
};

/// Throws std::invalid_argument naming the option for a value out of range.
void validate(const SimulationOptions& options);

/// Throws std::invalid_argument unless `options.attackers` and the template site's attack agree:
/// sites attack only where both say so, so that one is never set by mistake without the other.
void validate_attack(const SimulationOptions& options, const client::ClientOptions& site);

/// The options of virtual site `index` (0-based) of `options.sites`: `site` (a site's
/// configuration, whose [coordinator], [tls] and [state] are not used) with its share of the data.
client::ClientOptions site_options(const client::ClientOptions& site,
                                   const SimulationOptions& options, int64_t index);

}  // namespace fedgan::simulation
