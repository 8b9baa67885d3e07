#include "protocol/tls_engine.h"

#include "protocol/openssl_errors.h"
#include "protocol/transport_error.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>
#include <new>

namespace fedgan::protocol {

namespace {

// SSL_read_ex and SSL_write_ex take size_t, but mem BIOs and the record layer work in ints.
constexpr size_t kMaxCall = INT_MAX / 2;

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
                         "cannot create a TLS session: " + drain_openssl_errors());
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

TlsEngine::Result TlsEngine::failure(int ret, const char* what) {
  const int code = SSL_get_error(ssl_, ret);
  if (code == SSL_ERROR_WANT_READ) return Result::kWantRead;
  if (code == SSL_ERROR_ZERO_RETURN) return Result::kClosed;
  error_ = drain_openssl_errors();
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
