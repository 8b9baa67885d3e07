#pragma once

// Hand-made peers for the transport tests: a plain TCP socket and a TLS client built directly on
// Asio and OpenSSL, so a test can behave in ways our own Connection never would (no certificate,
// TLS 1.2 only, garbage bytes, a frame that never ends).

#include "protocol/frame.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::protocol::testing {

struct RawTlsOptions {
  std::filesystem::path ca_file;           // verify the server against this CA
  std::filesystem::path certificate_file;  // empty: present no client certificate
  std::filesystem::path private_key_file;
  bool tls12_only = false;
};

/// A blocking TLS client; every read gives up after two seconds.
class RawTlsClient {
 public:
  RawTlsClient(uint16_t port, const RawTlsOptions& options);
  /// Runs the handshake; returns the error text, or "" on success.
  std::string handshake();
  /// Writes raw bytes; returns the error text, or "".
  std::string write(const std::vector<uint8_t>& bytes);
  /// Reads frames until the peer closes (or two seconds of silence), then closes the socket;
  /// returns the decoded envelopes and, through `error`, how reading ended.
  std::vector<wire::Envelope> read_until_closed(std::string* error = nullptr);
  /// Plaintext bytes read_until_closed() received, whole frames or not.
  size_t plaintext_bytes_read() const { return plaintext_bytes_read_; }

 private:
  boost::asio::io_context io_;
  boost::asio::ssl::context context_;
  // Built after the context is configured: OpenSSL copies certificate and limits at creation.
  std::optional<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> stream_;
  size_t plaintext_bytes_read_ = 0;
};

/// Connects a plain TCP socket to 127.0.0.1:port with a two-second read timeout.
boost::asio::ip::tcp::socket connect_plain(boost::asio::io_context& io, uint16_t port);

/// Reads from a plain socket until EOF or error; returns the number of bytes read.
size_t drain(boost::asio::ip::tcp::socket& socket);

}  // namespace fedgan::protocol::testing
