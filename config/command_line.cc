#include "config/command_line.h"

#include <sstream>

namespace fedgan::config {

std::string list_text(const std::vector<std::string>& values) {
  std::string text;
  for (const std::string& value : values) text += text.empty() ? value : "," + value;
  return "[" + text + "]";
}

bool parse_or_explain(CLI::App& app, int argc, const char* const* argv,
                      std::optional<int>& exit_code, std::string& message) {
  try {
    app.parse(argc, argv);
    return true;
  } catch (const CLI::ParseError& error) {
    std::ostringstream out, err;
    const int code = app.exit(error, out, err);
    exit_code = code == 0 ? 0 : 2;
    message = code == 0 ? out.str() : err.str();
    return false;
  }
}

std::optional<std::filesystem::path> find_config_flag(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--config" && i + 1 < args.size()) return std::filesystem::path(args[i + 1]);
    if (args[i].rfind("--config=", 0) == 0) return std::filesystem::path(args[i].substr(9));
  }
  return std::nullopt;
}

bool asks_for_help(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "-h" || arg == "--help") return true;
  }
  return false;
}

}  // namespace fedgan::config
