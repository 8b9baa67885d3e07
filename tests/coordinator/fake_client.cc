#include "tests/coordinator/fake_client.h"

#include "tests/coordinator/hostile_site.h"

#include "protocol/frame.h"
#include "protocol/tensor_stream.h"

#include <gtest/gtest.h>

#include <cstring>
#include <future>

namespace fedgan::coordinator::testing {

using namespace std::chrono_literals;
using protocol::testing::test_pki;

std::shared_ptr<protocol::Connection> connect_test_site(
    boost::asio::io_context& io, const protocol::TlsContext& tls, uint16_t port,
    const protocol::ConnectionOptions& options, std::shared_ptr<Mailbox<wire::Envelope>> inbox,
    std::shared_ptr<Mailbox<protocol::TransportError>> closed, const std::string& who) {
  std::promise<std::shared_ptr<protocol::Connection>> connected;
  protocol::async_connect(
      io, tls, {"127.0.0.1", port, ""}, options,
      [&connected, inbox, closed](std::shared_ptr<protocol::Connection> connection,
                                  std::optional<protocol::TransportError> error) {
        if (connection) {
          connection->start([inbox](wire::Envelope& message) { inbox->push(message); },
                            [closed](const protocol::TransportError& e) { closed->push(e); });
        }
        connected.set_value(connection);
      });
  auto connection = connected.get_future().get();
  if (!connection) throw std::runtime_error(who + " could not connect");
  return connection;
}

FakeClient::FakeClient(boost::asio::io_context& io, const std::string& identity, uint16_t port,
                       uint64_t num_samples)
    : tls_(std::make_shared<protocol::TlsContext>(
          protocol::TlsContext::client(test_pki().options(identity)))) {
  connection_ = connect_test_site(io, *tls_, port, protocol::testing::fast_options(), inbox_,
                                  closed_, "fake client " + identity);
  wire::Envelope hello;
  hello.mutable_hello()->set_minor_version(protocol::kProtocolMinorVersion);
  hello.mutable_hello()->set_num_samples(num_samples);
  hello.mutable_hello()->add_codecs(wire::CODEC_FP32);
  hello.mutable_hello()->add_codecs(wire::CODEC_FP16);
  hello.mutable_hello()->set_device("cpu");
  connection_->send(hello);
  const auto welcome = wait_ack(10s);
  if (!welcome || welcome->code() != wire::STATUS_OK) {
    throw std::runtime_error("fake client " + identity + " was not welcomed");
  }
}

FakeClient::~FakeClient() {
  disconnect();
}

void FakeClient::disconnect() {
  if (connection_ && !connection_->error())
    connection_->close(wire::STATUS_OK, "test client leaves");
}

bool FakeClient::connected() const {
  return connection_ && !connection_->error();
}

std::optional<protocol::TransportError> FakeClient::wait_closed(std::chrono::milliseconds timeout) {
  return closed_->pop(timeout);
}

std::optional<wire::Envelope> FakeClient::next_message(std::chrono::milliseconds timeout) {
  return inbox_->pop(timeout);
}

std::optional<wire::Status> FakeClient::wait_ack(std::chrono::milliseconds timeout) {
  auto message = next_message(timeout);
  if (!message) return std::nullopt;
  if (!message->has_ack()) {
    ADD_FAILURE() << "expected an Ack, got " << message->ShortDebugString().substr(0, 200);
    return std::nullopt;
  }
  return message->ack().status();
}

std::optional<ReceivedTask> FakeClient::wait_task(std::chrono::milliseconds timeout) {
  auto message = next_message(timeout);
  if (!message) return std::nullopt;
  if (!message->has_task()) {
    ADD_FAILURE() << "expected a Task, got " << message->ShortDebugString().substr(0, 200);
    return std::nullopt;
  }
  ReceivedTask received;
  received.task = message->task();
  const auto& manifest = received.task.model();
  std::vector<protocol::MutableTensorView> destinations;
  received.model.reserve(manifest.tensors_size());
  for (const auto& spec : manifest.tensors()) {
    size_t count = 1;
    for (const int64_t dim : spec.shape()) count *= static_cast<size_t>(dim);
    received.model.emplace_back(count);
    destinations.push_back({spec, received.model.back().data()});
  }
  protocol::TensorStreamReader reader(manifest, destinations);
  while (auto part = next_message(timeout)) {
    if (part->has_chunk()) {
      reader.add(part->chunk());
    } else if (part->has_transfer_end()) {
      reader.finish(part->transfer_end());
      return received;
    } else {
      ADD_FAILURE() << "unexpected message during the model download";
      return std::nullopt;
    }
  }
  return std::nullopt;
}

namespace {

wire::Status no_answer() {
  wire::Status status;
  status.set_code(wire::STATUS_INTERNAL);
  status.set_message("the coordinator did not answer");
  return status;
}

}  // namespace

wire::Status FakeClient::upload(const ReceivedTask& task, const Upload& upload) {
  const auto& model = task.task.model();
  std::vector<protocol::ConstTensorView> views;
  for (int t = 0; t < model.tensors_size(); ++t) {
    views.push_back({model.tensors(t), upload.delta.at(static_cast<size_t>(t)).data()});
  }
  wire::Envelope header;
  auto* update = header.mutable_update();
  update->set_round(upload.round.value_or(task.task.round()));
  update->set_nonce(upload.nonce.value_or(task.task.nonce()));
  update->set_num_samples(upload.num_samples);
  for (const auto& [key, value] : upload.metrics) (*update->mutable_metrics())[key] = value;
  *update->mutable_delta() = protocol::make_manifest(views, model.codec());
  if (upload.edit_manifest) upload.edit_manifest(*update->mutable_delta());
  connection_->send(header);
  const auto admitted = wait_ack(10s);
  if (!admitted) return no_answer();
  if (admitted->code() != wire::STATUS_OK) return *admitted;
  if (upload.raw) {
    for (const auto& message : HostileSite::raw_chunks(upload.delta)) connection_->send(message);
  } else {
    protocol::TensorStreamWriter writer(views, model.codec());
    wire::Envelope chunk;
    while (writer.next_chunk(*chunk.mutable_chunk())) connection_->send(chunk);
    wire::Envelope end;
    *end.mutable_transfer_end() = writer.transfer_end();
    connection_->send(end);
  }
  return wait_ack(20s).value_or(no_answer());
}

std::vector<std::vector<float>> make_delta(const ReceivedTask& task,
                                           const std::function<float(size_t, size_t)>& value) {
  std::vector<std::vector<float>> delta;
  for (size_t t = 0; t < task.model.size(); ++t) {
    delta.emplace_back(task.model[t].size());
    for (size_t i = 0; i < delta.back().size(); ++i) delta.back()[i] = value(t, i);
  }
  return delta;
}

}  // namespace fedgan::coordinator::testing
