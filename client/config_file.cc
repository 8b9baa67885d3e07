#include "client/config_file.h"

#include "client/error.h"

#include <toml++/toml.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

// The one list of configurable fields: the TOML file and the flags are both built from it, so a
// field listed here is configurable everywhere at once. `Options` is ClientOptions or const
// ClientOptions; `visit(section, key, field, help)` is called in this order, which is also the
// order of --help. The help strings are the one-line meanings docs/configuration.md repeats.
template <typename Options, typename Visitor>
void for_each_field(Options& o, Visitor&& visit) {
  auto& c = o.coordinator;
  visit("coordinator", "host", c.host, "Name or IP address of the coordinator");
  visit("coordinator", "port", c.port, "TCP port of the coordinator");
  visit("coordinator", "server_name", c.server_name,
        "Name the coordinator's certificate must carry (empty = host)");
  visit("coordinator", "handshake_timeout_seconds", c.handshake_timeout_seconds,
        "Seconds to connect, finish the TLS handshake and be welcomed");
  visit("coordinator", "idle_timeout_seconds", c.idle_timeout_seconds,
        "Seconds of silence after which the connection is closed");
  visit("coordinator", "frame_timeout_seconds", c.frame_timeout_seconds,
        "Seconds a started frame has to arrive or be taken");
  visit("coordinator", "heartbeat_interval_seconds", c.heartbeat_interval_seconds,
        "Seconds between heartbeats (less than the coordinator's idle timeout)");
  visit("coordinator", "reconnect_initial_seconds", c.reconnect_initial_seconds,
        "First wait before reconnecting; each later wait doubles");
  visit("coordinator", "reconnect_max_seconds", c.reconnect_max_seconds,
        "Longest wait before reconnecting (before the +-50% jitter)");
  visit("coordinator", "max_connect_failures", c.max_connect_failures,
        "Consecutive failed connection attempts before giving up (0 = never give up)");
  auto& t = o.tls;
  visit("tls", "ca_file", t.ca_file, "PEM certificate of the federation CA (required)");
  visit("tls", "certificate_file", t.certificate_file,
        "PEM certificate of this site; its CN is the site's identity (required)");
  visit("tls", "private_key_file", t.private_key_file,
        "PEM private key of the certificate (required)");
  visit("tls", "crl_file", t.crl_file, "PEM revocation list of the CA (empty = none)");
  visit("tls", "allow_tls12", t.allow_tls12, "Accept TLS 1.2 as well as 1.3");
  auto& d = o.data;
  visit("data", "format", d.format, "idx, png-dir, csv or mixture (required)");
  visit("data", "images", d.images, "idx: the images file (3-D uint8 IDX, plain or gzip)");
  visit("data", "labels", d.labels,
        "idx: the labels file (needed only by class-skewed partitions)");
  visit("data", "directory", d.directory, "png-dir: the directory of PNG images of one size");
  visit("data", "csv", d.csv, "csv: the file of numeric rows of equal length");
  visit("data", "csv_header", d.csv_header, "csv: skip the first line");
  visit("data", "mixture", d.mixture, "mixture: grid (25 modes) or ring (8 modes)");
  visit("data", "mixture_rows", d.mixture_rows, "mixture: points to draw");
  visit("data", "seed", d.seed,
        "Seed of the mixture and of the partition (the same at every site of an experiment)");
  visit("data", "partition", d.partition,
        "Keep this site's share: iid, classes:K or dirichlet:ALPHA (empty = all the data)");
  visit("data", "clients", d.clients, "Sites the partition splits the data among");
  visit("data", "client_index", d.client_index, "This site's index in the partition, from 0");
  visit("data", "max_samples", d.max_samples, "Most samples (rows, images) loaded");
  visit("data", "max_columns", d.max_columns, "Most columns of a CSV row");
  visit("data", "max_image_side", d.max_image_side, "Largest PNG width or height");
  visit("model", "architecture", o.model.architecture,
        "auto (dcgan for images, mlp for vectors), dcgan or mlp; other tasks are refused");
  auto& tr = o.training;
  visit("training", "device", tr.device, "auto, cpu, cuda or cuda:N");
  visit("training", "threads", tr.threads, "LibTorch intra-op threads (0 = LibTorch's default)");
  visit("training", "seed", tr.seed, "Seed of the private weights, batch order and latents");
  visit("training", "optimizer_state", tr.optimizer_state,
        "keep (Adam moments carry over between rounds) or reset (fresh every round)");
  auto& l = o.limits;
  visit("limits", "max_local_steps", l.max_local_steps, "Most local steps a task may ask for");
  visit("limits", "max_batch_size", l.max_batch_size, "Largest batch size a task may ask for");
  visit("limits", "max_n_critic", l.max_n_critic,
        "Most discriminator updates per generator update a task may ask for");
  visit("limits", "max_learning_rate", l.max_learning_rate,
        "Largest learning rate a task may ask for");
  visit("limits", "max_model_bytes", l.max_model_bytes,
        "Largest encoded model a task may send, in bytes");
  visit("state", "dir", o.state.dir,
        "Directory of the local state kept between rounds and restarts");
  visit("state", "keep_deltas", o.state.keep_deltas,
        "Also keep every uploaded delta as dir/delta_round_NNNNNN.pt");
  visit("log", "progress", o.log.progress,
        "Progress bar while training: auto (on a terminal), always or never");
}

template <typename T>
using Plain = std::remove_const_t<std::remove_reference_t<T>>;

// Integers other than bool: the port, the unsigned seeds and sizes, and the int64_t counts.
template <typename T>
constexpr bool kIsInteger = std::is_integral_v<T> && !std::is_same_v<T, bool>;

// ---------------------------------------------------------------------------------------------
// Reading the TOML file.

// Where a value came from, for messages: "client.toml:7: coordinator.port ...".
struct Place {
  const fs::path& file;
  std::string_view section;
  std::string_view key;
  uint32_t line = 0;
};

[[noreturn]] void fail(const fs::path& file, uint32_t line, const std::string& message) {
  if (line == 0) throw ClientError(fmt::format("{}: {}", file.string(), message));
  throw ClientError(fmt::format("{}:{}: {}", file.string(), line, message));
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
void read_integer(const toml::node& node, T& field, const Place& place) {
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
}

template <typename T>
void read_value(const toml::node& node, T& field, const Place& place, const fs::path& base) {
  if constexpr (std::is_same_v<T, bool>) {
    const auto* value = node.as_boolean();
    if (!value) fail(place, fmt::format("must be true or false, not {}", type_name(node)));
    field = value->get();
  } else if constexpr (kIsInteger<T>) {
    read_integer(node, field, place);
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
  } else {
    static_assert(std::is_same_v<T, fs::path>, "unsupported field type");
    const auto* value = node.as_string();
    if (!value) fail(place, fmt::format("must be a path (a string), not {}", type_name(node)));
    const fs::path path(value->get());
    field = path.empty() || path.is_absolute() ? path : (base / path).lexically_normal();
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
  ClientOptions defaults;
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
CLI::Validator decimal_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        T value{};
        const char* first = text.data();
        const char* last = first + text.size();
        const auto [end, error] = std::from_chars(first, last, value);
        if (text.empty() || error != std::errc() || end != last) {
          return fmt::format("{} is not a decimal integer in [{}, {}]", text,
                             std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
        }
        text = std::to_string(value);
        return std::string();
      },
      "", "");
}

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

}  // namespace

ClientOptions load_config_file(const fs::path& file) {
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
  ClientOptions options;
  const fs::path base = fs::absolute(file).parent_path();
  for_each_field(options, [&](std::string_view section, std::string_view key, auto& field, auto) {
    const toml::table* table = root.get_as<toml::table>(section);
    const toml::node* node = table ? table->get(key) : nullptr;
    if (node) read_value(*node, field, Place{file, section, key, node->source().begin.line}, base);
  });
  return options;
}

void add_option_flags(CLI::App& app, ClientOptions& options) {
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
    } else {
      option = app.add_option(name, field, std::string(help))->capture_default_str();
      if constexpr (kIsInteger<T>) option->transform(decimal_integer<T>());
    }
    option->group(std::string(section));
  });
}

CommandLine parse_command_line(int argc, const char* const* argv) {
  CommandLine result;
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (!asks_for_help(args)) {
    result.config_file = find_config_flag(args);
    if (result.config_file) result.options = load_config_file(*result.config_file);
  }

  CLI::App app{
      "fedgan-client: trains a GAN on this site's data in the rounds of a federation and uploads "
      "only model deltas to the coordinator, over mutual TLS",
      "fedgan-client"};
  app.footer(
      "Every setting comes from the defaults, then the --config file, then the flags, each "
      "overriding the one before. The defaults shown are the built-in ones. "
      "docs/configuration.md describes every key.");
  std::string config_flag;  // already read above; declared so that CLI11 accepts it
  app.add_option("--config", config_flag,
                 "TOML configuration file; relative paths in it are relative to its directory");
  add_option_flags(app, result.options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    const int code = app.exit(error, out, err);
    result.exit_code = code == 0 ? 0 : 2;
    result.message = code == 0 ? out.str() : err.str();
    return result;
  }
  validate(result.options);
  return result;
}

}  // namespace fedgan::client
