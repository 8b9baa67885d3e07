#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace fedgan::protocol {

/// The files that make a party of a federation. Every path is read once, when the context is
/// built; a missing, unreadable or mismatched file is a TransportError(kConfiguration) naming it.
struct TlsOptions {
  /// The federation CA (PEM) that every peer certificate must chain to.
  std::filesystem::path ca_file;
  /// This party's certificate (PEM, may hold a chain) and its private key (PEM).
  std::filesystem::path certificate_file;
  std::filesystem::path private_key_file;
  /// Optional certificate revocation list (PEM) issued by the CA; when set, a peer whose
  /// certificate it lists is refused during the handshake.
  std::filesystem::path crl_file;
  /// TLS 1.3 only unless this is set; then TLS 1.2 is accepted too (ECDHE + AEAD suites only).
  bool allow_tls12 = false;
};

/// An OpenSSL context configured for one side of the federation's mutual TLS:
/// - server: requires a client certificate chaining to the CA (the handshake fails otherwise);
/// - client: verifies the server's chain; the host name or IP is checked per connection.
/// Immutable after construction and safe to share between connections and threads.
class TlsContext {
 public:
  static TlsContext server(const TlsOptions& options);
  static TlsContext client(const TlsOptions& options);

  TlsContext(TlsContext&&) noexcept;
  TlsContext& operator=(TlsContext&&) noexcept;
  ~TlsContext();

  /// The Asio context connections are built on (see connection.cc).
  boost::asio::ssl::context& native() const { return *context_; }

 private:
  explicit TlsContext(std::unique_ptr<boost::asio::ssl::context> context);

  std::unique_ptr<boost::asio::ssl::context> context_;
};

}  // namespace fedgan::protocol
