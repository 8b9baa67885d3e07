#include "tests/protocol/transport_fixture.h"

#include <future>
#include <random>

namespace fedgan::protocol::testing {

namespace fs = std::filesystem;

TestPki::TestPki() {
  std::random_device random;
  dir_ = fs::temp_directory_path() / ("fedgan-transport-test-" + std::to_string(random()));
  fs::create_directories(dir_);
  auto save = [&](const std::string& name, const pki::Credentials& credentials) {
    pki::write_credentials(credentials, cert(name), key(name));
  };
  const auto ca = pki::create_ca("fedgan test federation CA", 30);
  save("ca", ca);
  const auto other_ca = pki::create_ca("some other CA", 30);
  save("other-ca", other_ca);

  pki::CertificateOptions server;
  server.common_name = "coordinator";
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  server.validity_days = 2;
  save("coordinator", pki::issue_server_certificate(ca, server));
  server.common_name = "coordinator-by-name";
  server.ip_addresses.clear();
  save("coordinator-by-name", pki::issue_server_certificate(ca, server));

  auto client = [&](const pki::Credentials& issuer, const std::string& name) {
    pki::CertificateOptions options;
    options.common_name = name;
    options.validity_days = 2;
    const auto credentials = pki::issue_client_certificate(issuer, options);
    save(name, credentials);
    return credentials;
  };
  for (const char* site : {"site-1", "site-2", "site-3", "site-4", "site-5"}) client(ca, site);
  client(other_ca, "intruder");
  const auto revoked = client(ca, "site-revoked");
  pki::write_pem_file(crl(), pki::create_crl(ca, {revoked.certificate_pem}));

  pki::CertificateOptions old;
  old.common_name = "site-old";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  old.not_before_unix = now - 10 * 86400;
  old.not_after_unix = now - 86400;
  save("site-old", pki::issue_client_certificate(ca, old));
}

TestPki::~TestPki() {
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

TlsOptions TestPki::options(const std::string& name, const std::string& ca_name) const {
  TlsOptions options;
  options.ca_file = cert(ca_name);
  options.certificate_file = cert(name);
  options.private_key_file = key(name);
  return options;
}

const TestPki& test_pki() {
  static const TestPki pki;
  return pki;
}

IoThread::IoThread() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}

IoThread::~IoThread() {
  work_.reset();
  io_.stop();
  thread_.join();
}

ConnectionOptions fast_options() {
  ConnectionOptions options;
  options.handshake_timeout = 5s;
  options.idle_timeout = 5s;
  options.frame_timeout = 5s;
  options.heartbeat_interval = 1s;
  return options;
}

wire::Envelope hello_message(uint64_t num_samples) {
  wire::Envelope message;
  message.mutable_hello()->set_num_samples(num_samples);
  message.mutable_hello()->add_codecs(wire::CODEC_FP32);
  return message;
}

void Endpoint::start() {
  connection->start([inbox = inbox](wire::Envelope& message) { inbox->push(std::move(message)); },
                    [closed = closed](const TransportError& reason) { closed->push(reason); });
}

TestServer::TestServer(boost::asio::io_context& io, const TlsOptions& tls, ServerOptions options)
    : tls_(std::make_shared<TlsContext>(TlsContext::server(tls))) {
  server_ = Server::create(
      io, *tls_, std::move(options),
      [accepted = accepted_, tls = tls_](std::shared_ptr<Connection> connection) {
        Endpoint endpoint{std::move(connection)};
        endpoint.start();
        accepted->push(std::move(endpoint));
      },
      [refused = refused_, tls = tls_](const std::string&, const TransportError& reason) {
        refused->push(reason);
      });
  server_->start();
}

TestServer::~TestServer() {
  server_->stop();
}

ConnectResult connect_client(boost::asio::io_context& io, const TlsContext& tls, uint16_t port,
                             const std::string& host, const std::string& server_name,
                             const ConnectionOptions& options) {
  std::promise<ConnectResult> done;
  async_connect(
      io, tls, ConnectTarget{host, port, server_name}, options,
      [&done](std::shared_ptr<Connection> connection, std::optional<TransportError> error) {
        ConnectResult result;
        if (connection) {
          Endpoint endpoint{std::move(connection)};
          endpoint.start();
          result.endpoint = std::move(endpoint);
        }
        result.error = std::move(error);
        done.set_value(std::move(result));
      });
  return done.get_future().get();
}

}  // namespace fedgan::protocol::testing
