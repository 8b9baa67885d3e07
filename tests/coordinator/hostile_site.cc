#include "tests/coordinator/hostile_site.h"

#include "protocol/frame.h"
#include "protocol/tensor_records.h"
#include "protocol/tensor_stream.h"

#include <gtest/gtest.h>

namespace fedgan::coordinator::testing {

using namespace std::chrono_literals;
using protocol::testing::test_pki;

HostileSite::HostileSite(boost::asio::io_context& io, const std::string& identity, uint16_t port)
    : tls_(std::make_shared<protocol::TlsContext>(
          protocol::TlsContext::client(test_pki().options(identity)))) {
  // No heartbeats of its own: a test sends them when it means to.
  auto options = protocol::testing::fast_options();
  options.heartbeat_interval = std::chrono::milliseconds(0);
  options.idle_timeout = 30s;
  connection_ =
      connect_test_site(io, *tls_, port, options, inbox_, closed_, "hostile site " + identity);
}

HostileSite::~HostileSite() {
  if (connection_ && !connection_->error()) connection_->close(wire::STATUS_OK, "test over");
}

void HostileSite::send(const wire::Envelope& message) {
  connection_->send(message);
}

void HostileSite::send_frame(std::vector<uint8_t> frame) {
  auto shared = std::make_shared<const std::vector<uint8_t>>(std::move(frame));
  connection_->send_frames(
      [shared, sent = false]() mutable -> protocol::Connection::SharedFrame {
        if (sent) return nullptr;
        sent = true;
        return shared;
      },
      [] {});
}

wire::Status HostileSite::hello(uint64_t num_samples,
                                const std::function<void(wire::Hello&)>& edit) {
  wire::Envelope message;
  auto* hello = message.mutable_hello();
  hello->set_minor_version(protocol::kProtocolMinorVersion);
  hello->set_num_samples(num_samples);
  hello->add_codecs(wire::CODEC_FP32);
  hello->add_codecs(wire::CODEC_FP16);
  hello->set_device("cpu");
  if (edit) edit(*hello);
  send(message);
  // The welcome, or the end of the connection, whichever comes first.
  for (int i = 0; i < 100; ++i) {
    if (auto ack = next_ack(100ms)) return ack->status();
    if (closed(0ms)) break;
  }
  wire::Status status;
  const auto reason = closed(1s);
  status.set_code(reason ? reason->status() : wire::STATUS_INTERNAL);
  status.set_message(reason ? reason->what() : "no answer to Hello");
  return status;
}

std::optional<wire::Envelope> HostileSite::next(std::chrono::milliseconds timeout) {
  return inbox_->pop(timeout);
}

std::optional<wire::Ack> HostileSite::next_ack(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto message = inbox_->pop(left);
    if (!message) return std::nullopt;
    if (message->has_ack()) return message->ack();
  }
}

std::optional<ReceivedTask> HostileSite::wait_task(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<wire::Envelope> message;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    message = inbox_->pop(left);
    if (!message) return std::nullopt;
    if (message->has_task()) break;
  }
  ReceivedTask received;
  received.task = message->task();
  const auto& manifest = received.task.model();
  std::vector<protocol::MutableTensorView> destinations;
  for (const auto& spec : manifest.tensors()) {
    size_t count = 1;
    for (const int64_t dim : spec.shape()) count *= static_cast<size_t>(dim);
    received.model.emplace_back(count);
  }
  for (int t = 0; t < manifest.tensors_size(); ++t) {
    destinations.push_back({manifest.tensors(t), received.model[static_cast<size_t>(t)].data()});
  }
  protocol::TensorStreamReader reader(manifest, destinations);
  while (auto part = inbox_->pop(timeout)) {
    if (part->has_chunk()) reader.add(part->chunk());
    if (part->has_transfer_end()) {
      reader.finish(part->transfer_end());
      return received;
    }
  }
  return std::nullopt;
}

std::optional<protocol::TransportError> HostileSite::closed(std::chrono::milliseconds timeout) {
  if (!end_) end_ = closed_->pop(timeout);
  return end_;
}

wire::UpdateHeader HostileSite::header_for(const ReceivedTask& task,
                                           const std::vector<std::vector<float>>& delta,
                                           uint64_t samples,
                                           const std::map<std::string, double>& metrics) {
  const auto& model = task.task.model();
  std::vector<protocol::ConstTensorView> views;
  for (int t = 0; t < model.tensors_size(); ++t) {
    views.push_back({model.tensors(t), delta.at(static_cast<size_t>(t)).data()});
  }
  wire::UpdateHeader header;
  header.set_round(task.task.round());
  header.set_nonce(task.task.nonce());
  header.set_num_samples(samples);
  for (const auto& [key, value] : metrics) (*header.mutable_metrics())[key] = value;
  *header.mutable_delta() = protocol::make_manifest(views, model.codec());
  return header;
}

std::vector<wire::Envelope> HostileSite::raw_chunks(const std::vector<std::vector<float>>& delta,
                                                    size_t chunk_bytes) {
  std::string bytes;
  for (const auto& tensor : delta) {
    bytes.append(reinterpret_cast<const char*>(tensor.data()), tensor.size() * sizeof(float));
  }
  std::vector<wire::Envelope> messages;
  for (size_t offset = 0; offset < bytes.size(); offset += chunk_bytes) {
    wire::Envelope chunk;
    chunk.mutable_chunk()->set_offset(offset);
    chunk.mutable_chunk()->set_data(bytes.substr(offset, chunk_bytes));
    messages.push_back(chunk);
  }
  wire::Envelope end;
  end.mutable_transfer_end();
  messages.push_back(end);
  return messages;
}

std::optional<wire::Ack> HostileSite::upload(const wire::UpdateHeader& header,
                                             const std::vector<std::vector<float>>& delta) {
  wire::Envelope message;
  *message.mutable_update() = header;
  send(message);
  const auto admitted = next_ack();
  if (!admitted || admitted->status().code() != wire::STATUS_OK) return admitted;
  for (const auto& part : raw_chunks(delta)) send(part);
  return next_ack(20s);
}

}  // namespace fedgan::coordinator::testing
