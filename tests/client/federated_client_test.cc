#include "client/federated_client.h"

#include "client/data_source.h"
#include "protocol/tensor_stream.h"
#include "tests/client/test_support.h"
#include "tests/protocol/transport_fixture.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <thread>

namespace fedgan::client {
namespace {

using namespace std::chrono_literals;
using protocol::testing::Endpoint;
using protocol::testing::test_pki;

// The client against a scripted coordinator: a real mutual-TLS server from the transport tests
// whose side of the conversation each test writes out message by message.
class FederatedClientTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    server_ = std::make_unique<protocol::testing::TestServer>(io_.io(),
                                                              test_pki().options("coordinator"));
    options_ = testing::mixture_options(dir_);
    options_.tls.ca_file = test_pki().ca();
    options_.tls.certificate_file = test_pki().cert("site-1");
    options_.tls.private_key_file = test_pki().key("site-1");
    options_.coordinator.port = server_->port();
    options_.coordinator.reconnect_initial_seconds = 0.05;
    options_.coordinator.reconnect_max_seconds = 0.2;
    options_.coordinator.heartbeat_interval_seconds = 1;
    options_.coordinator.idle_timeout_seconds = 10;
    data_ = load_data(options_.data);
    gan::ModelSpec spec;
    spec.architecture = "mlp";
    global_ = gan::make_model(spec, 3);
  }

  void TearDown() override {
    if (runner_.joinable()) {
      client_->stop();
      runner_.join();
    }
    client_.reset();
    TempDirTest::TearDown();
  }

  void start_client() {
    round_ = std::make_unique<LocalRound>(options_, data_, "site-1");
    client_ = std::make_unique<FederatedClient>(options_, *round_, console_);
    runner_ = std::thread([this] { exit_code_ = client_->run(); });
  }

  int finish_client() {
    runner_.join();
    return exit_code_;
  }

  // Accepts the client's next connection, checks its Hello and welcomes it.
  Endpoint accept_client() {
    auto endpoint = server_->accepted(10s);
    EXPECT_TRUE(endpoint) << "the client did not connect";
    if (!endpoint) throw std::runtime_error("no connection");
    const auto hello = endpoint->inbox->pop(10s);
    EXPECT_TRUE(hello && hello->has_hello());
    if (hello && hello->has_hello()) {
      const auto& h = hello->hello();
      EXPECT_EQ(h.num_samples(), 512u);
      EXPECT_EQ(h.device(), "cpu");
      EXPECT_EQ(h.codecs_size(), 2);
      EXPECT_EQ(h.software_version().rfind("fedgan-client ", 0), 0u);
    }
    send_ack(*endpoint, wire::STATUS_OK, "welcome, site-1");
    return *endpoint;
  }

  static void send_ack(Endpoint& endpoint, wire::StatusCode code, const std::string& message) {
    wire::Envelope ack;
    ack.mutable_ack()->mutable_status()->set_code(code);
    ack.mutable_ack()->mutable_status()->set_message(message);
    endpoint.connection->send(ack);
  }

  // Sends a task for `round` and then the global model, as the coordinator does; returns the
  // model's manifest.
  wire::Manifest send_task(Endpoint& endpoint, uint64_t round,
                           const testing::HyperparameterChange& changes = nullptr) {
    std::vector<protocol::ConstTensorView> views;
    for (const auto& entry :
         gan::federated_tensors(global_, gan::FederationScope::kGeneratorAndDiscriminator)) {
      std::vector<int64_t> shape(entry.tensor.sizes().begin(), entry.tensor.sizes().end());
      views.push_back(
          {protocol::tensor_spec(entry.name, wire::DTYPE_FLOAT32, shape), entry.tensor.data_ptr()});
    }
    protocol::TensorStreamWriter writer(views, wire::CODEC_FP32);
    wire::Envelope task;
    *task.mutable_task() = testing::make_task(round, writer.manifest(), changes);
    endpoint.connection->send(task);
    wire::Envelope chunk;
    while (writer.next_chunk(*chunk.mutable_chunk())) endpoint.connection->send(chunk);
    wire::Envelope end;
    *end.mutable_transfer_end() = writer.transfer_end();
    endpoint.connection->send(end);
    return writer.manifest();
  }

  // The next UpdateHeader, or nullopt when none comes within `timeout`.
  static std::optional<wire::UpdateHeader> await_header(Endpoint& endpoint,
                                                        std::chrono::milliseconds timeout = 30s) {
    while (auto message = endpoint.inbox->pop(timeout)) {
      if (message->has_update()) return message->update();
    }
    return std::nullopt;
  }

  // Receives the delta that follows an admitted header.
  static std::vector<std::vector<float>> receive_delta(Endpoint& endpoint,
                                                       const wire::Manifest& manifest) {
    std::vector<std::vector<float>> delta;
    std::vector<protocol::MutableTensorView> destinations;
    delta.reserve(static_cast<size_t>(manifest.tensors_size()));
    for (const auto& spec : manifest.tensors()) {
      size_t count = 1;
      for (const int64_t dim : spec.shape()) count *= static_cast<size_t>(dim);
      delta.emplace_back(count);
      destinations.push_back({spec, delta.back().data()});
    }
    protocol::TensorStreamReader reader(manifest, destinations);
    while (auto message = endpoint.inbox->pop(10s)) {
      if (message->has_chunk()) reader.add(message->chunk());
      if (message->has_transfer_end()) {
        reader.finish(message->transfer_end());
        return delta;
      }
    }
    ADD_FAILURE() << "the delta did not arrive";
    return {};
  }

  // Admits the next upload, receives it, accepts it and checks it; returns its header.
  wire::UpdateHeader accept_upload(Endpoint& endpoint, const wire::Manifest& manifest) {
    const auto header = await_header(endpoint);
    EXPECT_TRUE(header) << "no upload";
    if (!header) return {};
    send_ack(endpoint, wire::STATUS_OK, "send the delta");
    const auto delta = receive_delta(endpoint, manifest);
    send_ack(endpoint, wire::STATUS_OK, "accepted");
    double sum_of_squares = 0;
    for (const auto& tensor : delta) {
      for (const float value : tensor) sum_of_squares += double{value} * value;
    }
    EXPECT_TRUE(std::isfinite(sum_of_squares));
    EXPECT_GT(sum_of_squares, 0);
    return *header;
  }

  static void finish_run(Endpoint& endpoint) {
    endpoint.connection->close(wire::STATUS_RUN_FINISHED, "run finished after 1 rounds");
  }

  std::string log() const { return log_.str(); }

  protocol::testing::IoThread io_;  // declared before the server, so it outlives it
  std::unique_ptr<protocol::testing::TestServer> server_;
  ClientOptions options_;
  LoadedData data_;
  gan::GanModel global_;
  std::ostringstream log_;
  Console console_{log_, nullptr, false};
  std::unique_ptr<LocalRound> round_;
  std::unique_ptr<FederatedClient> client_;
  std::thread runner_;
  int exit_code_ = -1;
};

TEST_F(FederatedClientTest, TrainsATaskAndUploadsTheDeltaUntilTheRunFinishes) {
  start_client();
  Endpoint coordinator = accept_client();
  const auto manifest = send_task(coordinator, 1);
  const auto header = accept_upload(coordinator, manifest);
  EXPECT_EQ(header.round(), 1u);
  EXPECT_EQ(header.nonce(), "nonce-1");
  EXPECT_EQ(header.num_samples(), 512u);
  EXPECT_EQ(header.delta().SerializeAsString(), manifest.SerializeAsString());
  for (const char* key : {"generator_loss", "discriminator_loss", "train_seconds",
                          "samples_per_second", "download_seconds", "delta_seconds"}) {
    ASSERT_EQ(header.metrics().count(key), 1u) << key;
    EXPECT_TRUE(std::isfinite(header.metrics().at(key))) << key;
  }
  finish_run(coordinator);
  EXPECT_EQ(finish_client(), 0);
  const ClientStats stats = client_->stats();
  EXPECT_EQ(stats.connections, 1);
  EXPECT_EQ(stats.tasks, 1);
  EXPECT_EQ(stats.rounds_trained, 1);
  EXPECT_EQ(stats.updates_accepted, 1);
  EXPECT_NE(log().find("round 1: 3 steps in"), std::string::npos) << log();
  EXPECT_NE(log().find("update accepted"), std::string::npos) << log();
  EXPECT_NE(log().find("finished the run"), std::string::npos) << log();
  EXPECT_TRUE(std::filesystem::exists(round_->state_path()));
}

TEST_F(FederatedClientTest, ARefusedTaskIsNeitherTrainedNorUploaded) {
  start_client();
  Endpoint coordinator = accept_client();
  send_task(coordinator, 1, [](auto& h) { h.set_local_steps(20000); });
  EXPECT_FALSE(await_header(coordinator, 1500ms));
  // The site still takes the next task within its limits.
  const auto manifest = send_task(coordinator, 2);
  EXPECT_EQ(accept_upload(coordinator, manifest).round(), 2u);
  finish_run(coordinator);
  EXPECT_EQ(finish_client(), 0);
  const ClientStats stats = client_->stats();
  EXPECT_EQ(stats.tasks, 2);
  EXPECT_EQ(stats.tasks_refused, 1);
  EXPECT_EQ(stats.rounds_trained, 1);
  EXPECT_NE(log().find("round 1: task refused: hyperparameter local_steps is 20000, beyond this "
                       "site's limits.max_local_steps = 10000"),
            std::string::npos)
      << log();
}

TEST_F(FederatedClientTest, RejectedUpdatesAreLoggedWithTheirReason) {
  start_client();
  Endpoint coordinator = accept_client();
  send_task(coordinator, 1);
  ASSERT_TRUE(await_header(coordinator));
  send_ack(coordinator, wire::STATUS_NORM_BOUND, "delta norm 9.5 is above the bound 1");

  const auto manifest = send_task(coordinator, 2);
  ASSERT_TRUE(await_header(coordinator));
  send_ack(coordinator, wire::STATUS_OK, "send the delta");
  receive_delta(coordinator, manifest);
  send_ack(coordinator, wire::STATUS_WRONG_ROUND, "round 2 ended while the update was uploaded");
  finish_run(coordinator);
  EXPECT_EQ(finish_client(), 0);
  EXPECT_EQ(client_->stats().updates_rejected, 2);
  EXPECT_NE(log().find("update refused: NORM_BOUND (delta norm 9.5 is above the bound 1)"),
            std::string::npos)
      << log();
  EXPECT_NE(log().find("update rejected: WRONG_ROUND (round 2 ended while"), std::string::npos)
      << log();
}

// Protocol 1.2: an Ack names the stage, round and nonce it answers. A late answer to an earlier
// upload is not taken for the verdict on the current one.
TEST_F(FederatedClientTest, IgnoresAcksThatAnswerAnotherUpload) {
  const auto labelled = [](Endpoint& endpoint, wire::AckStage stage, uint64_t round,
                           const std::string& nonce, wire::StatusCode code) {
    wire::Envelope ack;
    ack.mutable_ack()->mutable_status()->set_code(code);
    ack.mutable_ack()->mutable_status()->set_message("labelled");
    ack.mutable_ack()->set_stage(stage);
    ack.mutable_ack()->set_round(round);
    ack.mutable_ack()->set_nonce(nonce);
    endpoint.connection->send(ack);
  };
  start_client();
  Endpoint coordinator = accept_client();
  const auto manifest = send_task(coordinator, 1);
  ASSERT_TRUE(await_header(coordinator));
  // A verdict on some earlier upload arrives first: not an admission, not this upload's.
  labelled(coordinator, wire::ACK_STAGE_VERDICT, 7, "nonce-7", wire::STATUS_WRONG_ROUND);
  labelled(coordinator, wire::ACK_STAGE_ADMISSION, 1, "another-nonce", wire::STATUS_STALE_NONCE);
  labelled(coordinator, wire::ACK_STAGE_ADMISSION, 1, "nonce-1", wire::STATUS_OK);
  receive_delta(coordinator, manifest);
  labelled(coordinator, wire::ACK_STAGE_ADMISSION, 1, "nonce-1", wire::STATUS_MALFORMED);
  labelled(coordinator, wire::ACK_STAGE_VERDICT, 1, "nonce-1", wire::STATUS_OK);
  finish_run(coordinator);
  EXPECT_EQ(finish_client(), 0);
  EXPECT_EQ(client_->stats().updates_accepted, 1);
  EXPECT_EQ(client_->stats().updates_rejected, 0);
  // Accepted by its code; the coordinator's words are shown beside it.
  EXPECT_NE(log().find("update accepted (labelled)"), std::string::npos) << log();
}

// Protocol 1.3: the end of the run is a code, STATUS_RUN_FINISHED. A coordinator of 1.2 or older
// said it in text beside STATUS_OK; that is a plain close, after which the site reconnects.
TEST_F(FederatedClientTest, OnlyTheRunFinishedCodeEndsTheClient) {
  start_client();
  Endpoint first = accept_client();
  first.connection->close(wire::STATUS_OK, "run finished after 1 rounds");
  Endpoint second = accept_client();
  finish_run(second);
  EXPECT_EQ(finish_client(), 0);
  EXPECT_EQ(client_->stats().connections, 2);
  EXPECT_NE(log().find("connection lost"), std::string::npos) << log();
  EXPECT_NE(log().find("the coordinator finished the run"), std::string::npos) << log();
}

// A site the coordinator quarantined is not welcome again this run: it stops with exit code 4
// instead of reconnecting, whether it is told by a Goodbye or in answer to its Hello.
TEST_F(FederatedClientTest, AQuarantineGoodbyeEndsTheClientWithItsOwnExitCode) {
  start_client();
  Endpoint coordinator = accept_client();
  coordinator.connection->close(wire::STATUS_QUARANTINED,
                                "site-1 is quarantined for the rest of run 'r'");
  EXPECT_EQ(finish_client(), 4);
  EXPECT_EQ(client_->stats().connections, 1);
  EXPECT_NE(log().find("the coordinator quarantined this site for the rest of the run"),
            std::string::npos)
      << log();
  EXPECT_EQ(log().find("reconnecting in"), std::string::npos) << log();
}

TEST_F(FederatedClientTest, AHelloRefusedAsQuarantinedEndsTheClient) {
  start_client();
  Endpoint first = accept_client();
  first.connection->close(wire::STATUS_OK, "coordinator stopped");  // a restart: reconnect
  auto second = server_->accepted(10s);
  ASSERT_TRUE(second);
  const auto hello = second->inbox->pop(10s);
  ASSERT_TRUE(hello && hello->has_hello());
  send_ack(*second, wire::STATUS_QUARANTINED, "site-1 is quarantined for the rest of run 'r'");
  second->connection->close(wire::STATUS_QUARANTINED, "site-1 is quarantined");
  EXPECT_EQ(finish_client(), 4);
  EXPECT_EQ(client_->stats().connections, 1);  // counts welcomed connections only
  EXPECT_NE(log().find("the coordinator refused this site: QUARANTINED"), std::string::npos)
      << log();
}

TEST_F(FederatedClientTest, ReconnectsWhenTheCoordinatorGoesAwayMidRound) {
  start_client();
  Endpoint first = accept_client();
  // A long round, cut off by the coordinator going away: training stops, nothing is uploaded.
  send_task(first, 1, [](auto& h) { h.set_local_steps(5000); });
  std::this_thread::sleep_for(300ms);
  first.connection->close(wire::STATUS_OK, "coordinator stopped: interrupted");

  Endpoint second = accept_client();
  EXPECT_FALSE(await_header(first, 100ms));
  const auto manifest = send_task(second, 1);
  EXPECT_EQ(accept_upload(second, manifest).round(), 1u);
  finish_run(second);
  EXPECT_EQ(finish_client(), 0);
  const ClientStats stats = client_->stats();
  EXPECT_EQ(stats.connections, 2);
  EXPECT_EQ(stats.rounds_trained, 1);
  EXPECT_EQ(stats.updates_accepted, 1);
  EXPECT_NE(log().find("connection lost"), std::string::npos) << log();
  EXPECT_NE(log().find("reconnecting in"), std::string::npos) << log();
  EXPECT_NE(log().find("round 1: stopped after"), std::string::npos) << log();
}

TEST_F(FederatedClientTest, StopClosesTheConnectionWithAGoodbye) {
  start_client();
  Endpoint coordinator = accept_client();
  client_->stop();
  EXPECT_EQ(finish_client(), 0);
  const auto closed = coordinator.closed->pop(5s);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->kind(), protocol::TransportErrorKind::kClosedByPeer);
  EXPECT_NE(std::string(closed->what()).find("client stopping"), std::string::npos);
}

TEST_F(FederatedClientTest, GivesUpAfterTheConfiguredNumberOfFailedAttempts) {
  // A coordinator certificate from a CA the site does not trust: every handshake fails.
  options_.tls.ca_file = test_pki().cert("other-ca");
  options_.coordinator.max_connect_failures = 3;
  start_client();
  EXPECT_EQ(finish_client(), 1);
  EXPECT_EQ(client_->stats().connections, 0);
  EXPECT_NE(log().find("connection to 127.0.0.1:"), std::string::npos) << log();
  EXPECT_NE(log().find("giving up after 3 failed connection attempts"), std::string::npos) << log();
}

}  // namespace
}  // namespace fedgan::client
