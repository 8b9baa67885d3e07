// The floor under a federated round's transfers on this machine: a site sends N bytes (its delta)
// and gets N bytes back (the next model) over loopback, with nothing else done to the bytes. No
// framing, encoding, digest or validation: only the kernel's socket copies and, over TLS, the
// record layer of the same TLS 1.3 contexts the product uses (mutual certificates, Asio streams).
// What the product spends beyond this floor is its own; what the floor itself costs, any
// framework that sends the same bytes the same way pays too.
//
// The coordinator side (this process) echoes; the site side is a forked child that times each
// round trip from its first byte written to its last byte read.
//
// Usage: fedgan-bench-tls-floor [--bytes 3940000] [--repeat 50] [--transport tls|tcp]
// Prints one line: transport, bytes, round trips, then min / median / max seconds.

#include "bench/loopback_pki.h"
#include "protocol/tls_context.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace fedgan::protocol {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Run {
  size_t bytes;
  int repeat;
  bool tls;
};

// Sends `payload` and reads as many bytes back, `repeat` times; returns each round trip's seconds.
template <typename Stream>
std::vector<double> time_round_trips(Stream& stream, const Run& run) {
  std::vector<char> payload(run.bytes, 'd');
  std::vector<char> reply(run.bytes);
  std::vector<double> seconds;
  for (int i = 0; i < run.repeat; ++i) {
    const auto start = Clock::now();
    asio::write(stream, asio::buffer(payload));
    asio::read(stream, asio::buffer(reply));
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return seconds;
}

template <typename Stream>
void echo(Stream& stream, const Run& run) {
  std::vector<char> received(run.bytes);
  std::vector<char> model(run.bytes, 'm');
  for (int i = 0; i < run.repeat; ++i) {
    asio::read(stream, asio::buffer(received));
    asio::write(stream, asio::buffer(model));
  }
}

// The site: connects, shakes hands, times the round trips and writes them to `report_fd`.
int site(const Run& run, const fs::path& dir, uint16_t port, int report_fd) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  socket.set_option(tcp::no_delay(true));
  std::vector<double> seconds;
  if (run.tls) {
    const auto context = TlsContext::client(bench::loopback_party(dir, "site-1"));
    asio::ssl::stream<tcp::socket&> stream(socket, context.native());
    stream.set_verify_mode(asio::ssl::verify_peer);
    stream.handshake(asio::ssl::stream_base::client);
    seconds = time_round_trips(stream, run);
  } else {
    seconds = time_round_trips(socket, run);
  }
  std::string report;
  for (double s : seconds) report += fmt::format("{}\n", s);
  return write(report_fd, report.data(), report.size()) == static_cast<ssize_t>(report.size()) ? 0
                                                                                               : 1;
}

std::vector<double> read_report(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, got);
  std::vector<double> seconds;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    seconds.push_back(std::stod(text.substr(start, end - start)));
  }
  return seconds;
}

void bench(const Run& run, const fs::path& dir) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[0]);
    int status = 1;
    try {
      status = site(run, dir, port, pipe_fds[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fedgan-bench-tls-floor: site: %s\n", e.what());
    }
    _exit(status);
  }
  close(pipe_fds[1]);
  tcp::socket socket = acceptor.accept();
  socket.set_option(tcp::no_delay(true));
  if (run.tls) {
    const auto context = TlsContext::server(bench::loopback_party(dir, "coordinator"));
    asio::ssl::stream<tcp::socket&> stream(socket, context.native());
    stream.handshake(asio::ssl::stream_base::server);
    echo(stream, run);
  } else {
    echo(socket, run);
  }
  auto seconds = read_report(pipe_fds[0]);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      seconds.size() != static_cast<size_t>(run.repeat)) {
    throw std::runtime_error("the site process failed (see its message above)");
  }
  std::sort(seconds.begin(), seconds.end());
  fmt::print("{} {} bytes each way, {} round trips: min {:.4f} s, median {:.4f} s, max {:.4f} s\n",
             run.tls ? "tls" : "tcp", run.bytes, run.repeat, seconds.front(),
             seconds[seconds.size() / 2], seconds.back());
}

}  // namespace
}  // namespace fedgan::protocol

int main(int argc, char** argv) {
  using namespace fedgan::protocol;
  CLI::App app{"Round trip of a delta and a model over loopback, with nothing done to the bytes"};
  Run run{3940000, 50, true};
  std::string transport = "tls";
  app.add_option("--bytes", run.bytes, "Bytes each way")->capture_default_str();
  app.add_option("--repeat", run.repeat, "Round trips to time")->capture_default_str();
  app.add_option("--transport", transport, "tls or tcp")
      ->check(CLI::IsMember({"tls", "tcp"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  run.tls = transport == "tls";
  try {
    const auto dir =
        std::filesystem::temp_directory_path() / fmt::format("fedgan-bench-tls-floor-{}", getpid());
    std::filesystem::create_directories(dir);
    fedgan::bench::write_loopback_pki(dir);
    bench(run, dir);
    std::filesystem::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedgan-bench-tls-floor: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
