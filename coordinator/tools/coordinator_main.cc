// fedgan-coordinator: the server of a federation. `serve` runs rounds with clients over mutual
// TLS; `status` and `history` read the run back from the database. docs/configuration.md
// describes the configuration file and every flag.

#include "coordinator/config_file.h"
#include "coordinator/coordinator.h"
#include "coordinator/history_command.h"
#include "protocol/freed_memory.h"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  namespace coordinator = fedgan::coordinator;
  // Where the C library has no such settings the defaults cost speed, not correctness.
  fedgan::protocol::keep_freed_memory();
  try {
    const coordinator::CommandLine command_line = coordinator::parse_command_line(argc, argv);
    if (command_line.exit_code) {
      (*command_line.exit_code == 0 ? std::cout : std::cerr) << command_line.message;
      return *command_line.exit_code;
    }
    const coordinator::CoordinatorOptions& options = command_line.options;
    if (command_line.command == "serve") return coordinator::serve(options);
    if (command_line.command == "status") {
      coordinator::print_status(options.storage.database, options.storage.run_id, command_line.json,
                                std::cout);
    } else if (command_line.clients) {
      coordinator::print_client_history(options.storage.database, options.storage.run_id,
                                        command_line.json, std::cout);
    } else {
      coordinator::print_history(options.storage.database, options.storage.run_id,
                                 command_line.json, command_line.limit, std::cout);
    }
  } catch (const std::exception& e) {
    std::cerr << "fedgan-coordinator: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
