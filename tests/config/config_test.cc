#include "config/command_line.h"
#include "config/toml_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fedgan::config {
namespace {

namespace fs = std::filesystem;

struct Settings {
  struct Net {
    std::string host = "localhost";
    uint16_t port = 7443;
    bool verbose = false;
  } net;
  struct Work {
    int32_t level = -1;
    uint64_t rows = 10;
    double rate = 0.5;
    fs::path dir = "out";
    std::vector<std::string> names = {"a"};
  } work;
};

template <typename Options, typename Visitor>
void for_each_field(Options& o, Visitor&& visit) {
  visit("net", "host", o.net.host, "Host");
  visit("net", "port", o.net.port, "Port");
  visit("net", "verbose", o.net.verbose, "Verbose");
  visit("work", "level", o.work.level, "Level");
  visit("work", "rows", o.work.rows, "Rows");
  visit("work", "rate", o.work.rate, "Rate");
  visit("work", "dir", o.work.dir, "Directory");
  visit("work", "names", o.work.names, "Names");
}

constexpr auto kFields = [](auto& options, auto&& visit) { for_each_field(options, visit); };

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fedgan_config_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text) {
    const fs::path file = dir_ / "settings.toml";
    std::ofstream(file) << text;
    return file;
  }

  // The message of the ConfigError that reading `text` raises, or "" when it reads.
  std::string error_of(const std::string& text) {
    Settings settings;
    try {
      read_toml_file(write(text), settings, kFields);
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(ConfigTest, ReadsEveryFieldTypeOverTheDefaults) {
  Settings settings;
  read_toml_file(write("[net]\nport = 9000\nverbose = true\n"
                       "[work]\nlevel = -7\nrate = 2\ndir = \"sub/../data\"\n"
                       "names = [\"x\", \"y\"]\n"),
                 settings, kFields);
  EXPECT_EQ(settings.net.host, "localhost");  // absent: the default stays
  EXPECT_EQ(settings.net.port, 9000);
  EXPECT_TRUE(settings.net.verbose);
  EXPECT_EQ(settings.work.level, -7);
  EXPECT_EQ(settings.work.rows, 10u);
  EXPECT_DOUBLE_EQ(settings.work.rate, 2.0);    // an integer is a number too
  EXPECT_EQ(settings.work.dir, dir_ / "data");  // relative to the file, normalised
  EXPECT_EQ(settings.work.names, (std::vector<std::string>{"x", "y"}));
}

TEST_F(ConfigTest, RefusesIntegersOutsideTheFieldsRange) {
  EXPECT_EQ(error_of("[net]\nport = 70000\n"),
            (dir_ / "settings.toml").string() + ":2: net.port is 70000: it must be at most 65535");
  EXPECT_NE(error_of("[work]\nrows = -1\n").find("work.rows is -1: it must not be negative"),
            std::string::npos);
  // A signed field narrower than TOML's 64-bit integers is range-checked as well, not wrapped.
  EXPECT_NE(error_of("[work]\nlevel = 4294967296\n")
                .find("work.level is 4294967296: it must be in [-2147483648, 2147483647]"),
            std::string::npos);
}

TEST_F(ConfigTest, RefusesWrongTypesUnknownKeysAndSections) {
  EXPECT_NE(error_of("[net]\nhost = 3\n").find(":2: net.host must be a string, not an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[work]\nnames = [\"x\", 2]\n")
                .find("work.names must be an array of strings; element 2 is an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[net]\nprot = 1\n")
                .find(":2: unknown key net.prot (the keys of [net] are host, port, verbose)"),
            std::string::npos);
  EXPECT_NE(error_of("[nett]\n").find("unknown section [nett] (the sections are net, work)"),
            std::string::npos);
  EXPECT_NE(error_of("net = 1\n").find("net must be a table ([net]), not an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[net\n").find("invalid TOML"), std::string::npos);
}

TEST_F(ConfigTest, RefusesAMissingOrOversizedFile) {
  Settings settings;
  EXPECT_THROW(read_toml_file(dir_ / "absent.toml", settings, kFields), ConfigError);
  EXPECT_NE(
      error_of(std::string(kMaxConfigFileBytes + 1, '#')).find("is larger than 1048576 bytes"),
      std::string::npos);
  EXPECT_EQ(error_of(std::string(kMaxConfigFileBytes, '#')), "");  // exactly the limit reads
}

TEST_F(ConfigTest, FlagsOverrideTheFileAndAreDecimalOnly) {
  Settings settings;
  read_toml_file(write("[net]\nport = 9000\n[work]\nnames = [\"x\"]\n"), settings, kFields);
  CLI::App app;
  add_field_flags(app, settings, kFields);
  const char* argv[] = {"prog", "--net.host",  "example.org", "--work.names",
                        "",     "--work.rows", "0012"};
  std::optional<int> exit_code;
  std::string message;
  ASSERT_TRUE(parse_or_explain(app, 7, argv, exit_code, message)) << message;
  EXPECT_EQ(settings.net.host, "example.org");
  EXPECT_EQ(settings.net.port, 9000);        // from the file, no flag
  EXPECT_TRUE(settings.work.names.empty());  // "" empties the list
  EXPECT_EQ(settings.work.rows, 12u);        // leading zeros are decimal, not octal

  for (const char* bad : {"-1", "0x10", "70000", ""}) {
    Settings fresh;
    CLI::App again;
    add_field_flags(again, fresh, kFields);
    const char* args[] = {"prog", "--net.port", bad};
    EXPECT_FALSE(parse_or_explain(again, 3, args, exit_code, message)) << bad;
    EXPECT_EQ(exit_code, 2) << bad;
    EXPECT_NE(message.find("is not a decimal integer in [0, 65535]"), std::string::npos) << message;
  }
}

TEST_F(ConfigTest, HelpAndTheConfigFlagAreFoundBeforeParsing) {
  EXPECT_EQ(find_config_flag({"--net.port", "1", "--config", "a.toml"}), fs::path("a.toml"));
  EXPECT_EQ(find_config_flag({"--config=b.toml"}), fs::path("b.toml"));
  EXPECT_EQ(find_config_flag({"--", "--config", "c.toml"}), std::nullopt);
  EXPECT_TRUE(asks_for_help({"--config", "broken.toml", "-h"}));
  EXPECT_FALSE(asks_for_help({"--", "--help"}));

  Settings settings;
  CLI::App app{"prog: does things", "prog"};
  add_field_flags(app, settings, kFields);
  const char* argv[] = {"prog", "--help"};
  std::optional<int> exit_code;
  std::string message;
  EXPECT_FALSE(parse_or_explain(app, 2, argv, exit_code, message));
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(message.find("--net.verbose"), std::string::npos) << message;
  EXPECT_NE(message.find("(default false; --net.verbose=false turns it off)"), std::string::npos);
}

}  // namespace
}  // namespace fedgan::config
