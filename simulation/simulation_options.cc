#include "simulation/simulation_options.h"

#include "config/enum_names.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace fedgan::simulation {

namespace {

template <typename... Args>
void check(bool ok, fmt::format_string<Args...> format, Args&&... args) {
  if (!ok) throw std::invalid_argument(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace

void validate(const SimulationOptions& o) {
  check(o.sites >= 1 && o.sites <= 100000, "--sites is {}: it must be 1 to 100000", o.sites);
  check(!o.identity_prefix.empty() && o.identity_prefix.size() <= 32,
        "--identity-prefix must be 1 to 32 characters");
  check(std::isfinite(o.speed_spread) && o.speed_spread >= 1 && o.speed_spread <= 1000,
        "--speed-spread is {}: it must be 1 to 1000", o.speed_spread);
  check(o.dropout >= 0 && o.dropout < 1, "--dropout is {}: it must be in [0, 1)", o.dropout);
  check(std::isfinite(o.step_seconds) && o.step_seconds > 0,
        "--step-seconds is {}: it must be positive", o.step_seconds);
  check(std::isfinite(o.reconnect_seconds) && o.reconnect_seconds >= 0,
        "--reconnect-seconds is {}: it must be 0 or more", o.reconnect_seconds);
  check(std::isfinite(o.memory_budget_mib) && o.memory_budget_mib >= 0,
        "--memory-budget-mib is {}: it must be 0 (no paging) or more", o.memory_budget_mib);
  check(o.threads >= 1 && o.threads <= 1024, "--threads is {}: it must be 1 to 1024", o.threads);
}

void validate_attack(const SimulationOptions& o, const client::ClientOptions& site) {
  check(o.attackers >= 0 && o.attackers <= o.sites,
        "--attackers is {}: it must be 0 to --sites ({})", o.attackers, o.sites);
  const bool attack = site.attack.kind != client::AttackKind::kNone;
  check(o.attackers == 0 || attack,
        "--attackers is {} but the site configuration's attack.kind is \"none\": say what they do "
        "in its [attack] section",
        o.attackers);
  check(o.attackers > 0 || !attack,
        "the site configuration's attack.kind is \"{}\" but --attackers is 0: say how many sites "
        "attack",
        config::enum_name(site.attack.kind));
}

client::ClientOptions site_options(const client::ClientOptions& site,
                                   const SimulationOptions& options, int64_t index) {
  client::ClientOptions mine = site;
  mine.data.partition = options.partition;
  mine.data.clients = options.sites;
  mine.data.client_index = index;
  mine.training.threads = 1;
  if (!options.device.empty()) mine.training.device = options.device;
  // Nothing is saved there by a simulation; a state a real site left is not picked up by mistake.
  mine.state.dir =
      site.state.dir / "simulated" / (options.identity_prefix + std::to_string(index + 1));
  mine.log.progress = client::Progress::kNever;
  if (index >= options.attackers) mine.attack = client::AttackOptions{};
  return mine;
}

}  // namespace fedgan::simulation
