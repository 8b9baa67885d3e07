#include "tests/protocol/model_transfer.h"

#include "protocol/codec.h"
#include "protocol/tensor_records.h"
#include "protocol/tensor_stream.h"
#include "tests/protocol/transport_fixture.h"

#include <cstring>
#include <fstream>

namespace fedgan::protocol::testing {

namespace {

size_t status_field_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1));
  }
  return 0;
}

// Lets VmHWM start again from the current resident size, so the peak of one transfer is measured
// rather than the peak of everything the test program did before.
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

std::vector<ConstTensorView> views_of(const std::vector<std::vector<float>>& tensors) {
  std::vector<ConstTensorView> views;
  for (size_t i = 0; i < tensors.size(); ++i) {
    views.push_back({tensor_spec("layer" + std::to_string(i) + ".weight", wire::DTYPE_FLOAT32,
                                 {static_cast<int64_t>(tensors[i].size())}),
                     tensors[i].data()});
  }
  return views;
}

}  // namespace

size_t peak_rss_bytes() {
  return status_field_kib("VmHWM") * 1024;
}

ModelTransferResult transfer_model(size_t tensors, size_t floats_per_tensor, wire::Codec codec,
                                   size_t chunk_bytes) {
  // Source and destination are allocated and touched before the measurement starts: the transfer
  // may add only its own buffers.
  std::vector<std::vector<float>> source(tensors, std::vector<float>(floats_per_tensor));
  for (size_t t = 0; t < tensors; ++t) {
    for (size_t i = 0; i < floats_per_tensor; ++i) {
      source[t][i] = static_cast<float>((i * 2654435761u + t) % 100000) * 1e-3f - 50.0f;
    }
  }
  std::vector<std::vector<float>> destination(tensors, std::vector<float>(floats_per_tensor, 0));

  const auto sender_writer =
      std::make_shared<TensorStreamWriter>(views_of(source), codec, chunk_bytes);
  const wire::Manifest expected = sender_writer->manifest();
  Mailbox<std::string> received;  // "" once the model is in, else why it is not
  auto reader = std::make_shared<std::unique_ptr<TensorStreamReader>>();
  const auto client_tls = TlsContext::client(test_pki().options("site-1"));
  // Declared after everything the handlers use, so its thread is joined before those go away.
  IoThread io;
  TestServer server(io.io(), test_pki().options("coordinator"));

  // The client's side: the model arrives into `destination`.
  reset_peak_rss();
  const size_t baseline = peak_rss_bytes();
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<Connection> client;
  async_connect(
      io.io(), client_tls, ConnectTarget{"127.0.0.1", server.port(), ""}, fast_options(),
      [&](std::shared_ptr<Connection> connection, std::optional<TransportError> error) {
        if (error) return received.push(error->what());
        client = connection;
        connection->start(
            [&, reader](wire::Envelope& message) {
              if (message.has_task()) {
                validate_manifest(message.task().model(), expected,
                                  (1u << wire::CODEC_FP32) | (1u << wire::CODEC_FP16));
                std::vector<MutableTensorView> into;
                for (size_t t = 0; t < tensors; ++t) {
                  into.push_back({expected.tensors(static_cast<int>(t)), destination[t].data()});
                }
                *reader = std::make_unique<TensorStreamReader>(message.task().model(), into);
              } else if (message.has_chunk()) {
                (*reader)->add(message.chunk());
              } else if (message.has_transfer_end()) {
                (*reader)->finish(message.transfer_end());
                received.push("");
              }
            },
            [&](const TransportError& reason) {
              if (!*reader || !(*reader)->complete()) received.push(reason.what());
            });
        // The server waits for a greeting; without one, the client's first heartbeat would end a
        // transfer that takes longer than the heartbeat interval.
        connection->send(hello_message());
      });

  // The server's side: Task, then the chunks as a stream, then TransferEnd.
  auto accepted = server.accepted();
  ModelTransferResult result;
  if (!accepted) return result;
  wire::Envelope task;
  task.mutable_task()->set_round(1);
  *task.mutable_task()->mutable_model() = expected;
  auto sender = accepted->connection;
  sender->send(task);
  sender->send_stream(
      [sender_writer](wire::Envelope& next) {
        return sender_writer->next_chunk(*next.mutable_chunk());
      },
      [sender_writer, sender] {
        wire::Envelope end;
        *end.mutable_transfer_end() = sender_writer->transfer_end();
        sender->send(end);
      });
  const std::string outcome = received.pop(120s).value_or("no outcome within 120 s");
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(outcome, "");
  result.peak_extra_bytes = peak_rss_bytes() - baseline;
  result.sender_peak_queued = sender->stats().peak_queued_bytes;
  result.model_bytes = tensors * floats_per_tensor * sizeof(float);
  result.wire_bytes = expected.total_bytes();
  result.identical = outcome.empty();
  for (size_t t = 0; t < tensors && result.identical; ++t) {
    if (codec == wire::CODEC_FP32) {
      result.identical = std::memcmp(source[t].data(), destination[t].data(),
                                     floats_per_tensor * sizeof(float)) == 0;
    } else {
      for (size_t i = 0; i < floats_per_tensor && result.identical; ++i) {
        result.identical = destination[t][i] == half_to_float(float_to_half(source[t][i]));
      }
    }
  }
  if (client) client->close(wire::STATUS_OK, "done");
  return result;
}

}  // namespace fedgan::protocol::testing
