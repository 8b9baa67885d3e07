#pragma once

#include "client/options.h"
#include "config/field_types.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace fedgan::client {

/// The client's configuration comes from three places, each overriding the one before: the
/// defaults of options.h, a TOML file (`--config FILE`), and command-line flags. Every field is
/// spelled the same in both: `[limits] max_local_steps = 500` in the file is
/// `--limits.max_local_steps 500` on the command line. docs/configuration.md shows the complete
/// file.

/// Largest configuration file load_config_file reads (1 MiB).
using config::kMaxConfigFileBytes;

/// Reads the TOML file `file` over the defaults. Sections are [coordinator], [tls], [data],
/// [model], [training], [limits], [state] and [log], keys the fields of options.h; a missing key
/// keeps its default. Relative paths in the file are resolved against the directory of the file
/// (so a file works from any working directory); an empty path stays empty. The file is untrusted
/// input: throws ClientError for a file that cannot be read or is larger than
/// kMaxConfigFileBytes, invalid TOML, an unknown section or key, a value of the wrong type, and an
/// integer out of its field's range (a negative seed, a port over 65535); the message names the
/// file, the line and the key ("client.toml:7: coordinator.port is 70000: it must be at most
/// 65535"). Does not validate() the result: flags may still change it.
ClientOptions load_config_file(const std::filesystem::path& file);

/// Adds one flag per field to `app`, named `--section.key`, bound to that field of `options`
/// (which must outlive `app`): parsing writes only the flags given, so they override whatever
/// `options` held. The help of each flag says what it is and shows the value it has now, that is
/// its default; flags are grouped by section. Integers are read as decimal and refused outside
/// their field's range.
void add_option_flags(CLI::App& app, ClientOptions& options);

/// A parsed command line of fedgan-client.
struct CommandLine {
  /// The defaults, then the --config file, then the flags; validated.
  ClientOptions options;
  /// The --config file, if one was given.
  std::optional<std::filesystem::path> config_file;
  /// Set when the program must exit without running: 0 after --help, 2 after a usage error (an
  /// unknown flag, a value that does not parse). `message` is what to print: to standard output
  /// when the code is 0, to standard error otherwise.
  std::optional<int> exit_code;
  std::string message;
};

/// Parses `fedgan-client [--config FILE] [--section.key VALUE]...`. The --config file is found and
/// read first, then the flags are parsed over it. Throws ClientError when the file cannot be
/// loaded or the resulting options do not validate; usage errors and --help are reported through
/// `exit_code` instead.
CommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace fedgan::client
