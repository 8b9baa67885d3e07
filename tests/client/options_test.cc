#include "client/options.h"

#include "client/error.h"
#include "tests/client/test_support.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace fedgan::client {
namespace {

using testing::mixture_options;

// The message of the ClientError validate() throws for `options`, or "" when it passes.
std::string problem(const ClientOptions& options) {
  try {
    validate(options);
  } catch (const ClientError& error) {
    return error.what();
  }
  return "";
}

std::string problem_after(const std::function<void(ClientOptions&)>& change) {
  ClientOptions options = mixture_options("/tmp/site");
  change(options);
  return problem(options);
}

TEST(Options, DefaultsNeedTlsFilesAndDataFormat) {
  EXPECT_NE(problem(ClientOptions{}).find("tls.ca_file is empty"), std::string::npos);
  ClientOptions options = mixture_options("/tmp/site");
  options.data.format = DataFormat::kUnset;
  EXPECT_NE(problem(options).find("data.format is empty"), std::string::npos);
}

TEST(Options, ACompleteSiteValidates) {
  EXPECT_EQ(problem(mixture_options("/tmp/site")), "");
}

TEST(Options, AnAttacksNumbersAreChecked) {
  EXPECT_NE(problem_after([](auto& o) {
              o.attack.kind = AttackKind::kScale;
              o.attack.scale = 0;
            }).find("attack.scale is 0: it must be finite and not 0"),
            std::string::npos);
  EXPECT_NE(problem_after([](auto& o) { o.attack.noise_std = -1; }).find("attack.noise_std is -1"),
            std::string::npos);
  EXPECT_EQ(problem_after([](auto& o) { o.attack.kind = AttackKind::kSignFlip; }), "");
}

TEST(Options, EachFormatNeedsItsFile) {
  EXPECT_NE(
      problem_after([](auto& o) { o.data.format = DataFormat::kIdx; }).find("data.images is empty"),
      std::string::npos);
  EXPECT_NE(problem_after([](auto& o) {
              o.data.format = DataFormat::kPngDir;
            }).find("data.directory is empty"),
            std::string::npos);
  EXPECT_NE(
      problem_after([](auto& o) { o.data.format = DataFormat::kCsv; }).find("data.csv is empty"),
      std::string::npos);
  // Unknown formats and mixtures are refused when read (config_file_test.cc).
}

TEST(Options, PartitionIndexMustBeBelowClients) {
  const auto message = problem_after([](auto& o) {
    o.data.partition = "iid";
    o.data.clients = 3;
    o.data.client_index = 3;
  });
  EXPECT_NE(message.find("data.client_index is 3 but data.clients is 3"), std::string::npos)
      << message;
}

TEST(Options, ClassPartitionsNeedLabels) {
  const auto message = problem_after([](auto& o) {
    o.data.format = DataFormat::kCsv;
    o.data.csv = "/tmp/points.csv";
    o.data.partition = "classes:2";
    o.data.clients = 2;
  });
  EXPECT_NE(message.find("has no labels"), std::string::npos) << message;
  EXPECT_EQ(problem_after([](auto& o) {
              o.data.format = DataFormat::kIdx;
              o.data.images = "/tmp/images";
              o.data.labels = "/tmp/labels";
              o.data.partition = "dirichlet:0.3";
              o.data.clients = 4;
            }),
            "");
}

TEST(Options, HeartbeatMustBeShorterThanIdleTimeout) {
  const auto message = problem_after([](auto& o) {
    o.coordinator.heartbeat_interval_seconds = 60;
    o.coordinator.idle_timeout_seconds = 60;
  });
  EXPECT_NE(message.find("coordinator.heartbeat_interval_seconds is 60"), std::string::npos)
      << message;
}

TEST(Options, ReconnectWaitsMustBeOrderedAndBounded) {
  EXPECT_NE(problem_after([](auto& o) {
              o.coordinator.reconnect_initial_seconds = 5;
              o.coordinator.reconnect_max_seconds = 1;
            }).find("coordinator.reconnect_max_seconds is 1"),
            std::string::npos);
  EXPECT_NE(problem_after([](auto& o) {
              o.coordinator.reconnect_max_seconds = 1e9;
            }).find("at most 3600"),
            std::string::npos);
  EXPECT_NE(problem_after([](auto& o) {
              o.coordinator.reconnect_initial_seconds = 0;
            }).find("coordinator.reconnect_initial_seconds"),
            std::string::npos);
}

TEST(Options, LimitsAndChoicesAreChecked) {
  EXPECT_NE(problem_after([](auto& o) {
              o.limits.max_local_steps = 0;
            }).find("limits.max_local_steps is 0"),
            std::string::npos);
  EXPECT_NE(problem_after([](auto& o) {
              o.limits.max_learning_rate = -1;
            }).find("limits.max_learning_rate"),
            std::string::npos);
  EXPECT_NE(problem_after([](auto& o) { o.coordinator.port = 0; }).find("coordinator.port is 0"),
            std::string::npos);
  EXPECT_NE(problem_after([](auto& o) { o.state.dir.clear(); }).find("state.dir is empty"),
            std::string::npos);
}

}  // namespace
}  // namespace fedgan::client
