#include "tests/protocol/raw_peer.h"

#include <sys/socket.h>
#include <sys/time.h>

namespace fedgan::protocol::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

void set_read_timeout(tcp::socket& socket) {
  timeval timeout{2, 0};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

}  // namespace

tcp::socket connect_plain(asio::io_context& io, uint16_t port) {
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  set_read_timeout(socket);
  return socket;
}

size_t drain(tcp::socket& socket) {
  size_t total = 0;
  std::vector<uint8_t> buffer(4096);
  boost::system::error_code ec;
  while (!ec) total += socket.read_some(asio::buffer(buffer), ec);
  return total;
}

RawTlsClient::RawTlsClient(uint16_t port, const RawTlsOptions& options)
    : context_(asio::ssl::context::tls_client) {
  context_.load_verify_file(options.ca_file.string());
  context_.set_verify_mode(asio::ssl::verify_peer);
  if (!options.certificate_file.empty()) {
    context_.use_certificate_chain_file(options.certificate_file.string());
    context_.use_private_key_file(options.private_key_file.string(), asio::ssl::context::pem);
  }
  if (options.tls12_only) SSL_CTX_set_max_proto_version(context_.native_handle(), TLS1_2_VERSION);
  stream_.emplace(io_, context_);
  stream_->lowest_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  set_read_timeout(stream_->next_layer());
}

std::string RawTlsClient::handshake() {
  boost::system::error_code ec;
  stream_->handshake(asio::ssl::stream_base::client, ec);
  return ec ? ec.message() : "";
}

std::string RawTlsClient::write(const std::vector<uint8_t>& bytes) {
  boost::system::error_code ec;
  asio::write(*stream_, asio::buffer(bytes), ec);
  return ec ? ec.message() : "";
}

std::vector<wire::Envelope> RawTlsClient::read_until_closed(std::string* error) {
  FrameDecoder decoder;
  std::vector<wire::Envelope> messages;
  std::vector<uint8_t> buffer(64 * 1024);
  boost::system::error_code ec;
  while (!ec) {
    const size_t bytes = stream_->read_some(asio::buffer(buffer), ec);
    plaintext_bytes_read_ += bytes;
    for (auto& message : decoder.feed(buffer.data(), bytes)) messages.push_back(message);
  }
  if (error) *error = ec.message();
  // Close at once so the server's lingering close ends now rather than at its deadline.
  boost::system::error_code ignored;
  stream_->lowest_layer().close(ignored);
  return messages;
}

}  // namespace fedgan::protocol::testing
