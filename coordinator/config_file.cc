#include "coordinator/config_file.h"

#include "coordinator/error.h"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;

// The one list of configurable fields: the TOML file, the flags and to_json are all built from it,
// so a field listed here is configurable everywhere at once. `Options` is CoordinatorOptions or
// const CoordinatorOptions; `visit(section, key, field, help)` is called in this order, which is
// also the order of --help and of to_json. The help strings are the one-line meanings that
// docs/configuration.md repeats.
template <typename Options, typename Visitor>
void for_each_field(Options& o, Visitor&& visit) {
  auto& s = o.server;
  visit("server", "bind_address", s.bind_address,
        "Address to listen on (0.0.0.0 or :: for every interface)");
  visit("server", "port", s.port, "TCP port to listen on (0 = any free port)");
  visit("server", "max_connections", s.max_connections,
        "Connections at once; more are closed right after accept");
  visit("server", "allowed_identities", s.allowed_identities,
        "Client certificate CNs admitted (none = every certificate of the federation CA)");
  visit("server", "handshake_timeout_seconds", s.handshake_timeout_seconds,
        "Seconds a connection has to finish its TLS handshake and Hello");
  visit("server", "idle_timeout_seconds", s.idle_timeout_seconds,
        "Seconds of silence after which a connection is closed");
  visit("server", "frame_timeout_seconds", s.frame_timeout_seconds,
        "Seconds a started frame has to arrive or be taken");
  visit("server", "heartbeat_interval_seconds", s.heartbeat_interval_seconds,
        "Seconds between heartbeats (less than idle_timeout_seconds)");
  auto& t = o.tls;
  visit("tls", "ca_file", t.ca_file, "PEM certificate of the federation CA (required)");
  visit("tls", "certificate_file", t.certificate_file,
        "PEM certificate of this coordinator (required)");
  visit("tls", "private_key_file", t.private_key_file,
        "PEM private key of the certificate (required)");
  visit("tls", "crl_file", t.crl_file, "PEM revocation list of the CA (empty = none)");
  visit("tls", "allow_tls12", t.allow_tls12, "Accept TLS 1.2 as well as 1.3");
  auto& r = o.rounds;
  visit("rounds", "min_clients", r.min_clients, "Connected clients needed before a round starts");
  visit("rounds", "fraction", r.fraction,
        "Fraction of the connected clients selected per round, in (0, 1]");
  visit("rounds", "min_per_round", r.min_per_round, "Fewest clients selected per round");
  visit("rounds", "max_per_round", r.max_per_round,
        "Most clients selected per round (0 = no limit)");
  visit("rounds", "quorum", r.quorum,
        "Accepted updates needed to commit a round (0 = every selected client)");
  visit("rounds", "deadline_seconds", r.deadline_seconds,
        "Seconds from sending the tasks to the round's deadline");
  visit("rounds", "max_rounds", r.max_rounds, "Rounds to commit before the run finishes");
  visit("rounds", "max_attempts", r.max_attempts,
        "Attempts of one round before the run stops with an error");
  visit("rounds", "seed", r.seed, "Seed of client selection");
  auto& m = o.model;
  visit("model", "architecture", m.architecture, "dcgan (28x28 images) or mlp (vectors)");
  visit("model", "federate", m.federate,
        "both (generator and discriminator) or generator (sites keep their discriminators)");
  visit("model", "data_dim", m.data_dim,
        "mlp: width of a data row (the sites' CSV columns; 2 for the 2-D mixtures)");
  visit("model", "init_checkpoint", m.init_checkpoint,
        "Initial weights from this state dict (empty = seeded initialisation)");
  visit("model", "init_seed", m.init_seed, "Seed of the initial weights");
  visit("model", "codec", m.codec, "Wire codec of the model and the deltas: fp32 or fp16");
  auto& tr = o.training;
  visit("training", "local_steps", tr.local_steps, "Generator updates per client per round");
  visit("training", "batch_size", tr.batch_size, "Samples per optimizer step");
  visit("training", "optimizer", tr.optimizer,
        "Sites' optimizer: adam, or sgd (with aggregation.server_optimizer = adam)");
  visit("training", "lr_generator", tr.lr_generator, "Generator learning rate");
  visit("training", "lr_discriminator", tr.lr_discriminator, "Discriminator learning rate");
  visit("training", "beta1", tr.beta1, "Adam beta1, in [0, 1)");
  visit("training", "beta2", tr.beta2, "Adam beta2, in [0, 1)");
  visit("training", "loss", tr.loss, "GAN loss: ns (non-saturating), hinge or wgan-gp");
  visit("training", "n_critic", tr.n_critic, "Discriminator updates per generator update");
  visit("training", "networks", tr.networks,
        "Networks a round trains: both, or alternate (odd rounds D only, even rounds G only)");
  auto& a = o.aggregation;
  visit("aggregation", "weighting", a.weighting,
        "Update weights: samples (reported sample count) or uniform");
  visit("aggregation", "max_samples_per_update", a.max_samples_per_update,
        "Cap on an update's sample-count weight (0 = no cap)");
  visit("aggregation", "server_optimizer", a.server_optimizer,
        "sgd (global += server_lr * mean delta) or adam (one Adam step along the mean delta)");
  visit("aggregation", "server_lr", a.server_lr, "Step size of the server optimizer");
  visit("aggregation", "server_lr_decay", a.server_lr_decay,
        "none, or linear (server_lr falls linearly to server_lr / max_rounds in the last round)");
  visit("aggregation", "server_beta1", a.server_beta1, "Server Adam beta1, in [0, 1)");
  visit("aggregation", "server_beta2", a.server_beta2, "Server Adam beta2, in [0, 1)");
  visit("aggregation", "server_epsilon", a.server_epsilon,
        "Server Adam epsilon (added to the root of the second moment)");
  visit("aggregation", "max_delta_norm", a.max_delta_norm,
        "Bound on a delta's L2 norm (0 = no bound)");
  visit("aggregation", "norm_policy", a.norm_policy,
        "A delta over the bound: reject it, or clip it to the bound");
  visit("aggregation", "min_samples", a.min_samples,
        "Updates reporting fewer samples are rejected");
  visit("aggregation", "max_samples", a.max_samples, "Updates reporting more samples are rejected");
  auto& st = o.storage;
  visit("storage", "database", st.database, "SQLite database of the run's history");
  visit("storage", "checkpoint_dir", st.checkpoint_dir, "Directory of the round checkpoints");
  visit("storage", "run_id", st.run_id,
        "Run to create or resume (1 to 200 printable ASCII characters)");
  visit("storage", "keep_last", st.keep_last, "Newest checkpoints kept");
  visit("storage", "keep_every", st.keep_every,
        "Also keep the checkpoint of every keep_every-th round (0 = none)");
  auto& e = o.evaluation;
  visit("evaluation", "every_rounds", e.every_rounds,
        "Evaluate the global generator every this many committed rounds (0 = never)");
  visit("evaluation", "dataset", e.dataset,
        "fashion-mnist (classifier-FID, classes), grid or ring (modes, high quality)");
  visit("evaluation", "data_dir", e.data_dir, "Directory of the Fashion-MNIST IDX files");
  visit("evaluation", "cache_dir", e.cache_dir, "Cache of the evaluation classifier");
  visit("evaluation", "samples", e.samples, "Generated samples per evaluation");
  visit("evaluation", "threads", e.threads, "LibTorch intra-op threads of the evaluation");
}

template <typename T>
using Plain = std::remove_const_t<std::remove_reference_t<T>>;

// Integers other than bool: the unsigned counts and ports, and the int64_t fields.
template <typename T>
constexpr bool kIsInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// ---------------------------------------------------------------------------------------------
// Reading the TOML file.

// Where a value came from, for messages: "coordinator.toml:7: rounds.min_clients ...".
struct Place {
  const fs::path& file;
  std::string_view section;
  std::string_view key;
  uint32_t line = 0;
};

[[noreturn]] void fail(const fs::path& file, uint32_t line, const std::string& message) {
  if (line == 0) throw CoordinatorError(fmt::format("{}: {}", file.string(), message));
  throw CoordinatorError(fmt::format("{}:{}: {}", file.string(), line, message));
}

[[noreturn]] void fail(const Place& place, const std::string& problem) {
  fail(place.file, place.line, fmt::format("{}.{} {}", place.section, place.key, problem));
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

std::string read_bounded(const fs::path& file) {
  std::error_code error;
  const fs::file_status status = fs::status(file, error);
  check(fs::exists(status), "cannot read config file {}: no such file", file.string());
  check(fs::is_regular_file(status), "config file {} is not a regular file", file.string());
  std::ifstream in(file, std::ios::binary);
  check(in.is_open(), "cannot open config file {}", file.string());
  // One byte more than allowed, to tell a file of exactly the limit from a larger one.
  std::string text(kMaxConfigFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  check(!in.bad(), "cannot read config file {}", file.string());
  text.resize(static_cast<size_t>(in.gcount()));
  check(text.size() <= kMaxConfigFileBytes, "config file {} is larger than {} bytes", file.string(),
        kMaxConfigFileBytes);
  return text;
}

template <typename T>
void read_value(const toml::node& node, T& field, const Place& place, const fs::path& base) {
  if constexpr (std::is_same_v<T, bool>) {
    const auto* value = node.as_boolean();
    if (!value) fail(place, fmt::format("must be true or false, not {}", type_name(node)));
    field = value->get();
  } else if constexpr (kIsInteger<T>) {
    const auto* value = node.as_integer();
    if (!value) fail(place, fmt::format("must be an integer, not {}", type_name(node)));
    const int64_t v = value->get();
    if constexpr (std::is_unsigned_v<T>) {
      if (v < 0) fail(place, fmt::format("is {}: it must not be negative", v));
      if (static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) {
        fail(place, fmt::format("is {}: it must be at most {}", v, std::numeric_limits<T>::max()));
      }
    }
    field = static_cast<T>(v);
  } else if constexpr (std::is_same_v<T, double>) {
    if (const auto* integer = node.as_integer()) {
      field = static_cast<double>(integer->get());
    } else if (const auto* number = node.as_floating_point()) {
      field = number->get();
    } else {
      fail(place, fmt::format("must be a number, not {}", type_name(node)));
    }
  } else if constexpr (std::is_same_v<T, std::string>) {
    const auto* value = node.as_string();
    if (!value) fail(place, fmt::format("must be a string, not {}", type_name(node)));
    field = value->get();
  } else if constexpr (std::is_same_v<T, fs::path>) {
    const auto* value = node.as_string();
    if (!value) fail(place, fmt::format("must be a path (a string), not {}", type_name(node)));
    const fs::path path(value->get());
    field = path.empty() || path.is_absolute() ? path : (base / path).lexically_normal();
  } else {
    static_assert(std::is_same_v<T, std::vector<std::string>>, "unsupported field type");
    const auto* array = node.as_array();
    if (!array) fail(place, fmt::format("must be an array of strings, not {}", type_name(node)));
    std::vector<std::string> values;
    for (const toml::node& element : *array) {
      const auto* value = element.as_string();
      if (!value) {
        fail({place.file, place.section, place.key, element.source().begin.line},
             fmt::format("must be an array of strings; element {} is {}", values.size() + 1,
                         type_name(element)));
      }
      values.push_back(value->get());
    }
    field = std::move(values);
  }
}

std::string join(const std::vector<std::string_view>& names) {
  std::string text;
  for (std::string_view name : names) text += fmt::format("{}{}", text.empty() ? "" : ", ", name);
  return text;
}

// Refuses sections and keys that are not fields, and sections that are not tables: a misspelt
// key would otherwise be ignored and its default used without a word.
void check_known_keys(const toml::table& root, const fs::path& file) {
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  std::vector<std::string_view> sections;
  CoordinatorOptions defaults;
  for_each_field(defaults, [&](std::string_view section, std::string_view key, auto&, auto) {
    fields.emplace_back(section, key);
    if (sections.empty() || sections.back() != section) sections.push_back(section);
  });
  for (const auto& [section_key, section_node] : root) {
    const std::string_view section = section_key.str();
    const uint32_t line = section_key.source().begin.line;
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      fail(file, line,
           fmt::format("unknown section [{}] (the sections are {})", section, join(sections)));
    }
    const toml::table* table = section_node.as_table();
    if (!table) {
      fail(file, line,
           fmt::format("{} must be a table ([{}]), not {}", section, section,
                       type_name(section_node)));
    }
    for (const auto& [key, node] : *table) {
      const std::pair<std::string_view, std::string_view> name(section, key.str());
      if (std::find(fields.begin(), fields.end(), name) != fields.end()) continue;
      std::vector<std::string_view> keys;
      for (const auto& [s, k] : fields) {
        if (s == section) keys.push_back(k);
      }
      fail(file, key.source().begin.line,
           fmt::format("unknown key {}.{} (the keys of [{}] are {})", section, key.str(), section,
                       join(keys)));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Flags.

// Integers are read by CLI11 with strtoull/strtoll in base 0, which takes "010" for octal 8 and
// "-1" for 2^64-1 in an unsigned field. This transform accepts decimal digits within T's range
// only and hands CLI11 the canonical text.
template <typename T>
CLI::Validator decimal_integer(T minimum = std::numeric_limits<T>::min()) {
  return CLI::Validator(
      [minimum](std::string& text) -> std::string {
        T value{};
        const char* first = text.data();
        const char* last = first + text.size();
        const auto [end, error] = std::from_chars(first, last, value);
        if (text.empty() || error != std::errc() || end != last || value < minimum) {
          return fmt::format("{} is not a decimal integer in [{}, {}]", text, minimum,
                             std::numeric_limits<T>::max());
        }
        text = std::to_string(value);
        return std::string();
      },
      "", "");
}

std::string list_text(const std::vector<std::string>& values) {
  std::string text;
  for (const std::string& value : values) text += text.empty() ? value : "," + value;
  return "[" + text + "]";
}

// ---------------------------------------------------------------------------------------------
// JSON.

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 when there is none.
size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

template <typename T>
std::string json_value(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (kIsInteger<T>) {
    return std::to_string(value);
  } else if constexpr (std::is_same_v<T, double>) {
    return json_number(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return json_quote(value);
  } else if constexpr (std::is_same_v<T, fs::path>) {
    return json_quote(value.string());
  } else {
    std::string text;
    for (const std::string& element : value)
      text += (text.empty() ? "" : ", ") + json_quote(element);
    return "[" + text + "]";
  }
}

// ---------------------------------------------------------------------------------------------
// The command line.

constexpr std::string_view kProgram = "fedgan-coordinator";

// The --config value, found before CLI11 parses anything: the file must be loaded into the
// options before the flags are bound to them, so that flags override it.
std::optional<fs::path> find_config_flag(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--config" && i + 1 < args.size()) return fs::path(args[i + 1]);
    if (args[i].rfind("--config=", 0) == 0) return fs::path(args[i].substr(9));
  }
  return std::nullopt;
}

// --help must work even with a --config file that does not load.
bool asks_for_help(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "-h" || arg == "--help") return true;
  }
  return false;
}

struct Subcommand {
  const char* name;
  const char* description;
};

constexpr Subcommand kSubcommands[] = {
    {"serve", "Run rounds with clients over mutual TLS until rounds.max_rounds are committed"},
    {"status", "Show the run: last committed round, any running attempt, recent clients"},
    {"history", "Print the run's round table from the database"},
};

// The subcommands, each with --config and every option flag, bound to `result`.
void add_subcommands(CLI::App& app, CommandLine& result, std::string& config_flag, int64_t& last) {
  app.require_subcommand(1);
  app.footer(
      "Every setting comes from the defaults, then the --config file, then the flags, each "
      "overriding the one before. SUBCOMMAND --help lists the flags with their defaults.");
  for (const Subcommand& command : kSubcommands) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    const std::string name = command.name;
    sub->add_option("--config", config_flag,
                    "TOML configuration file; relative paths in it are relative to its directory");
    if (name != "serve") sub->add_flag("--json", result.json, "Print JSON instead of text");
    if (name == "history") {
      sub->add_option("--last", last, "Only the last N round attempts")
          ->transform(decimal_integer<int64_t>(1));
    }
    add_option_flags(*sub, result.options);
  }
}

}  // namespace

CoordinatorOptions load_config_file(const fs::path& file) {
  const std::string text = read_bounded(file);
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& error) {
    fail(file, error.source().begin.line,
         fmt::format("invalid TOML (column {}): {}", error.source().begin.column,
                     error.description()));
  }
  check_known_keys(root, file);
  CoordinatorOptions options;
  const fs::path base = fs::absolute(file).parent_path();
  for_each_field(options, [&](std::string_view section, std::string_view key, auto& field, auto) {
    const toml::table* table = root.get_as<toml::table>(section);
    const toml::node* node = table ? table->get(key) : nullptr;
    if (node) read_value(*node, field, Place{file, section, key, node->source().begin.line}, base);
  });
  return options;
}

void add_option_flags(CLI::App& app, CoordinatorOptions& options) {
  for_each_field(options, [&](std::string_view section, std::string_view key, auto& field,
                              std::string_view help) {
    using T = Plain<decltype(field)>;
    const std::string name = fmt::format("--{}.{}", section, key);
    CLI::Option* option = nullptr;
    if constexpr (std::is_same_v<T, bool>) {
      // CLI11 shows no default for flags; say it, and how to turn the flag off.
      option = app.add_flag(name, field,
                            fmt::format("{} (default {}; {}=false turns it off)", help,
                                        field ? "true" : "false", name));
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      option = app.add_option_function<std::vector<std::string>>(
                      name,
                      [&field](const std::vector<std::string>& values) {
                        field = values;
                        if (values.size() == 1 && values.front().empty()) field.clear();
                      },
                      fmt::format("{}; \"\" empties the list", help))
                   ->default_str(list_text(field));
    } else {
      option = app.add_option(name, field, std::string(help))->capture_default_str();
      if constexpr (kIsInteger<T>) option->transform(decimal_integer<T>());
    }
    option->group(std::string(section));
  });
}

std::string to_json(const CoordinatorOptions& options) {
  std::string json = "{";
  std::string_view current;
  for_each_field(options,
                 [&](std::string_view section, std::string_view key, const auto& field, auto) {
                   if (section != current) {
                     json += current.empty() ? "" : "}, ";
                     json += json_quote(section) + ": {";
                     current = section;
                   } else {
                     json += ", ";
                   }
                   json += json_quote(key) + ": " + json_value(field);
                 });
  return json + "}}";
}

std::string json_quote(std::string_view text) {
  std::string quoted = "\"";
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      quoted += "\\ufffd";
      ++i;
      continue;
    }
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += c;
    } else if (c == '\n') {
      quoted += "\\n";
    } else if (c == '\t') {
      quoted += "\\t";
    } else if (c == '\r') {
      quoted += "\\r";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      quoted += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      quoted.append(text.substr(i, length));
    }
    i += length;
  }
  return quoted + "\"";
}

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  // fmt's shortest representation reads back exactly and is valid JSON, but writes 300.0 as "300".
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (!asks_for_help(args)) {
    result.config_file = find_config_flag(args);
    if (result.config_file) result.options = load_config_file(*result.config_file);
  }

  CLI::App app{
      "fedgan-coordinator: runs federated GAN training rounds with clients over mutual "
      "TLS and keeps the run's history in SQLite",
      std::string(kProgram)};
  std::string config_flag;  // already read above; declared so that CLI11 accepts it
  int64_t last = 0;
  add_subcommands(app, result, config_flag, last);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    const int code = app.exit(error, out, err);
    result.exit_code = code == 0 ? 0 : 2;
    result.message = code == 0 ? out.str() : err.str();
    return result;
  }
  const CLI::App* chosen = app.get_subcommands().front();
  result.command = chosen->get_name();
  if (result.command == "history" && chosen->count("--last") > 0) result.limit = last;
  if (result.command == "serve") {
    validate(result.options);
  } else {
    validate_storage(result.options.storage);
  }
  return result;
}

}  // namespace fedgan::coordinator
