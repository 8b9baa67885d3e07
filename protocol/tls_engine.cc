#include "protocol/tls_engine.h"

#include "pki/identity.h"
#include "pki/openssl_errors.h"
#include "protocol/transport_error.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <new>

namespace fedgan::protocol {

namespace {

// SSL_read_ex and SSL_write_ex take size_t, but mem BIOs and the record layer work in ints.
constexpr size_t kMaxCall = INT_MAX / 2;

// Where a session keeps a pointer to its TlsEngine, for the verify callback.
int engine_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

}  // namespace

TlsEngine::TlsEngine(ssl_ctx_st* context, bool server) {
  ssl_ = SSL_new(context);
  input_ = BIO_new(BIO_s_mem());
  output_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || input_ == nullptr || output_ == nullptr) {
    BIO_free(input_);
    BIO_free(output_);
    SSL_free(ssl_);
    throw TransportError(TransportErrorKind::kTls,
                         "cannot create a TLS session: " + pki::drain_openssl_errors());
  }
  // An empty input means "wait for the peer", not end of stream: the socket's owner reports EOF.
  BIO_set_mem_eof_return(input_, -1);
  SSL_set_bio(ssl_, input_, output_);
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
}

TlsEngine::~TlsEngine() {
  SSL_free(ssl_);  // frees both BIOs
}

void TlsEngine::admit_only(std::shared_ptr<const std::set<std::string>> allowed) {
  allowed_ = allowed ? std::move(allowed) : std::make_shared<const std::set<std::string>>();
  if (engine_index() < 0 || SSL_set_ex_data(ssl_, engine_index(), this) != 1) {
    throw TransportError(
        TransportErrorKind::kTls,
        "cannot attach the identity check to a TLS session: " + pki::drain_openssl_errors());
  }
  SSL_set_verify(ssl_, SSL_get_verify_mode(ssl_), &TlsEngine::verify_identity);
}

// Called by OpenSSL for each certificate of the chain, the client's own last (depth 0). Only a
// certificate that passed every check so far is judged; an earlier failure stays OpenSSL's.
int TlsEngine::verify_identity(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok != 1 || X509_STORE_CTX_get_error_depth(store) != 0) return preverify_ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* engine = ssl ? static_cast<TlsEngine*>(SSL_get_ex_data(ssl, engine_index())) : nullptr;
  // No exception may cross OpenSSL's C frames; failing closed is the answer to all of them.
  int error = X509_V_ERR_APPLICATION_VERIFICATION;
  try {
    if (engine != nullptr) {
      std::string identity = pki::certificate_identity(X509_STORE_CTX_get_current_cert(store));
      const auto& allowed = *engine->allowed_;
      if (!identity.empty() && (allowed.empty() || allowed.count(identity) != 0)) return 1;
      engine->refused_identity_ = std::move(identity);
    }
  } catch (const std::exception&) {
    error = X509_V_ERR_OUT_OF_MEM;
  }
  // OpenSSL turns this into the alert it sends: X509_V_ERR_APPLICATION_VERIFICATION becomes
  // handshake_failure; no verification error becomes access_denied (docs/security.md).
  X509_STORE_CTX_set_error(store, error);
  return 0;
}

TlsEngine::Result TlsEngine::failure(int ret, const char* what) {
  const int code = SSL_get_error(ssl_, ret);
  if (code == SSL_ERROR_WANT_READ) return Result::kWantRead;
  if (code == SSL_ERROR_ZERO_RETURN) return Result::kClosed;
  error_ = pki::drain_openssl_errors();
  if (error_.empty()) {
    error_ = std::string(what) + " failed (OpenSSL error " + std::to_string(code) + ")";
  }
  return Result::kError;
}

TlsEngine::Result TlsEngine::handshake() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? Result::kDone : failure(ret, "the handshake");
}

void TlsEngine::feed(const uint8_t* data, size_t size) {
  while (size > 0) {
    const int part = static_cast<int>(std::min(size, kMaxCall));
    // A mem BIO grows as needed; it fails only when memory does.
    if (BIO_write(input_, data, part) != part) throw std::bad_alloc();
    data += part;
    size -= static_cast<size_t>(part);
  }
}

TlsEngine::Result TlsEngine::read(uint8_t* out, size_t capacity, size_t& got) {
  got = 0;
  ERR_clear_error();
  const int ret = SSL_read_ex(ssl_, out, std::min(capacity, kMaxCall), &got);
  return ret == 1 ? Result::kDone : failure(ret, "reading");
}

bool TlsEngine::write(const uint8_t* data, size_t size) {
  while (size > 0) {
    size_t written = 0;
    ERR_clear_error();
    // Writes into a mem BIO complete whole: OpenSSL splits them into records itself.
    const int ret = SSL_write_ex(ssl_, data, std::min(size, kMaxCall), &written);
    if (ret != 1) {
      failure(ret, "writing");
      if (error_.empty()) error_ = "writing failed";
      return false;
    }
    data += written;
    size -= written;
  }
  return true;
}

void TlsEngine::shutdown() {
  ERR_clear_error();
  // 0 means "sent, the peer's close_notify not yet seen": the owner reads on for it.
  SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsEngine::has_output() const {
  return BIO_ctrl_pending(output_) > 0;
}

void TlsEngine::take_output(std::vector<uint8_t>& out) {
  const size_t pending = BIO_ctrl_pending(output_);
  out.resize(pending);
  size_t taken = 0;
  while (taken < pending) {
    const int part = static_cast<int>(std::min(pending - taken, kMaxCall));
    const int got = BIO_read(output_, out.data() + taken, part);
    if (got <= 0) break;
    taken += static_cast<size_t>(got);
  }
  out.resize(taken);
}

}  // namespace fedgan::protocol
