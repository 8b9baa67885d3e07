// Model transfer over loopback mutual TLS, as a coordinator sends the global model: Task with the
// manifest, the tensors as 4 MiB chunks, TransferEnd with the SHA-256. The sender (this process)
// and the receiver (a forked child) are separate processes so each reports its own peak memory.
//
// Usage: fedgan-bench-transfer --mib 256 [--codec fp32|fp16] [--chunk-mib 4] [--repeat 3]
// Prints one line per repetition: size, seconds, MiB/s of model, peak RSS of both processes.

#include "bench/loopback_pki.h"
#include "protocol/connection.h"
#include "protocol/server.h"
#include "protocol/tensor_records.h"
#include "protocol/tensor_stream.h"
#include "protocol/tls_context.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>

namespace fedgan::protocol {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

size_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

// One float32 tensor per 64 MiB (the last one smaller), like the large layers of a real model.
std::vector<std::vector<float>> make_model(size_t mib) {
  const size_t total = (mib << 20) / sizeof(float);
  const size_t per_tensor = (size_t{64} << 20) / sizeof(float);
  std::vector<std::vector<float>> tensors;
  std::mt19937 random(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (size_t done = 0; done < total; done += per_tensor) {
    tensors.emplace_back(std::min(per_tensor, total - done));
    for (float& v : tensors.back()) v = value(random);
  }
  return tensors;
}

wire::Manifest manifest_of(const std::vector<std::vector<float>>& tensors, wire::Codec codec,
                           std::vector<ConstTensorView>* views) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    views->push_back({tensor_spec(fmt::format("layer{}.weight", i), wire::DTYPE_FLOAT32,
                                  {static_cast<int64_t>(tensors[i].size())}),
                      tensors[i].data()});
  }
  return make_manifest(*views, codec);
}

struct Run {
  size_t mib;
  wire::Codec codec;
  size_t chunk_bytes;
};

// The child: receives the model into its own tensors (every check a site makes), reports
// "seconds peak_kib" on `report_fd`.
int receive(const Run& run, const fs::path& dir, uint16_t port, int report_fd) {
  auto tensors = make_model(run.mib);  // same shapes; the values are overwritten
  std::vector<ConstTensorView> views;
  const auto expected = manifest_of(tensors, run.codec, &views);
  boost::asio::io_context io;
  const auto tls = TlsContext::client(bench::loopback_party(dir, "site-1"));
  std::promise<std::string> outcome;
  std::unique_ptr<TensorStreamReader> reader;
  Clock::time_point started;
  async_connect(io, tls, {"127.0.0.1", port, ""}, ConnectionOptions{},
                [&](std::shared_ptr<Connection> connection, std::optional<TransportError> error) {
                  if (error) return outcome.set_value(error->what());
                  connection->start(
                      [&, connection](wire::Envelope& message) {
                        if (message.has_task()) {
                          started = Clock::now();
                          validate_manifest(message.task().model(), expected, 1u << run.codec);
                          std::vector<MutableTensorView> into;
                          for (size_t i = 0; i < tensors.size(); ++i) {
                            into.push_back({views[i].spec, tensors[i].data()});
                          }
                          reader =
                              std::make_unique<TensorStreamReader>(message.task().model(), into);
                        } else if (message.has_chunk()) {
                          reader->add(message.chunk());
                        } else if (message.has_transfer_end()) {
                          reader->finish(message.transfer_end());
                          connection->close(wire::STATUS_OK, "received");
                          outcome.set_value("");
                        }
                      },
                      [&](const TransportError& reason) {
                        if (!reader || !reader->complete()) outcome.set_value(reason.what());
                      });
                  // A Server waits for a greeting within its handshake deadline, as from a site.
                  wire::Envelope hello;
                  hello.mutable_hello()->set_num_samples(1);
                  connection->send(hello);
                });
  auto result = outcome.get_future();
  std::thread runner([&] { io.run(); });
  const std::string error = result.get();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  runner.join();
  const std::string line =
      error.empty() ? fmt::format("{} {}\n", seconds, peak_rss_kib()) : "error " + error + "\n";
  return write(report_fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
}

// Lets VmHWM start again from the current resident size, so each repetition reports its own peak.
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

const char* codec_name(wire::Codec codec) {
  return codec == wire::CODEC_FP16 ? "fp16" : "fp32";
}

void bench_once(const Run& run, const fs::path& dir, const std::string& self) {
  reset_peak_rss();
  const auto model = make_model(run.mib);
  std::vector<ConstTensorView> views;
  manifest_of(model, run.codec, &views);
  boost::asio::io_context io;
  const auto tls = TlsContext::server(bench::loopback_party(dir, "coordinator"));
  std::promise<std::string> sent;
  auto server = Server::create(
      io, tls, ServerOptions{},
      [&](std::shared_ptr<Connection> connection) {
        auto writer = std::make_shared<TensorStreamWriter>(views, run.codec, run.chunk_bytes);
        connection->start([](wire::Envelope&) {},
                          [&](const TransportError& reason) {
                            sent.set_value(reason.kind() == TransportErrorKind::kClosedByPeer
                                               ? ""
                                               : reason.what());
                          });
        wire::Envelope task;
        *task.mutable_task()->mutable_model() = writer->manifest();
        connection->send(task);
        connection->send_stream(
            [writer](wire::Envelope& next) { return writer->next_chunk(*next.mutable_chunk()); },
            [writer, connection] {
              wire::Envelope end;
              *end.mutable_transfer_end() = writer->transfer_end();
              connection->send(end);
            });
      },
      [&](const std::string&, const TransportError& reason) { sent.set_value(reason.what()); });
  server->start();

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t child = fork();
  if (child == 0) {
    // A fresh program image, so the receiver's memory is its own and not the sender's pages.
    close(pipe_fds[0]);
    const std::string port = std::to_string(server->port());
    const std::string fd = std::to_string(pipe_fds[1]);
    const std::string mib = std::to_string(run.mib);
    const std::string chunk = std::to_string(run.chunk_bytes >> 20);
    execl(self.c_str(), self.c_str(), "--receive-port", port.c_str(), "--report-fd", fd.c_str(),
          "--dir", dir.c_str(), "--mib", mib.c_str(), "--codec", codec_name(run.codec),
          "--chunk-mib", chunk.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::thread runner([&] { io.run(); });
  const std::string send_error = sent.get_future().get();
  server->stop();
  io.stop();
  runner.join();
  char report[512] = {};
  const ssize_t got = read(pipe_fds[0], report, sizeof report - 1);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  double seconds = 0;
  size_t receiver_kib = 0;
  if (!send_error.empty() || got <= 0 ||
      std::sscanf(report, "%lf %zu", &seconds, &receiver_kib) != 2) {
    throw std::runtime_error(
        fmt::format("transfer failed: sender '{}', receiver '{}'", send_error, report));
  }
  fmt::print(
      "{:>6} MiB {}  {:7.3f} s  {:7.1f} MiB/s  peak RSS: sender {:5} MiB, receiver {:5} MiB\n",
      run.mib, codec_name(run.codec), seconds, static_cast<double>(run.mib) / seconds,
      peak_rss_kib() >> 10, receiver_kib >> 10);
  std::fflush(stdout);
}

}  // namespace
}  // namespace fedgan::protocol

int main(int argc, char** argv) {
  using namespace fedgan::protocol;
  CLI::App app{"Model transfer throughput over loopback mutual TLS"};
  size_t mib = 256;
  std::string codec = "fp32";
  size_t chunk_mib = 4;
  int repeat = 3;
  app.add_option("--mib", mib, "Model size in MiB of float32")->capture_default_str();
  app.add_option("--codec", codec, "fp32 or fp16")->capture_default_str();
  app.add_option("--chunk-mib", chunk_mib, "Chunk size in MiB")->capture_default_str();
  app.add_option("--repeat", repeat, "Transfers to time")->capture_default_str();
  uint16_t receive_port = 0;
  int report_fd = -1;
  std::string dir_text;
  app.add_option("--receive-port", receive_port, "(internal) run as the receiver");
  app.add_option("--report-fd", report_fd, "(internal) where the receiver reports");
  app.add_option("--dir", dir_text, "(internal) certificate directory");
  CLI11_PARSE(app, argc, argv);
  try {
    const Run run{mib, codec == "fp16" ? wire::CODEC_FP16 : wire::CODEC_FP32, chunk_mib << 20};
    if (receive_port != 0) return receive(run, dir_text, receive_port, report_fd);
    const auto dir =
        std::filesystem::temp_directory_path() / fmt::format("fedgan-bench-transfer-{}", getpid());
    std::filesystem::create_directories(dir);
    fedgan::bench::write_loopback_pki(dir);
    const std::string self = std::filesystem::read_symlink("/proc/self/exe");
    for (int i = 0; i < repeat; ++i) bench_once(run, dir, self);
    std::filesystem::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedgan-bench-transfer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
