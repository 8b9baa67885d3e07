// fedgan-certs: creates the federation CA, the coordinator's server certificate, one client
// certificate per site and certificate revocation lists, as PEM files in one directory
// (docs/security.md). Sites that run their own PKI can use plain `openssl` instead.

#include "pki/openssl_util.h"
#include "pki/pki.h"

#include <arpa/inet.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace pki = fedgan::pki;

// Names this tool writes itself; a certificate may not be saved under them.
const std::vector<std::string> kReservedNames = {"ca", "crl"};

// One Settings is shared by all subcommands (only one runs), so defaults are applied where the
// values are used, not with CLI11's default_val, which would write them for every subcommand.
struct Settings {
  fs::path dir;
  std::string cn;
  std::vector<std::string> dns;
  std::vector<std::string> ip;
  std::vector<std::string> hosts;
  std::vector<fs::path> revoke;
  fs::path show_path;
  std::string out_name;
  int days = 0;
  int clients = 0;
  bool force = false;
};

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text.empty() ? "(none)" : text;
}

bool is_safe_file_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && name.front() != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

// The base name of a certificate's files: --out-name when given, else `fallback`.
std::string output_name(const Settings& s, const std::string& fallback) {
  const std::string name = s.out_name.empty() ? fallback : s.out_name;
  if (!is_safe_file_name(name)) {
    throw pki::PkiError("\"" + name +
                        "\" is not a safe file name (letters, digits, '.', '_', '-'; not starting "
                        "with '.'): pass --out-name");
  }
  if (std::find(kReservedNames.begin(), kReservedNames.end(), name) != kReservedNames.end()) {
    throw pki::PkiError("\"" + name +
                        "\" would overwrite the CA's files: choose another --out-name");
  }
  return name;
}

// Refuses to replace existing files unless --force, so a second run never destroys keys silently.
void ensure_writable(const Settings& s, const std::vector<fs::path>& paths) {
  for (const auto& path : paths) {
    if (!s.force && fs::exists(path)) {
      throw pki::PkiError(path.string() + " already exists; pass --force to replace it");
    }
  }
  fs::create_directories(s.dir);
}

pki::Credentials load_ca(const Settings& s) {
  const fs::path cert = s.dir / "ca.pem";
  const fs::path key = s.dir / "ca.key";
  if (!fs::exists(cert) || !fs::exists(key)) {
    throw pki::PkiError("no CA in " + s.dir.string() +
                        " (ca.pem and ca.key): run `fedgan-certs ca --dir " + s.dir.string() +
                        "` first");
  }
  return pki::read_credentials(cert, key);
}

void print_certificate(const pki::CertificateInfo& info, std::ostream& out) {
  out << "  subject:      " << info.subject << "\n"
      << "  issuer:       " << info.issuer << "\n"
      << "  serial:       " << info.serial_hex << "\n"
      << "  valid from:   " << fedgan::pki::detail::format_utc(info.not_before_unix) << "\n"
      << "  valid until:  " << fedgan::pki::detail::format_utc(info.not_after_unix) << "\n";
  const int64_t now = std::time(nullptr);
  if (now > info.not_after_unix) out << "  status:       EXPIRED\n";
  if (now < info.not_before_unix) out << "  status:       NOT YET VALID\n";
  std::vector<std::string> usage;
  if (info.is_ca) usage.push_back("certificate authority");
  if (info.server_auth) usage.push_back("TLS server (serverAuth)");
  if (info.client_auth) usage.push_back("TLS client (clientAuth)");
  out << "  usage:        " << join(usage) << "\n";
  if (!info.dns_names.empty()) out << "  DNS names:    " << join(info.dns_names) << "\n";
  if (!info.ip_addresses.empty()) out << "  IP addresses: " << join(info.ip_addresses) << "\n";
  out << "  SHA-256:      " << info.sha256_fingerprint << "\n";
}

void save(const Settings& s, const std::string& name, const pki::Credentials& credentials) {
  const fs::path cert = s.dir / (name + ".pem");
  const fs::path key = s.dir / (name + ".key");
  pki::write_credentials(credentials, cert, key);
  std::cout << "wrote " << cert.string() << " and " << key.string() << " (key mode 0600)\n";
  print_certificate(pki::inspect_certificate(credentials.certificate_pem), std::cout);
}

pki::CertificateOptions leaf_options(const Settings& s, const std::string& cn) {
  pki::CertificateOptions options;
  options.common_name = cn;
  options.dns_names = s.dns;
  options.ip_addresses = s.ip;
  if (s.days > 0) options.validity_days = s.days;
  return options;
}

void run_ca(const Settings& s) {
  ensure_writable(s, {s.dir / "ca.pem", s.dir / "ca.key"});
  const std::string cn = s.cn.empty() ? "fedgan federation CA" : s.cn;
  save(s, "ca", pki::create_ca(cn, s.days > 0 ? s.days : pki::kDefaultCaValidityDays));
  std::cout << "keep ca.key offline or at least off the coordinator: whoever holds it can admit "
               "any site\n";
}

void run_server(const Settings& s) {
  if (s.dns.empty() && s.ip.empty()) {
    throw pki::PkiError(
        "a server certificate needs the names clients dial: pass --dns HOST "
        "and/or --ip ADDRESS (each may be repeated)");
  }
  // Issued before the names and files are checked, so invalid input is reported first.
  const auto credentials = pki::issue_server_certificate(load_ca(s), leaf_options(s, s.cn));
  const std::string name = output_name(s, "coordinator");
  ensure_writable(s, {s.dir / (name + ".pem"), s.dir / (name + ".key")});
  save(s, name, credentials);
}

void run_client(const Settings& s) {
  const auto credentials = pki::issue_client_certificate(load_ca(s), leaf_options(s, s.cn));
  const std::string name = output_name(s, s.cn);
  ensure_writable(s, {s.dir / (name + ".pem"), s.dir / (name + ".key")});
  save(s, name, credentials);
  std::cout << "the coordinator will know this site as \"" << s.cn << "\"\n";
}

void run_crl(const Settings& s) {
  const pki::Credentials ca = load_ca(s);
  const fs::path path = s.dir / "crl.pem";
  const std::string previous = fs::exists(path) ? pki::read_pem_file(path) : std::string();
  std::vector<std::string> revoked;
  for (const auto& cert : s.revoke) revoked.push_back(pki::read_pem_file(cert));
  const int days = s.days > 0 ? s.days : pki::kDefaultCrlValidityDays;
  pki::write_pem_file(path, pki::create_crl(ca, revoked, days, previous));
  const pki::CrlInfo info = pki::inspect_crl(pki::read_pem_file(path));
  std::cout << "wrote " << path.string() << ": " << info.revoked_serials.size()
            << " revoked certificate(s), CRL number " << info.crl_number << "\n"
            << "  next update:  " << fedgan::pki::detail::format_utc(info.next_update_unix)
            << " (run `fedgan-certs crl` again before then: peers that check the CRL refuse "
               "everyone once it is stale)\n";
}

// Sorts each --host into an IP address or a DNS name.
void add_hosts(const std::vector<std::string>& hosts, pki::CertificateOptions& options) {
  for (const auto& host : hosts) {
    unsigned char bytes[16];
    const bool is_ip = inet_pton(AF_INET, host.c_str(), bytes) == 1 ||
                       inet_pton(AF_INET6, host.c_str(), bytes) == 1;
    auto& list = is_ip ? options.ip_addresses : options.dns_names;
    if (std::find(list.begin(), list.end(), host) == list.end()) list.push_back(host);
  }
}

void run_dev(const Settings& s) {
  std::vector<fs::path> paths = {s.dir / "ca.pem", s.dir / "ca.key", s.dir / "coordinator.pem",
                                 s.dir / "coordinator.key"};
  for (int i = 1; i <= s.clients; ++i) {
    paths.push_back(s.dir / ("site-" + std::to_string(i) + ".pem"));
    paths.push_back(s.dir / ("site-" + std::to_string(i) + ".key"));
  }
  ensure_writable(s, paths);
  std::cout << "DEVELOPMENT CERTIFICATES for local use only: the CA key sits next to the "
               "certificates it signed. Do not use them in a real federation.\n";
  const pki::Credentials ca = pki::create_ca("fedgan development CA");
  save(s, "ca", ca);
  pki::CertificateOptions server;
  server.common_name = "coordinator";
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  add_hosts(s.hosts, server);
  save(s, "coordinator", pki::issue_server_certificate(ca, server));
  for (int i = 1; i <= s.clients; ++i) {
    const std::string site = "site-" + std::to_string(i);
    save(s, site, pki::issue_client_certificate(ca, leaf_options(Settings{}, site)));
  }
}

void run_show(const Settings& s) {
  const std::string pem = pki::read_pem_file(s.show_path);
  std::cout << s.show_path.string() << ":\n";
  if (pem.find("-----BEGIN X509 CRL-----") != std::string::npos) {
    const pki::CrlInfo info = pki::inspect_crl(pem);
    std::cout << "  CRL issuer:   " << info.issuer << "\n"
              << "  CRL number:   " << info.crl_number << "\n"
              << "  last update:  " << fedgan::pki::detail::format_utc(info.last_update_unix)
              << "\n"
              << "  next update:  " << fedgan::pki::detail::format_utc(info.next_update_unix)
              << (std::time(nullptr) > info.next_update_unix ? " (STALE)" : "") << "\n"
              << "  revoked:      " << join(info.revoked_serials) << "\n";
    return;
  }
  print_certificate(pki::inspect_certificate(pem), std::cout);
}

CLI::Option* add_dir(CLI::App& command, Settings& s) {
  return command.add_option("--dir", s.dir, "Directory of the PEM files")->required();
}

void add_days(CLI::App& command, Settings& s, int default_days) {
  command
      .add_option("--days", s.days,
                  "Validity in days (default " + std::to_string(default_days) + ")")
      ->check(CLI::Range(1, 36500));
}

void add_commands(CLI::App& app, Settings& s) {
  auto* ca = app.add_subcommand("ca", "Create the federation CA: DIR/ca.pem and DIR/ca.key");
  add_dir(*ca, s);
  ca->add_option("--cn", s.cn, "CA name (default \"fedgan federation CA\")");
  add_days(*ca, s, pki::kDefaultCaValidityDays);
  ca->add_flag("--force", s.force, "Replace an existing CA");
  ca->callback([&s] { run_ca(s); });

  auto* server = app.add_subcommand(
      "server", "Issue the coordinator's certificate: DIR/<out-name>.pem and .key");
  add_dir(*server, s);
  server->add_option("--cn", s.cn, "Coordinator name")->required();
  server->add_option("--dns", s.dns, "Host name clients dial (repeatable)");
  server->add_option("--ip", s.ip, "IP address clients dial (repeatable)");
  add_days(*server, s, pki::kDefaultCertificateValidityDays);
  server->add_option("--out-name", s.out_name, "Base name of the files (default coordinator)");
  server->add_flag("--force", s.force, "Replace existing files");
  server->callback([&s] { run_server(s); });

  auto* client = app.add_subcommand(
      "client", "Issue a site's certificate (its CN is the site's identity): DIR/<cn>.pem, .key");
  add_dir(*client, s);
  client->add_option("--cn", s.cn, "Site identity")->required();
  add_days(*client, s, pki::kDefaultCertificateValidityDays);
  client->add_option("--out-name", s.out_name, "Base name of the files (default: the CN)");
  client->add_flag("--force", s.force, "Replace existing files");
  client->callback([&s] { run_client(s); });

  auto* crl = app.add_subcommand(
      "crl", "Write DIR/crl.pem revoking certificates; earlier revocations in it are kept");
  add_dir(*crl, s);
  crl->add_option("--revoke", s.revoke, "Certificate (PEM file) to revoke (repeatable)")
      ->check(CLI::ExistingFile);
  add_days(*crl, s, pki::kDefaultCrlValidityDays);
  crl->callback([&s] { run_crl(s); });

  auto* dev = app.add_subcommand(
      "dev", "Development PKI for one machine: CA, coordinator (localhost) and site-1..site-N");
  add_dir(*dev, s);
  dev->add_option("--clients", s.clients, "Number of client certificates")
      ->required()
      ->check(CLI::Range(1, 1000));
  dev->add_option("--host", s.hosts, "Extra coordinator host name or IP (repeatable)");
  dev->add_flag("--force", s.force, "Replace existing files");
  dev->callback([&s] { run_dev(s); });

  auto* show = app.add_subcommand("show", "Print what a certificate or CRL says");
  show->add_option("file", s.show_path, "PEM certificate or CRL")
      ->required()
      ->check(CLI::ExistingFile);
  show->callback([&s] { run_show(s); });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fedgan-certs: certificates for a fedgan federation (docs/security.md)"};
  app.require_subcommand(1);
  Settings settings;
  add_commands(app, settings);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // --help succeeds; every usage error exits 1
  } catch (const std::exception& e) {
    std::cerr << "fedgan-certs: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
