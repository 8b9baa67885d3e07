#include "coordinator/config_file.h"

#include "coordinator/error.h"
#include "coordinator/options.h"

#include <gtest/gtest.h>

#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace fedgan::coordinator {
namespace {

namespace fs = std::filesystem;

// A private directory, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string name = (fs::temp_directory_path() / "fedgan-config-test-XXXXXX").string();
    path_ = mkdtemp(name.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  fs::path operator/(const fs::path& name) const { return path_ / name; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

fs::path write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string load_error(const fs::path& file) {
  try {
    load_config_file(file);
  } catch (const CoordinatorError& error) {
    return error.what();
  }
  return "";
}

CommandLine parse(std::vector<std::string> args) {
  args.insert(args.begin(), "fedgan-coordinator");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// What Python prints for `expression` over `json` parsed as `d`; nullopt (and a test failure
// showing Python's complaint) when `json` is not valid JSON. Skips the test without Python.
std::optional<std::string> python(const ScratchDir& dir, const std::string& json,
                                  const std::string& expression) {
  const fs::path file = write_file(dir / "value.json", json);
  const std::string command =
      "PYTHONIOENCODING=utf-8 /usr/bin/python3 -c 'import json, sys; d = "
      "json.load(open(sys.argv[1], "
      "encoding=\"utf-8\")); print((" +
      expression + "))' " + file.string() + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  if (pclose(pipe) != 0) {
    ADD_FAILURE() << "python3 could not read the JSON: " << output << "\n" << json;
    return std::nullopt;
  }
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

// Every key of every section, none at its default.
constexpr const char* kCompleteFile = R"toml(# A coordinator configuration with every key.
[server]
bind_address = "0.0.0.0"
port = 9443
max_connections = 128
allowed_identities = ["site-1", "site-2"]
handshake_timeout_seconds = 5
idle_timeout_seconds = 90.5
frame_timeout_seconds = 30
heartbeat_interval_seconds = 10

[tls]
ca_file = "/pki/ca.pem"
certificate_file = "/pki/coordinator.pem"
private_key_file = "/pki/coordinator.key"
crl_file = "/pki/ca.crl"
allow_tls12 = true

[rounds]
min_clients = 4
fraction = 0.5
min_per_round = 2
max_per_round = 8
quorum = 2
deadline_seconds = 120
max_rounds = 100
max_attempts = 3
seed = 42

[model]
architecture = "mlp"
federate = "generator"
init_checkpoint = "/models/init.pt"
init_seed = 7
codec = "fp16"

[training]
local_steps = 20
batch_size = 100
lr_generator = 1e-4
lr_discriminator = 3e-4
beta1 = 0.0
beta2 = 0.9
loss = "wgan-gp"
n_critic = 5

[aggregation]
weighting = "uniform"
max_samples_per_update = 5000
server_lr = 0.5
server_lr_decay = "linear"
norm_bound = "fixed"
max_delta_norm = 25.0
norm_policy = "reject"
min_samples = 10
max_samples = 60000

[storage]
database = "/var/lib/fedgan/fedgan.db"
checkpoint_dir = "/var/lib/fedgan/checkpoints"
run_id = "ring-fedavg"
keep_last = 5
keep_every = 0

[evaluation]
every_rounds = 5
dataset = "ring"
data_dir = "/data/fashion-mnist"
cache_dir = "/var/cache/fedgan"
samples = 2500
threads = 4
)toml";

TEST(ConfigFile, LoadsEveryField) {
  ScratchDir dir;
  const CoordinatorOptions o = load_config_file(write_file(dir / "c.toml", kCompleteFile));
  EXPECT_EQ(o.server.bind_address, "0.0.0.0");
  EXPECT_EQ(o.server.port, 9443);
  EXPECT_EQ(o.server.max_connections, 128u);
  EXPECT_EQ(o.server.allowed_identities, (std::vector<std::string>{"site-1", "site-2"}));
  EXPECT_EQ(o.server.handshake_timeout_seconds, 5);
  EXPECT_EQ(o.server.idle_timeout_seconds, 90.5);
  EXPECT_EQ(o.server.frame_timeout_seconds, 30);
  EXPECT_EQ(o.server.heartbeat_interval_seconds, 10);
  EXPECT_EQ(o.tls.ca_file, "/pki/ca.pem");
  EXPECT_EQ(o.tls.certificate_file, "/pki/coordinator.pem");
  EXPECT_EQ(o.tls.private_key_file, "/pki/coordinator.key");
  EXPECT_EQ(o.tls.crl_file, "/pki/ca.crl");
  EXPECT_TRUE(o.tls.allow_tls12);
  EXPECT_EQ(o.rounds.min_clients, 4u);
  EXPECT_EQ(o.rounds.fraction, 0.5);
  EXPECT_EQ(o.rounds.min_per_round, 2u);
  EXPECT_EQ(o.rounds.max_per_round, 8u);
  EXPECT_EQ(o.rounds.quorum, 2u);
  EXPECT_EQ(o.rounds.deadline_seconds, 120);
  EXPECT_EQ(o.rounds.max_rounds, 100);
  EXPECT_EQ(o.rounds.max_attempts, 3);
  EXPECT_EQ(o.rounds.seed, 42u);
  EXPECT_EQ(o.model.architecture, Architecture::kMlp);
  EXPECT_EQ(o.model.federate, Federate::kGenerator);
  EXPECT_EQ(o.model.init_checkpoint, "/models/init.pt");
  EXPECT_EQ(o.model.init_seed, 7u);
  EXPECT_EQ(o.model.codec, ModelCodec::kFp16);
  EXPECT_EQ(o.training.local_steps, 20);
  EXPECT_EQ(o.training.batch_size, 100);
  EXPECT_EQ(o.training.lr_generator, 1e-4);
  EXPECT_EQ(o.training.lr_discriminator, 3e-4);
  EXPECT_EQ(o.training.beta1, 0.0);
  EXPECT_EQ(o.training.beta2, 0.9);
  EXPECT_EQ(o.training.loss, Loss::kWassersteinGp);
  EXPECT_EQ(o.training.n_critic, 5);
  EXPECT_EQ(o.aggregation.weighting, UpdateWeighting::kUniform);
  EXPECT_EQ(o.aggregation.max_samples_per_update, 5000u);
  EXPECT_EQ(o.aggregation.server_lr, 0.5);
  EXPECT_EQ(o.aggregation.server_lr_decay, LrDecay::kLinear);
  EXPECT_EQ(o.aggregation.norm_bound, NormBoundKind::kFixed);
  EXPECT_EQ(o.aggregation.max_delta_norm, 25.0);
  EXPECT_EQ(o.aggregation.norm_policy, NormPolicy::kReject);
  EXPECT_EQ(o.aggregation.min_samples, 10u);
  EXPECT_EQ(o.aggregation.max_samples, 60000u);
  EXPECT_EQ(o.storage.database, "/var/lib/fedgan/fedgan.db");
  EXPECT_EQ(o.storage.checkpoint_dir, "/var/lib/fedgan/checkpoints");
  EXPECT_EQ(o.storage.run_id, "ring-fedavg");
  EXPECT_EQ(o.storage.keep_last, 5);
  EXPECT_EQ(o.storage.keep_every, 0);
  EXPECT_EQ(o.evaluation.every_rounds, 5);
  EXPECT_EQ(o.evaluation.dataset, EvaluationDataset::kRing);
  EXPECT_EQ(o.evaluation.data_dir, "/data/fashion-mnist");
  EXPECT_EQ(o.evaluation.cache_dir, "/var/cache/fedgan");
  EXPECT_EQ(o.evaluation.samples, 2500);
  EXPECT_EQ(o.evaluation.threads, 4);
  EXPECT_NO_THROW(validate(o));
}

// docs/configuration.md shows the complete file at its defaults: every key, every default.
TEST(ConfigFile, TheDocumentedFileHasEveryKeyAtItsDefault) {
  std::ifstream in(fs::path(FEDGAN_SOURCE_DIR) / "docs" / "configuration.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t begin = doc.find("```toml\n", doc.find("## Coordinator"));
  ASSERT_NE(begin, std::string::npos);
  const size_t end = doc.find("```\n", begin + 8);
  ASSERT_NE(end, std::string::npos);
  const std::string toml = doc.substr(begin + 8, end - begin - 8);
  size_t keys = 0;
  std::istringstream lines(toml);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != '#' && line[0] != '[') ++keys;
  }
  EXPECT_EQ(keys, 75u);

  ScratchDir dir;
  const CoordinatorOptions documented = load_config_file(write_file(dir / "doc.toml", toml));
  CoordinatorOptions expected;  // the defaults, relative paths resolved as in a file
  const fs::path base = fs::absolute(dir.path());
  expected.storage.database = base / expected.storage.database;
  expected.storage.checkpoint_dir = base / expected.storage.checkpoint_dir;
  expected.evaluation.cache_dir = base / expected.evaluation.cache_dir;
  EXPECT_EQ(to_json(documented), to_json(expected));
}

TEST(ConfigFile, MissingKeysKeepTheirDefaults) {
  ScratchDir dir;
  EXPECT_EQ(to_json(load_config_file(write_file(dir / "empty.toml", ""))),
            to_json(CoordinatorOptions()));
  const CoordinatorOptions o =
      load_config_file(write_file(dir / "some.toml", "[rounds]\nmin_clients = 5\n"));
  EXPECT_EQ(o.rounds.min_clients, 5u);
  EXPECT_EQ(o.rounds.fraction, 1.0);
  EXPECT_EQ(o.server.port, 7443);
}

TEST(ConfigFile, UnknownKeysAndSectionsAreRefusedWithTheirLine) {
  ScratchDir dir;
  EXPECT_EQ(load_error(write_file(dir / "a.toml", "[rounds]\nmin_clients = 3\nmin_client = 3\n")),
            (dir / "a.toml").string() +
                ":3: unknown key rounds.min_client (the keys of [rounds] are min_clients, "
                "fraction, min_per_round, max_per_round, quorum, deadline_seconds, max_rounds, "
                "max_attempts, seed)");
  const std::string section = load_error(write_file(dir / "b.toml", "\n\n[round]\nquorum = 1\n"));
  EXPECT_NE(section.find("b.toml:3: unknown section [round] (the sections are server, tls"),
            std::string::npos)
      << section;
  const std::string dotted = load_error(write_file(dir / "c.toml", "server.portt = 1\n"));
  EXPECT_NE(dotted.find("c.toml:1: unknown key server.portt"), std::string::npos) << dotted;
  const std::string not_table = load_error(write_file(dir / "d.toml", "tls = true\n"));
  EXPECT_NE(not_table.find("d.toml:1: tls must be a table"), std::string::npos) << not_table;
}

TEST(ConfigFile, WrongTypesAreRefusedWithKeyAndLine) {
  ScratchDir dir;
  const auto error = [&](const std::string& text) {
    return load_error(write_file(dir / "t.toml", text));
  };
  EXPECT_NE(error("[rounds]\n\nmin_clients = \"3\"\n")
                .find("t.toml:3: rounds.min_clients must be an integer, not a string"),
            std::string::npos);
  EXPECT_NE(error("[rounds]\nfraction = \"half\"\n")
                .find("t.toml:2: rounds.fraction must be a number, not a string"),
            std::string::npos);
  EXPECT_NE(error("[tls]\nallow_tls12 = 1\n")
                .find("t.toml:2: tls.allow_tls12 must be true or false, not an integer"),
            std::string::npos);
  EXPECT_NE(error("[model]\narchitecture = 3.5\n")
                .find("t.toml:2: model.architecture must be a string, not a float"),
            std::string::npos);
  EXPECT_NE(error("[server]\nallowed_identities = \"site-1\"\n")
                .find("server.allowed_identities must be an array of strings, not a string"),
            std::string::npos);
  EXPECT_NE(error("[server]\nallowed_identities = [\n  \"site-1\",\n  2,\n]\n")
                .find("t.toml:4: server.allowed_identities must be an array of strings; element 2 "
                      "is an integer"),
            std::string::npos);
  EXPECT_NE(error("[rounds]\nmax_rounds = 1.5\n").find("rounds.max_rounds must be an integer"),
            std::string::npos);
}

TEST(ConfigFile, IntegersOutOfRangeAreRefused) {
  ScratchDir dir;
  const auto error = [&](const std::string& text) {
    return load_error(write_file(dir / "r.toml", text));
  };
  EXPECT_NE(error("[server]\nport = 70000\n")
                .find("r.toml:2: server.port is 70000: it must be at most 65535"),
            std::string::npos);
  EXPECT_NE(error("[rounds]\nmin_clients = -1\n")
                .find("r.toml:2: rounds.min_clients is -1: it must not be negative"),
            std::string::npos);
  EXPECT_NE(error("[aggregation]\nmax_samples = -5\n").find("aggregation.max_samples is -5"),
            std::string::npos);
  // Beyond 64 bits is a TOML error, reported with its line too.
  EXPECT_NE(error("\n[rounds]\nseed = 99999999999999999999\n").find("r.toml:3:"),
            std::string::npos);
  // Negative values of signed fields load; validate() refuses them by name.
  const CoordinatorOptions o =
      load_config_file(write_file(dir / "s.toml", "[storage]\nkeep_last = -2\n"));
  EXPECT_EQ(o.storage.keep_last, -2);
}

TEST(ConfigFile, InvalidTomlIsRefusedWithItsLine) {
  ScratchDir dir;
  const std::string unclosed = load_error(write_file(dir / "x.toml", "# one\n[rounds\n"));
  EXPECT_NE(unclosed.find("x.toml:2: invalid TOML"), std::string::npos) << unclosed;
  const std::string twice =
      load_error(write_file(dir / "y.toml", "[rounds]\nquorum = 1\nquorum = 2\n"));
  EXPECT_NE(twice.find("y.toml:3: invalid TOML"), std::string::npos) << twice;
}

TEST(ConfigFile, UnreadableMissingAndHugeFilesAreRefused) {
  ScratchDir dir;
  EXPECT_NE(load_error(dir / "missing.toml").find("no such file"), std::string::npos);
  EXPECT_NE(load_error(dir.path()).find("is not a regular file"), std::string::npos);
  std::string huge = "# padding\n";
  huge.resize(kMaxConfigFileBytes + 1, '#');
  EXPECT_NE(load_error(write_file(dir / "huge.toml", huge)).find("is larger than 1048576 bytes"),
            std::string::npos);
}

TEST(ConfigFile, RelativePathsAreResolvedAgainstTheFilesDirectory) {
  ScratchDir dir;
  const fs::path file = write_file(dir / "etc" / "coordinator.toml", R"toml(
[tls]
ca_file = "pki/ca.pem"
certificate_file = "../certs/coordinator.pem"
private_key_file = "/abs/coordinator.key"
crl_file = ""
[storage]
database = "fedgan.db"
)toml");
  const CoordinatorOptions o = load_config_file(file);
  const fs::path etc = fs::absolute(dir / "etc");
  EXPECT_EQ(o.tls.ca_file, etc / "pki" / "ca.pem");
  EXPECT_EQ(o.tls.certificate_file, fs::absolute(dir.path()) / "certs" / "coordinator.pem");
  EXPECT_EQ(o.tls.private_key_file, "/abs/coordinator.key");
  EXPECT_TRUE(o.tls.crl_file.empty());
  EXPECT_EQ(o.storage.database, etc / "fedgan.db");
  // Keys the file does not set keep their defaults, relative to the working directory.
  EXPECT_EQ(o.storage.checkpoint_dir, "checkpoints");
}

TEST(ConfigCommandLine, FlagsOverrideTheFileWhichOverridesTheDefaults) {
  ScratchDir dir;
  const fs::path file = write_file(dir / "c.toml", kCompleteFile);
  const CommandLine line = parse({"serve", "--config", file.string(), "--rounds.min_clients", "6",
                                  "--training.loss=hinge", "--server.allowed_identities", "a", "b",
                                  "c", "--tls.allow_tls12=false"});
  ASSERT_FALSE(line.exit_code) << line.message;
  EXPECT_EQ(line.command, "serve");
  EXPECT_EQ(line.config_file, file);
  EXPECT_EQ(line.options.rounds.min_clients, 6u);         // flag
  EXPECT_EQ(line.options.training.loss, Loss::kHinge);    // flag
  EXPECT_EQ(line.options.rounds.max_per_round, 8u);       // file
  EXPECT_EQ(line.options.storage.run_id, "ring-fedavg");  // file
  EXPECT_EQ(line.options.server.allowed_identities, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(line.options.tls.allow_tls12);

  const CommandLine defaults = parse({"history", "--storage.run_id", "r7"});
  ASSERT_FALSE(defaults.exit_code) << defaults.message;
  EXPECT_EQ(defaults.options.storage.run_id, "r7");
  EXPECT_EQ(defaults.options.rounds.min_clients, 2u);  // default
  EXPECT_FALSE(defaults.config_file);

  const CommandLine cleared =
      parse({"status", "--config=" + file.string(), "--server.allowed_identities", ""});
  ASSERT_FALSE(cleared.exit_code) << cleared.message;
  EXPECT_TRUE(cleared.options.server.allowed_identities.empty());
}

TEST(ConfigCommandLine, HistoryAndStatusTakeJsonAndLast) {
  const CommandLine history = parse({"history", "--json", "--last", "3"});
  ASSERT_FALSE(history.exit_code) << history.message;
  EXPECT_EQ(history.command, "history");
  EXPECT_TRUE(history.json);
  EXPECT_EQ(history.limit, 3);
  const CommandLine status = parse({"status"});
  ASSERT_FALSE(status.exit_code) << status.message;
  EXPECT_EQ(status.command, "status");
  EXPECT_FALSE(status.json);
  EXPECT_FALSE(status.limit);
  EXPECT_EQ(parse({"history", "--last", "0"}).exit_code, 2);
  EXPECT_EQ(parse({"status", "--last", "2"}).exit_code, 2);
  EXPECT_EQ(parse({"serve", "--json"}).exit_code, 2);
}

TEST(ConfigCommandLine, HelpShowsEveryFlagWithItsDefaultAndExitsZero) {
  const CommandLine help = parse({"serve", "--help"});
  ASSERT_EQ(help.exit_code, 0);
  EXPECT_TRUE(help.command.empty());
  EXPECT_NE(help.message.find("--rounds.min_clients UINT=2"), std::string::npos) << help.message;
  EXPECT_NE(help.message.find("Connected clients needed before a round starts"), std::string::npos);
  EXPECT_NE(help.message.find("--storage.database TEXT=fedgan.db"), std::string::npos);
  EXPECT_NE(help.message.find("--training.lr_generator FLOAT=0.0002"), std::string::npos);
  EXPECT_NE(help.message.find("(default false"), std::string::npos);
  EXPECT_NE(help.message.find("\nrounds:\n"), std::string::npos);  // grouped by section
  EXPECT_NE(help.message.find("--config"), std::string::npos);
  const CommandLine top = parse({"--help"});
  ASSERT_EQ(top.exit_code, 0);
  EXPECT_NE(top.message.find("history"), std::string::npos);
  EXPECT_NE(parse({"history", "-h"}).message.find("--last"), std::string::npos);
  // --help works even with a --config file that would not load.
  EXPECT_EQ(parse({"status", "--config", "/nonexistent.toml", "--help"}).exit_code, 0);
}

TEST(ConfigCommandLine, UsageErrorsExitWithTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"train"},
           {"serve", "--rounds.min_clientz", "3"},
           {"history", "--rounds.min_clients", "-1"},
           {"history", "--rounds.min_clients", "three"},
           {"history", "--server.port", "65536"},
           {"history", "--rounds.fraction", "half"},
           {"history", "--storage.run_id"},
       }) {
    const CommandLine line = parse(args);
    EXPECT_EQ(line.exit_code, 2) << ::testing::PrintToString(args);
    EXPECT_FALSE(line.message.empty());
  }
  const CommandLine negative = parse({"history", "--rounds.min_clients", "-1"});
  EXPECT_NE(negative.message.find("--rounds.min_clients"), std::string::npos) << negative.message;
  // Integers are decimal: a leading zero is not octal.
  EXPECT_EQ(parse({"history", "--server.port", "010"}).options.server.port, 10);
}

TEST(ConfigCommandLine, InvalidValuesAndBadFilesThrow) {
  EXPECT_THROW(parse({"serve"}), CoordinatorError);  // no TLS files
  try {
    parse({"serve", "--tls.ca_file", "ca", "--tls.certificate_file", "c", "--tls.private_key_file",
           "k", "--rounds.fraction", "2"});
    ADD_FAILURE() << "no error";
  } catch (const CoordinatorError& error) {
    EXPECT_NE(std::string(error.what()).find("rounds.fraction is 2"), std::string::npos);
  }
  EXPECT_THROW(parse({"history", "--storage.run_id", ""}), CoordinatorError);
  EXPECT_THROW(parse({"history", "--config", "/nonexistent/fedgan.toml"}), CoordinatorError);
}

TEST(ConfigJson, IsValidJsonWithEveryValue) {
  ScratchDir dir;
  CoordinatorOptions o = load_config_file(write_file(dir / "c.toml", kCompleteFile));
  o.storage.run_id = "quote\" backslash\\ newline\n tab\t bell\x07 é";
  o.server.allowed_identities = {"bad\xff utf-8", "ok"};
  const std::string json = to_json(o);
  const auto value = [&](const std::string& expression) {
    return python(dir, json, expression).value_or("<invalid JSON>");
  };
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3 to parse JSON";
  EXPECT_EQ(value("sorted(d)"),
            "['aggregation', 'evaluation', 'model', 'rounds', 'server', 'storage', 'tls', "
            "'training']");
  EXPECT_EQ(value("sum(len(s) for s in d.values())"), "75");  // every field
  EXPECT_EQ(value("d[\"server\"][\"port\"], d[\"rounds\"][\"fraction\"]"), "(9443, 0.5)");
  EXPECT_EQ(value("d[\"rounds\"][\"deadline_seconds\"]"), "120.0");  // doubles stay floats
  EXPECT_EQ(value("d[\"training\"][\"lr_generator\"] == 1e-4"), "True");
  EXPECT_EQ(value("d[\"tls\"][\"allow_tls12\"], d[\"tls\"][\"ca_file\"]"), "(True, '/pki/ca.pem')");
  EXPECT_EQ(value("repr(d[\"storage\"][\"run_id\"])"),
            "'quote\" backslash\\\\ newline\\n tab\\t bell\\x07 é'");
  EXPECT_EQ(value("d[\"server\"][\"allowed_identities\"]"), "['bad\ufffd utf-8', 'ok']");
}

TEST(ConfigJson, QuotesStrings) {
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_number(300), "300.0");
  EXPECT_EQ(json_number(2e-4), "0.0002");
  EXPECT_EQ(json_number(1e-10), "1e-10");
  EXPECT_EQ(json_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_quote("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
  EXPECT_EQ(json_quote("\xc3\xa9"), "\"\xc3\xa9\"");  // é passes through
  // nlohmann-json writes U+FFFD as the character (UTF-8 EF BF BD), not as the escape \ufffd.
  EXPECT_EQ(json_quote("\xc3"), "\"\xef\xbf\xbd\"");  // truncated sequence
  EXPECT_EQ(json_quote("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // a surrogate
}

TEST(ConfigJson, WritesEnumerationsByTheirNames) {
  ScratchDir dir;
  const CoordinatorOptions o = load_config_file(write_file(dir / "c.toml", kCompleteFile));
  const std::string json = to_json(o);
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3 to parse JSON";
  EXPECT_EQ(python(dir, json,
                   "d[\"model\"][\"architecture\"], d[\"model\"][\"federate\"], "
                   "d[\"model\"][\"codec\"], d[\"training\"][\"loss\"], "
                   "d[\"aggregation\"][\"norm_bound\"], d[\"evaluation\"][\"dataset\"]"),
            "('mlp', 'generator', 'fp16', 'wgan-gp', 'fixed', 'ring')");
  // The defaults, by name as well.
  EXPECT_EQ(python(dir, to_json(CoordinatorOptions{}),
                   "d[\"training\"][\"optimizer\"], d[\"training\"][\"networks\"], "
                   "d[\"aggregation\"][\"server_optimizer\"], d[\"aggregation\"][\"norm_policy\"]"),
            "('adam', 'both', 'sgd', 'clip')");
}

// Each enumerated setting: every one of its names reads from the file and from its flag, and
// comes back by the same name in the JSON.
TEST(ConfigFile, EveryEnumerationNameRoundTrips) {
  ScratchDir dir;
  const std::vector<std::pair<std::string, std::vector<std::string>>> settings = {
      {"model.architecture", {"dcgan", "mlp"}},
      {"model.federate", {"both", "generator"}},
      {"model.codec", {"fp32", "fp16"}},
      {"training.optimizer", {"adam", "sgd"}},
      {"training.loss", {"ns", "hinge", "wgan-gp"}},
      {"training.networks", {"both", "alternate"}},
      {"aggregation.weighting", {"samples", "uniform"}},
      {"aggregation.server_optimizer", {"sgd", "adam"}},
      {"aggregation.server_lr_decay", {"none", "linear"}},
      {"aggregation.norm_bound", {"adaptive", "fixed", "none"}},
      {"aggregation.norm_policy", {"reject", "clip"}},
      {"evaluation.dataset", {"fashion-mnist", "grid", "ring"}},
  };
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "no /usr/bin/python3 to parse JSON";
  for (const auto& [setting, names] : settings) {
    const std::string section = setting.substr(0, setting.find('.'));
    const std::string key = setting.substr(setting.find('.') + 1);
    const std::string expression = "d[\"" + section + "\"][\"" + key + "\"]";
    for (const std::string& name : names) {
      const fs::path file =
          write_file(dir / "e.toml", "[" + section + "]\n" + key + " = \"" + name + "\"\n");
      EXPECT_EQ(python(dir, to_json(load_config_file(file)), expression), name) << setting;
      const CommandLine line = parse({"history", "--" + setting, name});
      ASSERT_FALSE(line.exit_code) << line.message;
      EXPECT_EQ(python(dir, to_json(line.options), expression), name) << setting;
    }
  }
}

TEST(ConfigFile, UnknownEnumerationNamesAreRefusedWithTheNames) {
  ScratchDir dir;
  const fs::path file = write_file(dir / "e.toml", "[model]\ncodec = \"bf16\"\n");
  EXPECT_EQ(load_error(file),
            file.string() + R"(:2: model.codec is "bf16": it must be one of "fp32", "fp16")");
  const CommandLine flag = parse({"history", "--aggregation.norm_policy", "drop"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_NE(flag.message.find(R"(aggregation.norm_policy is "drop": it must be one of "reject", )"
                              R"("clip")"),
            std::string::npos)
      << flag.message;
  // --help lists the names.
  const CommandLine help = parse({"serve", "--help"});
  EXPECT_NE(help.message.find("{adaptive,fixed,none,round_median}"), std::string::npos)
      << help.message;
  EXPECT_NE(
      help.message.find(
          "{fedavg,median,trimmed_mean,multi_krum,bulyan,geometric_median,centered_clipping}"),
      std::string::npos)
      << help.message;
  EXPECT_NE(help.message.find("{fashion-mnist,grid,ring}"), std::string::npos) << help.message;
}

TEST(ExampleConfigs, EveryExampleCoordinatorConfigLoadsAndValidates) {
  size_t examples = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(FEDGAN_SOURCE_DIR) / "examples")) {
    const auto file = entry.path() / "coordinator.toml";
    if (!std::filesystem::exists(file)) continue;
    ++examples;
    EXPECT_NO_THROW(validate(load_config_file(file))) << file;
  }
  EXPECT_GE(examples, 2u);
}

}  // namespace
}  // namespace fedgan::coordinator
