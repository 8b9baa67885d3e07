#pragma once

#include "config/enum_names.h"
#include "config/field_types.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <charconv>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedgan::config {

/// Integers are read by CLI11 with strtoull/strtoll in base 0, which takes "010" for octal 8 and
/// "-1" for 2^64-1 in an unsigned field. This transform accepts decimal digits within
/// [minimum, T's maximum] only and hands CLI11 the canonical text.
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

/// The names of enum `E`: --help shows them after the flag's type as `{a,b,c}`; any other value
/// is refused, with a message naming `setting` and listing the names.
template <typename E>
CLI::Validator enum_choice(std::string setting) {
  std::string description;
  for (const std::string& name : enum_name_list<E>()) {
    description += description.empty() ? "{" + name : "," + name;
  }
  return CLI::Validator(
      [setting = std::move(setting)](std::string& text) -> std::string {
        if (enum_value<E>(text)) return std::string();
        return fmt::format("{} {}", setting, unknown_name_problem<E>(text));
      },
      description + "}", "");
}

/// `[a,b,c]`: how --help shows a string list's default.
std::string list_text(const std::vector<std::string>& values);

/// Adds one flag per field that `for_each_field(options, visit)` declares (field_types.h), named
/// `--section.key` and bound to that field of `options` (which must outlive `app`): parsing writes
/// only the flags given, so they override whatever `options` held. The help of each flag says
/// what it is and shows the value it has now, that is its default; flags are grouped by section.
/// Integers are read as decimal and refused outside their field's range; an enum takes one of its
/// names (listed by --help); a string list takes several values, and `""` empties it.
template <typename Options, typename ForEachField>
void add_field_flags(CLI::App& app, Options& options, ForEachField&& for_each_field) {
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
    } else if constexpr (kIsStringList<T>) {
      option = app.add_option_function<std::vector<std::string>>(
                      name,
                      [&field](const std::vector<std::string>& values) {
                        field = values;
                        if (values.size() == 1 && values.front().empty()) field.clear();
                      },
                      fmt::format("{}; \"\" empties the list", help))
                   ->default_str(list_text(field));
    } else if constexpr (kIsNamedEnum<T>) {
      option = app.add_option_function<std::string>(
                      name, [&field](const std::string& text) { field = *enum_value<T>(text); },
                      std::string(help))
                   ->check(enum_choice<T>(fmt::format("{}.{}", section, key)))
                   ->default_str(std::string(enum_name(field)));
    } else {
      option = app.add_option(name, field, std::string(help))->capture_default_str();
      if constexpr (kIsInteger<T>) option->transform(decimal_integer<T>());
    }
    option->group(std::string(section));
  });
}

/// Parses the command line with `app` and returns true; after --help, or a usage error (an unknown
/// flag, a value that does not parse), returns false with `exit_code` 0 or 2 and in `message`
/// what to print: to standard output when the code is 0, to standard error otherwise.
bool parse_or_explain(CLI::App& app, int argc, const char* const* argv,
                      std::optional<int>& exit_code, std::string& message);

/// The --config value, found before CLI11 parses anything: the file must be loaded into the
/// options before the flags are bound to them, so that flags override it. Stops at "--".
std::optional<std::filesystem::path> find_config_flag(const std::vector<std::string>& args);

/// Whether `args` ask for --help (or -h) before any "--": help must work even with a --config
/// file that does not load.
bool asks_for_help(const std::vector<std::string>& args);

}  // namespace fedgan::config
