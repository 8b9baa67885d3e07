#include "client/config_file.h"

#include "client/error.h"
#include "client/options.h"
#include "tests/client/test_support.h"

#include <gtest/gtest.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace fedgan::client {
namespace {

namespace fs = std::filesystem;

class ConfigFile : public testing::TempDirTest {
 protected:
  fs::path write(const std::string& text, const std::string& name = "client.toml") {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  // The ClientError message load_config_file throws for `text`, or "" when it loads.
  std::string problem(const std::string& text) {
    try {
      load_config_file(write(text));
    } catch (const ClientError& error) {
      return error.what();
    }
    return "";
  }

  CommandLine parse(std::vector<std::string> args) {
    args.insert(args.begin(), "fedgan-client");
    std::vector<const char*> argv;
    for (const auto& arg : args) argv.push_back(arg.c_str());
    return parse_command_line(static_cast<int>(argv.size()), argv.data());
  }
};

constexpr const char* kSite = R"(
[coordinator]
host = "coordinator.example.org"
port = 8443
reconnect_max_seconds = 10
[tls]
ca_file = "pki/ca.pem"
certificate_file = "pki/site-1.pem"
private_key_file = "/etc/fedgan/site-1.key"
[data]
format = "idx"
images = "data/train-images-idx3-ubyte.gz"
labels = "data/train-labels-idx1-ubyte.gz"
partition = "dirichlet:0.3"
clients = 8
client_index = 2
[training]
device = "cpu"
threads = 2
[limits]
max_local_steps = 500
max_learning_rate = 0.001
[state]
dir = "state"
[log]
progress = "never"
)";

TEST_F(ConfigFile, ReadsEveryKeyAndResolvesRelativePathsAgainstTheFile) {
  const ClientOptions o = load_config_file(write(kSite));
  EXPECT_EQ(o.coordinator.host, "coordinator.example.org");
  EXPECT_EQ(o.coordinator.port, 8443);
  EXPECT_EQ(o.coordinator.reconnect_max_seconds, 10.0);
  EXPECT_EQ(o.coordinator.reconnect_initial_seconds, 0.5);  // left out: the default
  EXPECT_EQ(o.tls.ca_file, dir_ / "pki/ca.pem");
  EXPECT_EQ(o.tls.private_key_file, fs::path("/etc/fedgan/site-1.key"));
  EXPECT_EQ(o.data.images, dir_ / "data/train-images-idx3-ubyte.gz");
  EXPECT_EQ(o.data.partition, "dirichlet:0.3");
  EXPECT_EQ(o.data.clients, 8);
  EXPECT_EQ(o.data.client_index, 2);
  EXPECT_EQ(o.training.threads, 2);
  EXPECT_EQ(o.limits.max_local_steps, 500);
  EXPECT_EQ(o.limits.max_learning_rate, 0.001);
  EXPECT_EQ(o.state.dir, dir_ / "state");
  EXPECT_EQ(o.log.progress, Progress::kNever);
  EXPECT_EQ(o.data.format, DataFormat::kIdx);
  EXPECT_NO_THROW(validate(o));
}

TEST_F(ConfigFile, RefusesUnknownSectionsAndKeysWithTheLine) {
  EXPECT_NE(problem("[data]\nformat = \"csv\"\nformats = \"idx\"\n")
                .find("client.toml:3: unknown key data.formats"),
            std::string::npos);
  EXPECT_NE(problem("[training]\n[rounds]\nmax_rounds = 3\n").find("unknown section [rounds]"),
            std::string::npos);
}

TEST_F(ConfigFile, RefusesWrongTypesAndOutOfRangeIntegers) {
  EXPECT_NE(problem("[coordinator]\nport = 70000\n")
                .find("client.toml:2: coordinator.port is 70000: it must be at most 65535"),
            std::string::npos);
  EXPECT_NE(problem("[training]\nseed = -1\n").find("training.seed is -1: it must not be negative"),
            std::string::npos);
  EXPECT_NE(problem("[limits]\nmax_local_steps = \"many\"\n")
                .find("limits.max_local_steps must be an integer, not a string"),
            std::string::npos);
  EXPECT_NE(problem("[data]\ncsv_header = 1\n").find("must be true or false"), std::string::npos);
  EXPECT_NE(problem("[data\n").find("invalid TOML"), std::string::npos);
  EXPECT_NE(problem("").find(""), std::string::npos);
}

TEST_F(ConfigFile, RefusesAMissingFile) {
  EXPECT_THROW(load_config_file(dir_ / "absent.toml"), ClientError);
}

TEST_F(ConfigFile, FlagsOverrideTheFile) {
  const fs::path file = write(kSite);
  const CommandLine line =
      parse({"--config", file.string(), "--limits.max_local_steps", "50", "--coordinator.port",
             "9443", "--data.csv_header", "--training.device=cuda:1"});
  ASSERT_FALSE(line.exit_code) << line.message;
  EXPECT_EQ(line.config_file, file);
  EXPECT_EQ(line.options.limits.max_local_steps, 50);
  EXPECT_EQ(line.options.coordinator.port, 9443);
  EXPECT_TRUE(line.options.data.csv_header);
  EXPECT_EQ(line.options.training.device, "cuda:1");
  EXPECT_EQ(line.options.coordinator.host, "coordinator.example.org");  // from the file
}

TEST_F(ConfigFile, FlagsAloneMakeAConfiguration) {
  const CommandLine line =
      parse({"--tls.ca_file", "ca.pem", "--tls.certificate_file", "site.pem",
             "--tls.private_key_file", "site.key", "--data.format", "mixture"});
  ASSERT_FALSE(line.exit_code) << line.message;
  EXPECT_FALSE(line.config_file);
  EXPECT_EQ(line.options.data.format, DataFormat::kMixture);
  EXPECT_EQ(line.options.tls.ca_file, fs::path("ca.pem"));
}

TEST_F(ConfigFile, InvalidResultIsRefusedByName) {
  try {
    parse({"--config", write(kSite).string(), "--data.client_index", "8"});
    FAIL() << "expected a ClientError";
  } catch (const ClientError& error) {
    EXPECT_NE(std::string(error.what()).find("data.client_index is 8"), std::string::npos);
  }
}

TEST_F(ConfigFile, HelpListsEveryFlagWithItsDefault) {
  const CommandLine line = parse({"--help"});
  ASSERT_TRUE(line.exit_code);
  EXPECT_EQ(*line.exit_code, 0);
  for (const char* text : {"--coordinator.host", "127.0.0.1", "--limits.max_local_steps", "10000",
                           "--state.dir", "client-state", "--data.format", "--log.progress", "auto",
                           "--coordinator.reconnect_max_seconds"}) {
    EXPECT_NE(line.message.find(text), std::string::npos) << text;
  }
}

TEST_F(ConfigFile, UsageErrorsExitWithTwo) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--no-such-flag"},
        std::vector<std::string>{"--training.seed", "-1"},
        std::vector<std::string>{"--limits.max_batch_size", "12abc"}}) {
    const CommandLine line = parse(args);
    ASSERT_TRUE(line.exit_code) << args.front();
    EXPECT_EQ(*line.exit_code, 2);
    EXPECT_FALSE(line.message.empty());
  }
}

TEST_F(ConfigFile, EveryEnumerationNameReadsFromTheFileAndItsFlag) {
  const auto check = [&](const std::string& setting, const std::string& name, auto read) {
    const std::string section = setting.substr(0, setting.find('.'));
    const std::string key = setting.substr(setting.find('.') + 1);
    EXPECT_EQ(read(load_config_file(write("[" + section + "]\n" + key + " = \"" + name + "\"\n"))),
              name)
        << setting;
    ClientOptions flagged;
    CLI::App app;
    add_option_flags(app, flagged);
    const std::string flag = "--" + setting;
    const char* argv[] = {"fedgan-client", flag.c_str(), name.c_str()};
    app.parse(3, argv);
    EXPECT_EQ(read(flagged), name) << setting;
  };
  for (const char* name : {"idx", "png-dir", "csv", "mixture"}) {
    check("data.format", name,
          [](const ClientOptions& o) { return config::enum_name(o.data.format); });
  }
  for (const char* name : {"grid", "ring"}) {
    check("data.mixture", name,
          [](const ClientOptions& o) { return config::enum_name(o.data.mixture); });
  }
  for (const char* name : {"auto", "dcgan", "mlp"}) {
    check("model.architecture", name,
          [](const ClientOptions& o) { return config::enum_name(o.model.architecture); });
  }
  for (const char* name : {"keep", "reset"}) {
    check("training.optimizer_state", name,
          [](const ClientOptions& o) { return config::enum_name(o.training.optimizer_state); });
  }
  for (const char* name : {"auto", "always", "never"}) {
    check("log.progress", name,
          [](const ClientOptions& o) { return config::enum_name(o.log.progress); });
  }
}

TEST_F(ConfigFile, UnknownEnumerationNamesAreRefusedWithTheNames) {
  EXPECT_NE(
      problem("[data]\nformat = \"jpeg\"\n")
          .find(R"(client.toml:2: data.format is "jpeg": it must be one of "idx", "png-dir", )"
                R"("csv", "mixture")"),
      std::string::npos);
  EXPECT_NE(problem("[data]\nmixture = \"spiral\"\n").find(R"(data.mixture is "spiral")"),
            std::string::npos);
  EXPECT_NE(
      problem("[model]\narchitecture = \"resnet\"\n")
          .find(R"(model.architecture is "resnet": it must be one of "auto", "dcgan", "mlp")"),
      std::string::npos);
  EXPECT_NE(problem("[log]\nprogress = \"sometimes\"\n").find("log.progress"), std::string::npos);
  // A format must be chosen: "" is no format's name.
  EXPECT_NE(problem("[data]\nformat = \"\"\n").find(R"(data.format is "": it must be one of)"),
            std::string::npos);
  const CommandLine line = parse({"--training.optimizer_state", "forget"});
  ASSERT_TRUE(line.exit_code);
  EXPECT_EQ(*line.exit_code, 2);
  EXPECT_NE(line.message.find(R"(training.optimizer_state is "forget": it must be one of "keep", )"
                              R"("reset")"),
            std::string::npos)
      << line.message;
}

TEST(ExampleConfigs, EveryExampleClientConfigLoadsAndValidates) {
  size_t examples = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(FEDGAN_SOURCE_DIR) / "examples")) {
    const auto file = entry.path() / "client.toml";
    if (!fs::exists(file)) continue;
    ++examples;
    EXPECT_NO_THROW(validate(load_config_file(file))) << file;
  }
  EXPECT_GE(examples, 2u);
}

}  // namespace
}  // namespace fedgan::client
