#include "coordinator/options.h"

#include "coordinator/config_file.h"
#include "coordinator/error.h"
#include "pki/identity.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace fedgan::coordinator {
namespace {

// The defaults with the three TLS files named: the smallest configuration that serves.
CoordinatorOptions servable() {
  CoordinatorOptions options;
  options.tls.ca_file = "ca.pem";
  options.tls.certificate_file = "coordinator.pem";
  options.tls.private_key_file = "coordinator.key";
  return options;
}

// The message validate() throws after `change` is applied to servable(), or "" when it passes.
std::string error_after(const std::function<void(CoordinatorOptions&)>& change) {
  CoordinatorOptions options = servable();
  change(options);
  try {
    validate(options);
  } catch (const CoordinatorError& error) {
    return error.what();
  }
  return "";
}

#define EXPECT_REFUSED(change, expected)                             \
  do {                                                               \
    const std::string message = error_after(change);                 \
    EXPECT_NE(message.find(expected), std::string::npos) << message; \
  } while (false)

TEST(Options, DefaultsWithTlsFilesValidate) {
  EXPECT_NO_THROW(validate(servable()));
  EXPECT_NO_THROW(validate_storage(CoordinatorOptions().storage));
}

TEST(Options, TlsFilesMustBeNamed) {
  EXPECT_EQ(error_after([](auto&) {}), "");
  EXPECT_THROW(validate(CoordinatorOptions()), CoordinatorError);
  EXPECT_REFUSED([](auto& o) { o.tls.ca_file.clear(); }, "tls.ca_file is empty");
  EXPECT_REFUSED([](auto& o) { o.tls.certificate_file.clear(); }, "tls.certificate_file");
  EXPECT_REFUSED([](auto& o) { o.tls.private_key_file.clear(); }, "tls.private_key_file");
  EXPECT_EQ(error_after([](auto& o) { o.tls.crl_file.clear(); }), "");  // optional
}

TEST(Options, NonPositiveAndNonFiniteDurationsAreRefused) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_REFUSED([](auto& o) { o.server.handshake_timeout_seconds = 0; },
                 "server.handshake_timeout_seconds is 0");
  EXPECT_REFUSED([&](auto& o) { o.server.idle_timeout_seconds = nan; },
                 "server.idle_timeout_seconds");
  EXPECT_REFUSED([&](auto& o) { o.server.frame_timeout_seconds = -1; },
                 "server.frame_timeout_seconds is -1");
  EXPECT_REFUSED([&](auto& o) { o.rounds.deadline_seconds = inf; }, "rounds.deadline_seconds");
  EXPECT_REFUSED([](auto& o) { o.server.heartbeat_interval_seconds = 60; },
                 "server.heartbeat_interval_seconds is 60 but server.idle_timeout_seconds is 60");
}

TEST(Options, RoundCountsMustBeConsistent) {
  EXPECT_REFUSED([](auto& o) { o.rounds.min_clients = 0; }, "rounds.min_clients is 0");
  EXPECT_REFUSED([](auto& o) { o.rounds.fraction = 0; }, "rounds.fraction is 0");
  EXPECT_REFUSED([](auto& o) { o.rounds.fraction = 1.5; }, "rounds.fraction is 1.5");
  EXPECT_REFUSED([](auto& o) { o.rounds.min_per_round = 3; },
                 "rounds.min_per_round is 3 but rounds.min_clients is 2");
  EXPECT_REFUSED(
      [](auto& o) {
        o.rounds.min_clients = 5;
        o.rounds.min_per_round = 4;
        o.rounds.max_per_round = 3;
      },
      "rounds.max_per_round is 3 but rounds.min_per_round is 4");
  EXPECT_REFUSED(
      [](auto& o) {
        o.rounds.min_clients = 10;
        o.rounds.max_per_round = 3;
        o.rounds.quorum = 5;
      },
      "rounds.quorum is 5 but rounds.max_per_round is 3");
  // Ten clients connected, half of them selected: a quorum of six is out of reach.
  EXPECT_REFUSED(
      [](auto& o) {
        o.rounds.min_clients = 10;
        o.rounds.fraction = 0.5;
        o.rounds.quorum = 6;
      },
      "rounds.quorum is 6 but a round that starts with the clients it waits for selects only 5");
  EXPECT_EQ(error_after([](auto& o) {
              o.rounds.min_clients = 10;
              o.rounds.fraction = 0.5;
              o.rounds.quorum = 5;
            }),
            "");
  EXPECT_REFUSED([](auto& o) { o.rounds.max_rounds = 0; }, "rounds.max_rounds is 0");
  EXPECT_REFUSED([](auto& o) { o.rounds.max_attempts = -1; }, "rounds.max_attempts is -1");
  EXPECT_REFUSED([](auto& o) { o.server.max_connections = 1; }, "server.max_connections is 1");
}

// The message loading a file of one `section` holding `line` throws, or "" when it loads: an
// enumerated setting takes only its names, and the file is refused when it is read.
std::string error_reading(const std::string& section, const std::string& line) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() /
      ("fedgan_options_test_" + std::to_string(::getpid()) + ".toml");
  std::ofstream(file, std::ios::binary) << "[" << section << "]\n" << line << "\n";
  std::string message;
  try {
    load_config_file(file);
  } catch (const CoordinatorError& error) {
    message = error.what();
  }
  std::filesystem::remove(file);
  return message;
}

#define EXPECT_READ_REFUSED(section, line, expected)                 \
  do {                                                               \
    const std::string message = error_reading(section, line);        \
    EXPECT_NE(message.find(expected), std::string::npos) << message; \
  } while (false)

TEST(Options, EnumerationsListTheirValues) {
  EXPECT_READ_REFUSED("model", R"(architecture = "resnet")",
                      R"(model.architecture is "resnet": it must be one of "dcgan", "mlp")");
  EXPECT_READ_REFUSED("model", R"(federate = "all")", "model.federate");
  EXPECT_READ_REFUSED("model", R"(codec = "bf16")", "model.codec");
  EXPECT_READ_REFUSED("training", R"(loss = "wgan")", R"("ns", "hinge", "wgan-gp")");
  EXPECT_READ_REFUSED("aggregation", R"(weighting = "equal")", "aggregation.weighting");
  EXPECT_READ_REFUSED("aggregation", R"(norm_policy = "drop")", "aggregation.norm_policy");
  EXPECT_READ_REFUSED(
      "aggregation", R"(norm_bound = "median")",
      R"(aggregation.norm_bound is "median": it must be one of "adaptive", "fixed", "none")");
  EXPECT_READ_REFUSED("evaluation", R"(dataset = "mnist")", "evaluation.dataset");
  EXPECT_READ_REFUSED(
      "aggregation", R"(server_lr_decay = "cosine")",
      R"(aggregation.server_lr_decay is "cosine": it must be one of "none", "linear")");
  EXPECT_READ_REFUSED("training", R"(networks = "generator")",
                      R"(training.networks is "generator": it must be one of "both", "alternate")");
  EXPECT_EQ(error_after([](auto& o) { o.training.networks = Networks::kAlternate; }), "");
  EXPECT_REFUSED(
      [](auto& o) {
        o.training.networks = Networks::kAlternate;
        o.model.federate = Federate::kGenerator;
      },
      "training.networks = \"alternate\" needs model.federate = \"both\"");
  for (const Loss loss : {Loss::kNonSaturating, Loss::kHinge, Loss::kWassersteinGp}) {
    EXPECT_EQ(error_after([&](auto& o) { o.training.loss = loss; }), "") << config::enum_name(loss);
  }
}

TEST(Options, TrainingAndAggregationNumbersAreChecked) {
  EXPECT_REFUSED([](auto& o) { o.training.local_steps = 0; }, "training.local_steps is 0");
  // A task carries its counts as 32-bit integers.
  EXPECT_REFUSED([](auto& o) { o.training.local_steps = int64_t{1} << 32; },
                 "training.local_steps is 4294967296: it must be at most 4294967295");
  EXPECT_REFUSED([](auto& o) { o.training.batch_size = -5; }, "training.batch_size is -5");
  EXPECT_REFUSED([](auto& o) { o.training.lr_generator = 0; }, "training.lr_generator is 0");
  EXPECT_REFUSED([](auto& o) { o.training.lr_discriminator = std::nan(""); },
                 "training.lr_discriminator");
  EXPECT_REFUSED([](auto& o) { o.training.beta1 = 1; }, "training.beta1 is 1");
  EXPECT_REFUSED([](auto& o) { o.training.n_critic = 0; }, "training.n_critic is 0");
  EXPECT_REFUSED([](auto& o) { o.aggregation.server_lr = -1; }, "aggregation.server_lr is -1");
  EXPECT_REFUSED([](auto& o) { o.aggregation.max_delta_norm = -0.5; },
                 "aggregation.max_delta_norm is -0.5");
  EXPECT_REFUSED(
      [](auto& o) { o.aggregation.max_delta_norm = std::numeric_limits<double>::infinity(); },
      "aggregation.max_delta_norm is inf");
  EXPECT_REFUSED([](auto& o) { o.aggregation.norm_bound = NormBoundKind::kFixed; },
                 "aggregation.norm_bound is \"fixed\" but aggregation.max_delta_norm is 0");
  EXPECT_REFUSED([](auto& o) { o.aggregation.max_delta_norm = 10; },
                 "aggregation.max_delta_norm is 10 but aggregation.norm_bound is \"adaptive\"");
  EXPECT_EQ(error_after([](auto& o) {
              o.aggregation.norm_bound = NormBoundKind::kFixed;
              o.aggregation.max_delta_norm = 10;
            }),
            "");
  EXPECT_REFUSED([](auto& o) { o.aggregation.norm_bound_factor = 0.5; },
                 "aggregation.norm_bound_factor is 0.5");
  EXPECT_REFUSED([](auto& o) { o.aggregation.max_samples = (uint64_t{1} << 40) + 1; },
                 "aggregation.max_samples is 1099511627777: it must be at most 1099511627776");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.min_samples = 100;
        o.aggregation.max_samples = 10;
      },
      "aggregation.min_samples is 100 but aggregation.max_samples is 10");
  EXPECT_REFUSED([](auto& o) { o.aggregation.min_samples = 0; }, "aggregation.min_samples is 0");
}

TEST(Options, ARobustRuleMustBeDefinedForTheSmallestRoundThatCanCommit) {
  // The defaults commit with every selected client once 2 are connected: 2 updates.
  EXPECT_REFUSED([](auto& o) { o.aggregation.rule = AggregationRule::kMultiKrum; },
                 "aggregation.rule \"multi_krum\" needs at least 5 updates per round, but a round "
                 "can commit with 2 (rounds.quorum 0, rounds.min_clients 2)");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kBulyan;
        o.rounds.min_clients = 10;
        o.rounds.quorum = 6;
      },
      "aggregation.rule \"bulyan\" needs at least 7 updates per round, but a round can commit "
      "with 6");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kMultiKrum;
        o.aggregation.bucket_size = 2;
        o.rounds.min_clients = 8;
      },
      "aggregation.rule \"multi_krum\" with buckets of 2 needs at least 9 updates per round, "
      "but a round can commit with 8");
  EXPECT_EQ(error_after([](auto& o) {
              o.aggregation.rule = AggregationRule::kMultiKrum;
              o.rounds.min_clients = 5;
            }),
            "");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kMultiKrum;
        o.aggregation.krum_selected = 6;
        o.rounds.min_clients = 5;
      },
      "aggregation.krum_selected is 6 but a round can commit with 5 updates");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kTrimmedMean;
        o.aggregation.trim_beta = 0.5;
      },
      "aggregation.rule \"trimmed_mean\": ");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kCenteredClipping;
        o.aggregation.clip_radius = 0;
      },
      "aggregation.rule \"centered_clipping\": ");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kGeometricMedian;
        o.aggregation.weiszfeld_iterations = 1001;
      },
      "aggregation.weiszfeld_iterations is 1001 and aggregation.clip_iterations is 3: each must be "
      "at most 1000");
  // FedAvg ignores the robust rules' options.
  EXPECT_EQ(error_after([](auto& o) { o.aggregation.trim_beta = 0.7; }), "");
  EXPECT_REFUSED([](auto& o) { o.aggregation.norm_bound = NormBoundKind::kRoundMedian; },
                 "aggregation.norm_bound is \"round_median\" but aggregation.rule is \"fedavg\"");
  EXPECT_EQ(error_after([](auto& o) {
              o.aggregation.rule = AggregationRule::kGeometricMedian;
              o.aggregation.norm_bound = NormBoundKind::kRoundMedian;
            }),
            "");
  EXPECT_REFUSED([](auto& o) { o.aggregation.quarantine_after = 2; },
                 "aggregation.quarantine_after is 2 but aggregation.rule is \"fedavg\", which "
                 "flags no update");
  EXPECT_REFUSED(
      [](auto& o) {
        o.aggregation.rule = AggregationRule::kMedian;
        o.aggregation.quarantine_after = 11;
      },
      "aggregation.quarantine_after is 11 but aggregation.quarantine_window is 10");
  EXPECT_REFUSED([](auto& o) { o.aggregation.quarantine_window = 0; },
                 "aggregation.quarantine_window is 0: it must be in [1, 100000]");
  EXPECT_EQ(error_after([](auto& o) {
              o.aggregation.rule = AggregationRule::kMedian;
              o.aggregation.quarantine_after = 3;
            }),
            "");
}

TEST(Options, StorageAndEvaluationAreChecked) {
  EXPECT_REFUSED([](auto& o) { o.storage.run_id = ""; }, "storage.run_id");
  EXPECT_REFUSED([](auto& o) { o.storage.run_id = std::string(201, 'r'); }, "storage.run_id");
  EXPECT_REFUSED([](auto& o) { o.storage.run_id = "tab\there"; }, "printable ASCII");
  EXPECT_EQ(error_after([](auto& o) { o.storage.run_id = std::string(200, 'r'); }), "");
  EXPECT_REFUSED([](auto& o) { o.storage.database.clear(); }, "storage.database is empty");
  EXPECT_REFUSED([](auto& o) { o.storage.keep_last = 0; }, "storage.keep_last is 0");
  EXPECT_REFUSED([](auto& o) { o.storage.keep_every = -1; }, "storage.keep_every is -1");
  EXPECT_REFUSED([](auto& o) { o.evaluation.every_rounds = -1; }, "evaluation.every_rounds");
  EXPECT_REFUSED([](auto& o) { o.evaluation.samples = 0; }, "evaluation.samples is 0");
  EXPECT_REFUSED(
      [](auto& o) {
        o.evaluation.every_rounds = 5;
        o.evaluation.dataset = EvaluationDataset::kRing;
      },
      R"(evaluation.dataset is "ring" but model.architecture is "dcgan")");
  EXPECT_EQ(error_after([](auto& o) {
              o.evaluation.every_rounds = 5;
              o.evaluation.dataset = EvaluationDataset::kGrid;
              o.model.architecture = Architecture::kMlp;
            }),
            "");
  EXPECT_REFUSED([](auto& o) { o.model.data_dim = 0; }, "model.data_dim is 0");
  EXPECT_REFUSED([](auto& o) { o.model.data_dim = 4097; }, "model.data_dim is 4097");
  EXPECT_REFUSED(
      [](auto& o) {
        o.evaluation.every_rounds = 5;
        o.evaluation.dataset = EvaluationDataset::kGrid;
        o.model.architecture = Architecture::kMlp;
        o.model.data_dim = 3;
      },
      "but model.data_dim is 3");
  EXPECT_EQ(error_after([](auto& o) {
              o.model.architecture = Architecture::kMlp;
              o.model.data_dim = 3;
            }),
            "");
  // (Parenthesised: the braces' comma would split the macro's arguments.)
  EXPECT_REFUSED(([](auto& o) {
                   o.server.allowed_identities = {"site-1", ""};
                 }),
                 "server.allowed_identities holds \"\"");
  EXPECT_REFUSED(([](auto& o) { o.server.allowed_identities = {"site-1 "}; }),
                 "server.allowed_identities holds \"site-1 \"");
  EXPECT_EQ(error_after([](auto& o) { o.server.allowed_identities = {"h\xc3\xb4pital-1"}; }), "");
}

// The allowlist takes exactly the names a certificate can carry as its identity (pki's rule, which
// tests/pki/identity_test.cc checks against certificates): an entry no certificate could match is
// a configuration error, and every identity a certificate can have can be listed.
TEST(Options, AllowedIdentitiesFollowTheCertificateRule) {
  const std::vector<std::string> names = {"site-1",
                                          "Site 1 of the consortium",
                                          "h\xc3\xb4pital-saint-louis",
                                          "site_1.example.org",
                                          "\xe6\x97\xa5\xe6\x9c\xac",
                                          std::string(pki::kMaxIdentityBytes, 'x'),
                                          "",
                                          std::string(pki::kMaxIdentityBytes + 1, 'x'),
                                          "site-1 ",
                                          " site-1",
                                          "site\x01one",
                                          "site\xc2\x85one",
                                          "site-1\xe2\x80\xae",
                                          "line\xe2\x80\xa8sep",
                                          "bad\xff"};
  for (const std::string& name : names) {
    const std::string message = error_after([&](auto& o) {
      o.server.allowed_identities = {"site-9", name};
    });
    if (pki::is_valid_identity(name)) {
      EXPECT_EQ(message, "") << ::testing::PrintToString(name);
    } else {
      EXPECT_NE(message.find("server.allowed_identities holds"), std::string::npos)
          << ::testing::PrintToString(name) << ": " << message;
      EXPECT_NE(message.find("which no certificate can carry"), std::string::npos) << message;
    }
  }
  // The entry is quoted printable: a text-reordering character is shown escaped, not applied.
  EXPECT_REFUSED(([](auto& o) { o.server.allowed_identities = {"site-1\xe2\x80\xae"}; }),
                 R"(holds "site-1\xe2\x80\xae")");
}

}  // namespace
}  // namespace fedgan::coordinator
