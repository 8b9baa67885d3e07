#pragma once

// Shared by the transport tests: a federation PKI generated once per test program, an
// io_context on its own thread, and a server that records what it accepted and refused.

#include "pki/pki.h"
#include "protocol/connection.h"
#include "protocol/server.h"
#include "protocol/tls_context.h"

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace fedgan::protocol::testing {

using namespace std::chrono_literals;

/// A thread-safe queue the test thread waits on, with a deadline so a broken test fails instead
/// of hanging.
template <typename T>
class Mailbox {
 public:
  void push(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    ready_.notify_all();
  }
  std::optional<T> pop(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !items_.empty(); })) return std::nullopt;
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
};

/// Certificates for every case the tests need, written under a fresh temporary directory:
/// the federation CA; "coordinator" (SAN localhost, 127.0.0.1, ::1); "coordinator-by-name"
/// (SAN localhost only); clients site-1 to site-5; "site-old" (expired); "site-revoked"
/// (listed in crl.pem); and "intruder", a client of another CA ("other-ca").
class TestPki {
 public:
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path cert(const std::string& name) const { return dir_ / (name + ".pem"); }
  std::filesystem::path key(const std::string& name) const { return dir_ / (name + ".key"); }
  std::filesystem::path ca() const { return cert("ca"); }
  std::filesystem::path crl() const { return dir_ / "crl.pem"; }

  /// TLS options for party `name`, trusting `ca_name`.
  TlsOptions options(const std::string& name, const std::string& ca_name = "ca") const;

 private:
  std::filesystem::path dir_;
};

/// The PKI shared by all tests of one program (generated on first use).
const TestPki& test_pki();

/// An io_context run by one background thread for the lifetime of the object.
class IoThread {
 public:
  IoThread();
  ~IoThread();
  boost::asio::io_context& io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

/// Short limits so timeout tests run in well under a second.
ConnectionOptions fast_options();

/// A Hello: what a client sends first, and what a server's connection waits for (a Server sets
/// ConnectionOptions::require_greeting, so a client that only sends heartbeats is closed).
wire::Envelope hello_message(uint64_t num_samples = 1);

/// What happened on one started connection: messages received, and how it ended.
struct Endpoint {
  std::shared_ptr<Connection> connection;
  std::shared_ptr<Mailbox<wire::Envelope>> inbox = std::make_shared<Mailbox<wire::Envelope>>();
  std::shared_ptr<Mailbox<TransportError>> closed = std::make_shared<Mailbox<TransportError>>();
  void start();
};

/// A server that starts every accepted connection and records accepted ones and refusals.
class TestServer {
 public:
  TestServer(boost::asio::io_context& io, const TlsOptions& tls, ServerOptions options = {});
  ~TestServer();
  uint16_t port() const { return server_->port(); }
  Server& server() { return *server_; }
  /// The next accepted (and started) connection, or nullopt after `timeout`.
  std::optional<Endpoint> accepted(std::chrono::milliseconds timeout = 10s) {
    return accepted_->pop(timeout);
  }
  std::optional<TransportError> refused(std::chrono::milliseconds timeout = 10s) {
    return refused_->pop(timeout);
  }
  size_t accepted_count() const { return accepted_->size(); }

 private:
  // Shared with the server's handlers, which may run after this object is gone.
  std::shared_ptr<TlsContext> tls_;
  std::shared_ptr<Mailbox<Endpoint>> accepted_ = std::make_shared<Mailbox<Endpoint>>();
  std::shared_ptr<Mailbox<TransportError>> refused_ = std::make_shared<Mailbox<TransportError>>();
  std::shared_ptr<Server> server_;
};

/// Connects with our own client; returns the started endpoint or the connect error.
struct ConnectResult {
  std::optional<Endpoint> endpoint;
  std::optional<TransportError> error;
};
ConnectResult connect_client(boost::asio::io_context& io, const TlsContext& tls, uint16_t port,
                             const std::string& host = "127.0.0.1",
                             const std::string& server_name = "",
                             const ConnectionOptions& options = fast_options());

}  // namespace fedgan::protocol::testing
