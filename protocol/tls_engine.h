#pragma once

// TLS without I/O: the record layer and handshake of one side of a connection, fed and drained by
// whoever owns the socket (TlsConnection on an Asio strand; fedgan-bench-tls-floor on a blocking
// socket). Asio's own ssl::stream moves ciphertext through a 17 KiB BIO pair, so every TLS record
// costs a socket call and a completion handler: about 240 of each per 3.9 MB model and direction.
// Here a slice of a frame is encrypted into one buffer and written with one call, and one socket
// read is decrypted at once: a 3.9 MB model's round trip over loopback takes about a fifth less
// (docs/benchmarks.md, "Run 22").

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;
struct x509_store_ctx_st;

namespace fedgan::protocol {

class TlsEngine {
 public:
  /// How much ciphertext one socket read should take (sixteen TLS records): decrypting and
  /// decoding it all before the next read makes a 3.9 MB model a few dozen reads rather than one
  /// per record. Used by TlsConnection and by the floor benchmark, so the two cannot drift apart.
  static constexpr size_t kCipherReadBytes = 256 * 1024;
  /// How much plaintext to encrypt per socket write: two records, whose 32,812 bytes of
  /// ciphertext Asio hands the socket in one call (it offers at most 64 KiB a call, so 128 KiB
  /// took three). The peer decrypts one slice while the next is encrypted. Transfers measured
  /// fastest with 32-64 KiB, slower with 16 KiB or 128 KiB (docs/benchmarks.md, run 27).
  static constexpr size_t kWriteSliceBytes = 32 * 1024;

  enum class Result {
    kDone,      // the step completed (handshake finished, plaintext read)
    kWantRead,  // more ciphertext from the peer is needed: feed() it, then call again
    kClosed,    // the peer sent close_notify
    kError,     // a TLS failure: error() says which; the engine is unusable afterwards
  };

  /// A client or server session under `context` (its certificates, CA and verify mode apply).
  /// Throws TransportError (kTls) when OpenSSL cannot allocate the session.
  TlsEngine(ssl_ctx_st* context, bool server);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  /// Server side: decides admission inside the handshake. Once the client's certificate has
  /// passed OpenSSL's checks (chain to the CA, validity, CRL, clientAuth purpose), a client whose
  /// pki::certificate_identity() is "" or, when `allowed` is not empty, not in `allowed` fails
  /// verification with X509_V_ERR_APPLICATION_VERIFICATION: the handshake fails, the client gets a
  /// handshake_failure alert (OpenSSL 3.0 cannot send access_denied there; docs/security.md) and
  /// no application data is ever written to it. refused_identity() then says who was refused.
  /// Call before the first handshake().
  void admit_only(std::shared_ptr<const std::set<std::string>> allowed);
  /// The identity the admit_only() check refused ("" for a certificate without a usable CN), or
  /// nothing when it refused none.
  const std::optional<std::string>& refused_identity() const { return refused_identity_; }

  /// Advances the handshake. Send take_output() to the peer after every call, whatever it
  /// returned: the handshake's last flight goes out with kDone, an alert with kError.
  Result handshake();
  /// Ciphertext received from the peer, in order. Copied.
  void feed(const uint8_t* data, size_t size);
  /// Decrypts up to `capacity` bytes of plaintext into `out`; `got` is how many on kDone. Call
  /// until kWantRead to drain what was fed; a reply it requires (a key update) lands in the
  /// output.
  Result read(uint8_t* out, size_t capacity, size_t& got);
  /// Encrypts all of `data` into the output. Returns false on failure (see error()).
  bool write(const uint8_t* data, size_t size);
  /// Queues close_notify in the output.
  void shutdown();

  /// Whether ciphertext is waiting to be sent.
  bool has_output() const;
  /// Moves the waiting ciphertext into `out` (replacing its contents).
  void take_output(std::vector<uint8_t>& out);

  /// OpenSSL's reason for the last kError or failed write, with the peer's alert if it sent one.
  const std::string& error() const { return error_; }
  /// The session, for peer certificate, verify result, version and cipher queries.
  ssl_st* native() const { return ssl_; }

 private:
  Result failure(int ret, const char* what);
  static int verify_identity(int preverify_ok, x509_store_ctx_st* store);

  ssl_st* ssl_ = nullptr;
  bio_st* input_ = nullptr;   // owned by ssl_
  bio_st* output_ = nullptr;  // owned by ssl_
  std::string error_;
  std::shared_ptr<const std::set<std::string>> allowed_;  // see admit_only()
  std::optional<std::string> refused_identity_;
};

}  // namespace fedgan::protocol
