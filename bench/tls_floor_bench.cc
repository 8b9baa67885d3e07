// The floor under a federated round's transfers on this machine: a site sends N bytes (its delta)
// and gets N bytes back (the next model) over loopback, with nothing else done to the bytes. No
// framing, encoding, digest or validation: only the kernel's socket copies and, over TLS, the
// record layer of the same TLS 1.3 contexts the product uses (mutual certificates, the product's
// TlsEngine, driven here over a blocking socket with the product's read and write sizes).
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
#include "protocol/tls_engine.h"

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
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

// A TlsEngine on a blocking socket, with TlsConnection's slice and read sizes.
class BlockingTls {
 public:
  BlockingTls(tcp::socket& socket, const TlsContext& context, bool server)
      : socket_(socket),
        engine_(context.native().native_handle(), server),
        in_(TlsEngine::kCipherReadBytes) {
    while (true) {
      const auto result = engine_.handshake();
      flush();
      if (result == TlsEngine::Result::kDone) return;
      if (result != TlsEngine::Result::kWantRead) fail("handshake");
      fill();
    }
  }

  void write(const char* data, size_t size) {
    for (size_t offset = 0; offset < size;) {
      const size_t slice = std::min(TlsEngine::kWriteSliceBytes, size - offset);
      if (!engine_.write(reinterpret_cast<const uint8_t*>(data) + offset, slice)) fail("write");
      offset += slice;
      flush();
    }
  }

  void read(char* data, size_t size) {
    for (size_t offset = 0; offset < size;) {
      size_t got = 0;
      const auto result =
          engine_.read(reinterpret_cast<uint8_t*>(data) + offset, size - offset, got);
      if (result == TlsEngine::Result::kDone) {
        offset += got;
      } else if (result == TlsEngine::Result::kWantRead) {
        fill();
      } else {
        fail("read");
      }
    }
  }

 private:
  void flush() {
    engine_.take_output(out_);
    asio::write(socket_, asio::buffer(out_));
  }
  void fill() {
    const size_t got = socket_.read_some(asio::buffer(in_));
    engine_.feed(in_.data(), got);
  }
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(fmt::format("TLS {} failed: {}", what, engine_.error()));
  }

  tcp::socket& socket_;
  TlsEngine engine_;
  std::vector<uint8_t> in_;
  std::vector<uint8_t> out_;
};

struct Run {
  size_t bytes;
  int repeat;
  bool tls;
};

// Plain TCP with BlockingTls's interface.
class PlainTcp {
 public:
  explicit PlainTcp(tcp::socket& socket) : socket_(socket) {}
  void write(const char* data, size_t size) { asio::write(socket_, asio::buffer(data, size)); }
  void read(char* data, size_t size) { asio::read(socket_, asio::buffer(data, size)); }

 private:
  tcp::socket& socket_;
};

// Sends `payload` and reads as many bytes back, `repeat` times; returns each round trip's seconds.
template <typename Stream>
std::vector<double> time_round_trips(Stream& stream, const Run& run) {
  std::vector<char> payload(run.bytes, 'd');
  std::vector<char> reply(run.bytes);
  std::vector<double> seconds;
  for (int i = 0; i < run.repeat; ++i) {
    const auto start = Clock::now();
    stream.write(payload.data(), payload.size());
    stream.read(reply.data(), reply.size());
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return seconds;
}

template <typename Stream>
void echo(Stream& stream, const Run& run) {
  std::vector<char> received(run.bytes);
  std::vector<char> model(run.bytes, 'm');
  for (int i = 0; i < run.repeat; ++i) {
    stream.read(received.data(), received.size());
    stream.write(model.data(), model.size());
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
    BlockingTls stream(socket, context, false);
    seconds = time_round_trips(stream, run);
  } else {
    PlainTcp stream(socket);
    seconds = time_round_trips(stream, run);
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
    BlockingTls stream(socket, context, true);
    echo(stream, run);
  } else {
    PlainTcp stream(socket);
    echo(stream, run);
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
