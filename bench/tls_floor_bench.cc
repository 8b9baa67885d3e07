// The floor under a federated round's transfers on this machine: a site sends N bytes (its delta)
// and gets N bytes back (the next model) over loopback, with nothing else done to the bytes. No
// framing, encoding, digest or validation: only the kernel's socket copies and, over TLS, the
// record layer of the same TLS 1.3 contexts the product uses (mutual certificates, the product's
// TlsEngine, driven here over a blocking socket with the product's read and write sizes).
// What the product spends beyond this floor is its own; what the floor itself costs, any
// framework that sends the same bytes the same way pays too.
//
// The coordinator side is this process; each site is a forked child. A round: every site but the
// last uploads (in a federation those uploads overlap the last site's training), then, timed, the
// last site uploads and the coordinator sends the model to every site, a slice to each in turn.
// The time runs from the last site's first byte written to the moment the last of the sites has
// read the whole model: with one site, the round trip of its two transfers; with K, what a round
// of K sites cannot go below once the slowest of them has trained.
//
// Usage: fedgan-bench-tls-floor [--bytes 3940000] [--repeat 50] [--transport tls|tcp] [--sites 1]
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
#include <memory>
#include <optional>
#include <utility>
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
  int sites;
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

// One end of a connection, over TLS or plain TCP. Not movable: the stream refers to the socket.
class Stream {
 public:
  Stream(tcp::socket socket, const fs::path& dir, bool tls, bool server)
      : socket_(std::move(socket)) {
    socket_.set_option(tcp::no_delay(true));
    if (tls) {
      context_.emplace(server ? TlsContext::server(bench::loopback_party(dir, "coordinator"))
                              : TlsContext::client(bench::loopback_party(dir, "site-1")));
      tls_.emplace(socket_, *context_, server);
    } else {
      tcp_.emplace(socket_);
    }
  }
  void write(const char* data, size_t size) {
    tls_ ? tls_->write(data, size) : tcp_->write(data, size);
  }
  void read(char* data, size_t size) { tls_ ? tls_->read(data, size) : tcp_->read(data, size); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

 private:
  tcp::socket socket_;
  std::optional<TlsContext> context_;
  std::optional<BlockingTls> tls_;
  std::optional<PlainTcp> tcp_;
};

// A round as the sites see it, `repeat` times: on the coordinator's go, the site uploads its
// delta, then reads the next model. Reports each round's go and end on the monotonic clock,
// which all processes of the machine share.
int site(const Run& run, const fs::path& dir, uint16_t port, int report_fd) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  Stream stream(std::move(socket), dir, run.tls, false);
  std::vector<char> delta(run.bytes, 'd');
  std::vector<char> model(run.bytes);
  std::string report;
  for (int i = 0; i < run.repeat; ++i) {
    char go = 0;
    stream.read(&go, 1);
    const auto start = Clock::now();
    stream.write(delta.data(), delta.size());
    stream.read(model.data(), model.size());
    const auto end = Clock::now();
    report +=
        fmt::format("{} {}\n", start.time_since_epoch().count(), end.time_since_epoch().count());
  }
  return write(report_fd, report.data(), report.size()) == static_cast<ssize_t>(report.size()) ? 0
                                                                                               : 1;
}

// Every round's (go, end) pairs of one site, in clock ticks.
std::vector<std::pair<int64_t, int64_t>> read_report(int fd) {
  std::string text;
  char buffer[4096];
  for (ssize_t got; (got = read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, got);
  std::vector<std::pair<int64_t, int64_t>> rounds;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = text.substr(start, end - start);
    const size_t space = line.find(' ');
    rounds.emplace_back(std::stoll(line.substr(0, space)), std::stoll(line.substr(space + 1)));
  }
  return rounds;
}

// The coordinator's side of one round: the uploads of every site but the last, which in a round
// arrive while the others still train; then, timed by the sites' clocks, the last site's upload
// and the next model to every site, a slice to each in turn as the coordinator's io thread does.
void serve_round(std::vector<std::unique_ptr<Stream>>& sites, std::vector<char>& received,
                 const std::vector<char>& model) {
  const char go = 'g';
  for (auto& site : sites) {  // the last one last
    site->write(&go, 1);
    site->read(received.data(), received.size());
  }
  for (size_t offset = 0; offset < model.size(); offset += TlsEngine::kWriteSliceBytes) {
    const size_t slice = std::min(TlsEngine::kWriteSliceBytes, model.size() - offset);
    for (auto& site : sites) site->write(model.data() + offset, slice);
  }
}

void bench(const Run& run, const fs::path& dir) {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = acceptor.local_endpoint().port();
  std::vector<pid_t> children;
  std::vector<int> report_fds;
  std::vector<std::unique_ptr<Stream>> sites;
  for (int i = 0; i < run.sites; ++i) {
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
    children.push_back(child);
    report_fds.push_back(pipe_fds[0]);
    // Accepted before the next site is forked, so that the last stream is the last site's.
    sites.push_back(std::make_unique<Stream>(acceptor.accept(), dir, run.tls, true));
  }
  std::vector<char> received(run.bytes);
  std::vector<char> model(run.bytes, 'm');
  for (int i = 0; i < run.repeat; ++i) serve_round(sites, received, model);
  // From the last site's go to the moment the last of the sites holds the model.
  std::vector<int64_t> go(static_cast<size_t>(run.repeat), 0);
  std::vector<int64_t> end(static_cast<size_t>(run.repeat), 0);
  bool failed = false;
  for (size_t s = 0; s < children.size(); ++s) {
    const auto rounds = read_report(report_fds[s]);
    close(report_fds[s]);
    int status = 0;
    waitpid(children[s], &status, 0);
    failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
              rounds.size() != static_cast<size_t>(run.repeat);
    if (failed) continue;
    for (size_t r = 0; r < rounds.size(); ++r) {
      if (s + 1 == children.size()) go[r] = rounds[r].first;
      end[r] = std::max(end[r], rounds[r].second);
    }
  }
  if (failed) throw std::runtime_error("a site process failed (see its message above)");
  std::vector<double> seconds;
  for (size_t r = 0; r < go.size(); ++r) {
    seconds.push_back(std::chrono::duration<double>(Clock::duration(end[r] - go[r])).count());
  }
  std::sort(seconds.begin(), seconds.end());
  fmt::print(
      "{} {} bytes each way, {} round trips{}: min {:.4f} s, median {:.4f} s, "
      "max {:.4f} s\n",
      run.tls ? "tls" : "tcp", run.bytes, run.repeat,
      run.sites > 1 ? fmt::format(", {} sites", run.sites) : "", seconds.front(),
      seconds[seconds.size() / 2], seconds.back());
}

}  // namespace
}  // namespace fedgan::protocol

int main(int argc, char** argv) {
  using namespace fedgan::protocol;
  CLI::App app{"Round trip of a delta and a model over loopback, with nothing done to the bytes"};
  Run run{3940000, 50, true, 1};
  std::string transport = "tls";
  app.add_option("--bytes", run.bytes, "Bytes each way")->capture_default_str();
  app.add_option("--repeat", run.repeat, "Round trips to time")->capture_default_str();
  app.add_option("--sites", run.sites,
                 "Sites in a round: the last one's upload, then the model to each")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
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
