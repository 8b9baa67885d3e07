#pragma once

#include "config/field_types.h"
#include "coordinator/options.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace CLI {
class App;
}  // namespace CLI

namespace fedgan::coordinator {

/// The coordinator's configuration comes from three places, each overriding the one before:
/// the defaults of options.h, a TOML file (`--config FILE`), and command-line flags. Every field
/// is spelled the same in all three: `[rounds] min_clients = 3` in the file is
/// `--rounds.min_clients 3` on the command line and `"rounds": {"min_clients": 3}` in to_json.
/// docs/configuration.md shows the complete file.

/// Largest configuration file load_config_file reads (1 MiB).
using config::kMaxConfigFileBytes;

/// Reads the TOML file `file` over the defaults. Sections are [server], [tls], [rounds], [model],
/// [training], [aggregation], [storage] and [evaluation], keys the fields of options.h; a missing
/// key keeps its default. Relative paths in the file are resolved against the directory of the
/// file (so a file works from any working directory); an empty path stays empty. The file is
/// untrusted input: throws CoordinatorError for a file that cannot be read or is larger than
/// kMaxConfigFileBytes, invalid TOML, an unknown section or key, a value of the wrong type, and
/// an integer out of its field's range (a negative count, a port over 65535); the message names
/// the file, the line and the key ("coordinator.toml:7: rounds.min_clients must be ..."). Does not
/// validate() the result: flags may still change it.
CoordinatorOptions load_config_file(const std::filesystem::path& file);

/// Adds one flag per field to `app`, named `--section.key`, bound to that field of `options`
/// (which must outlive `app`): parsing writes only the flags given, so they override whatever
/// `options` held. The help of each flag says what it is and shows the value it has now, that
/// is its default; flags are grouped by section. Integers are read as decimal and refused outside
/// their field's range; `--server.allowed_identities ""` empties the list.
void add_option_flags(CLI::App& app, CoordinatorOptions& options);

/// The configuration as a JSON object of sections of keys (paths as strings), as stored with the
/// run. Non-finite numbers, which validate() refuses, are written as null.
std::string to_json(const CoordinatorOptions& options);

/// `text` as a JSON string literal, as nlohmann-json writes it: quoted, with quotes, backslashes
/// and control characters escaped and bytes that are not UTF-8 replaced by U+FFFD (written as the
/// character itself), so the result is always valid JSON.
std::string json_quote(std::string_view text);

/// `value` as a JSON number, as nlohmann-json writes it: the shortest text that reads back exactly,
/// always with a decimal point or an exponent so that it reads as a float ("1.0", "0.0002",
/// "1e-10"); "null" when it is not finite (JSON has no infinities).
std::string json_number(double value);

/// A parsed command line of fedgan-coordinator.
struct CommandLine {
  /// "serve", "status" or "history"; empty when `exit_code` is set.
  std::string command;
  /// The defaults, then the --config file, then the flags. Validated: completely for serve, the
  /// [storage] section for status and history (all they use).
  CoordinatorOptions options;
  /// The --config file, if one was given.
  std::optional<std::filesystem::path> config_file;
  /// status, history: print JSON instead of text.
  bool json = false;
  /// history: only the last `limit` round attempts (--last N).
  std::optional<int64_t> limit;
  /// history: the clients table instead of the round table (--clients).
  bool clients = false;
  /// Set when the program must exit without running a command: 0 after --help, 2 after a usage
  /// error (an unknown flag, a value that does not parse). `message` is what to print: to
  /// standard output when the code is 0, to standard error otherwise.
  std::optional<int> exit_code;
  std::string message;
};

/// Parses `fedgan-coordinator {serve|status|history} [--config FILE] [--section.key VALUE]...
/// [--json] [--last N]`. The --config file is found and read first, then the flags are parsed
/// over it. Throws CoordinatorError when the file cannot be loaded or the resulting options do
/// not validate; usage errors and --help are reported through `exit_code` instead.
CommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace fedgan::coordinator
