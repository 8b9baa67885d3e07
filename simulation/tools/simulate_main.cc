// fedgan-simulate: many virtual sites in one process against the coordinator's own round engine,
// on a virtual clock (docs/simulation.md). Reads a coordinator configuration and one site's
// configuration as the template of every site; writes the same history, checkpoints, evaluations
// and sample grids as a federation of real sites would.

#include "client/config_file.h"
#include "coordinator/config_file.h"
#include "protocol/freed_memory.h"
#include "simulation/simulator.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  namespace simulation = fedgan::simulation;
  // Training allocates and frees the same large buffers at every step: kept in the heap, they are
  // reused instead of being mapped and faulted in again (with a 256 KiB mapping threshold, over 40%
  // of a DCGAN simulation's CPU time was the kernel's). Paged-out sites' memory is handed back
  // explicitly instead (Simulator::keep_within_budget).
  fedgan::protocol::keep_freed_memory();
  CLI::App app{"fedgan-simulate: virtual sites against the coordinator's round engine"};
  std::filesystem::path coordinator_config;
  std::filesystem::path site_config;
  simulation::SimulationOptions options;
  app.add_option("--config", coordinator_config, "The coordinator's configuration (TOML)")
      ->required();
  app.add_option("--site-config", site_config,
                 "One site's configuration (TOML), the template of every virtual site: its data "
                 "(shared out by --partition), model, training and limits")
      ->required();
  app.add_option("--sites", options.sites, "Virtual sites")->capture_default_str();
  app.add_option("--identity-prefix", options.identity_prefix,
                 "Site names are this followed by 1..N")
      ->capture_default_str();
  app.add_option("--partition", options.partition,
                 "iid, classes:K or dirichlet:ALPHA; empty gives each site all the data")
      ->capture_default_str();
  app.add_option("--speed-spread", options.speed_spread,
                 "Speed factors uniform in [1, this]: a site's step takes step-seconds x factor")
      ->capture_default_str();
  app.add_option("--dropout", options.dropout, "Probability that a site drops a task")
      ->capture_default_str();
  app.add_option("--step-seconds", options.step_seconds, "Virtual seconds of one local step")
      ->capture_default_str();
  app.add_option("--reconnect-seconds", options.reconnect_seconds,
                 "Virtual seconds before a dropped site reconnects")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the speed factors and dropouts")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Sites trained at once (one thread each)")
      ->capture_default_str();
  app.add_option("--device", options.device,
                 "Where every site trains: auto, cpu, cuda or cuda:N (default: the site "
                 "configuration's training.device); on a GPU use --threads 1 and no memory budget");
  app.add_option("--memory-budget-mib", options.memory_budget_mib,
                 "Memory for the sites' models and optimizer states; idle sites beyond it are "
                 "paged to disk (0: never)")
      ->capture_default_str();
  app.add_option("--page-dir", options.page_dir,
                 "Where paged-out sites go (default: a temporary directory)");
  app.add_option("--attackers", options.attackers,
                 "The first K sites attack as the site configuration's [attack] says (experiments)")
      ->capture_default_str();
  app.add_flag("--quiet", options.quiet, "Print only the summary");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto coordinator = fedgan::coordinator::load_config_file(coordinator_config);
    const auto site = fedgan::client::load_config_file(site_config);
    simulation::Simulator simulator(coordinator, site, options);
    const auto report = simulator.run();
    const double engine_share =
        report.wall_seconds > 0 ? 100.0 * report.engine_seconds / report.wall_seconds : 0.0;
    fmt::print(
        "simulated {} sites: {} rounds committed in {:.1f} s of virtual time; wall {:.2f} s "
        "(training {:.2f} s, engine {:.3f} s = {:.2f}%, evaluation {:.2f} s, paging {:.2f} s "
        "for {} page-outs), setup {:.2f} s; peak RSS {:.0f} MiB; {} tasks cut short after {} "
        "steps\n",
        options.sites, report.rounds_committed, report.virtual_seconds, report.wall_seconds,
        report.training_seconds, report.engine_seconds, engine_share, report.evaluation_seconds,
        report.paging_seconds, report.page_outs, report.build_seconds, peak_rss_mib(),
        report.tasks_cut_short, report.steps_cut_short);
    return report.exit_code;
  } catch (const std::exception& e) {
    std::cerr << "fedgan-simulate: error: " << e.what() << "\n";
    return 1;
  }
}
