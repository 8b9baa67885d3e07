// fedgan-client: one site of a federation. Loads the site's data, connects to the coordinator over
// mutual TLS and trains the rounds it is given, uploading only model deltas, until the
// coordinator finishes the run. docs/configuration.md describes the configuration file and every
// flag.

#include "client/config_file.h"
#include "client/console.h"
#include "client/data_source.h"
#include "client/federated_client.h"
#include "client/local_round.h"
#include "client/site_identity.h"
#include "gan/device.h"
#include "protocol/freed_memory.h"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  namespace client = fedgan::client;
  // Where the C library has no such settings the defaults cost speed, not correctness.
  fedgan::protocol::keep_freed_memory();
  try {
    const client::CommandLine command_line = client::parse_command_line(argc, argv);
    if (command_line.exit_code) {
      (*command_line.exit_code == 0 ? std::cout : std::cerr) << command_line.message;
      return *command_line.exit_code;
    }
    const client::ClientOptions& options = command_line.options;
    client::Console console(
        std::cout, client::progress_bar_wanted(options.log.progress) ? &std::cerr : nullptr);
    fedgan::gan::set_torch_threads(static_cast<int>(options.training.threads));
    const client::LoadedData data = client::load_data(options.data);
    console.print("data: {}", data.description);
    const std::string identity = client::certificate_identity(options.tls.certificate_file);
    client::LocalRound round(options, data, identity);
    console.print("local state: {} ({})", round.state_path().string(),
                  round.state_loaded() ? "loaded" : "none yet; saved after the first round");
    client::FederatedClient federated(options, round, console);
    federated.stop_on_signals();
    return federated.run();
  } catch (const std::exception& e) {
    std::cerr << "fedgan-client: error: " << e.what() << "\n";
    return 1;
  }
}
