#include "bench/loopback_pki.h"

#include "pki/pki.h"

namespace fedgan::bench {

void write_loopback_pki(const std::filesystem::path& dir) {
  const auto ca = pki::create_ca("bench CA", 2);
  pki::write_credentials(ca, dir / "ca.pem", dir / "ca.key");
  pki::CertificateOptions server;
  server.common_name = "coordinator";
  server.ip_addresses = {"127.0.0.1"};
  pki::write_credentials(pki::issue_server_certificate(ca, server), dir / "coordinator.pem",
                         dir / "coordinator.key");
  pki::CertificateOptions client;
  client.common_name = "site-1";
  pki::write_credentials(pki::issue_client_certificate(ca, client), dir / "site-1.pem",
                         dir / "site-1.key");
}

protocol::TlsOptions loopback_party(const std::filesystem::path& dir, const std::string& name) {
  return {dir / "ca.pem", dir / (name + ".pem"), dir / (name + ".key"), {}, false};
}

}  // namespace fedgan::bench
