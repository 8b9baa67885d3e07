#include "pki/pem_files.h"

#include "files/durable_file.h"
#include "files/error.h"
#include "pki/openssl_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace fedgan::pki {
namespace {

using namespace detail;

constexpr size_t kMaxPemFileBytes = 1u << 20;

std::string errno_text(int error) {
  return std::strerror(error);
}

}  // namespace

void write_pem_file(const std::filesystem::path& path, const std::string& pem, bool owner_only) {
  try {
    // The key's mode is set when its temporary file is created, so it is never readable by others.
    files::write_file_atomically(path, std::string_view(pem), owner_only ? 0600 : 0644);
  } catch (const files::FileError& error) {
    throw PkiError(error.what());
  }
}

std::string read_pem_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const int open_error = errno;
  check(in.good(), "cannot read {}: {}", path.string(), errno_text(open_error));
  std::string text;
  char buffer[8192];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    check(text.size() <= kMaxPemFileBytes,
          "{} is over {} bytes, far more than any PEM certificate, key or CRL: is it the right "
          "file?",
          path.string(), kMaxPemFileBytes);
  }
  check(!in.bad(), "cannot read {}: {}", path.string(), errno_text(errno));
  check(text.find("-----BEGIN ") != std::string::npos,
        "{} is not a PEM file (no \"-----BEGIN\" line)", path.string());
  return text;
}

void write_credentials(const Credentials& credentials, const std::filesystem::path& cert_path,
                       const std::filesystem::path& key_path) {
  check(cert_path != key_path, "the certificate and the private key need separate files, not {}",
        cert_path.string());
  write_pem_file(key_path, credentials.private_key_pem, /*owner_only=*/true);
  write_pem_file(cert_path, credentials.certificate_pem);
}

Credentials read_credentials(const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path) {
  const ErrorQueueScope scope;
  Credentials credentials{read_pem_file(cert_path), read_pem_file(key_path)};
  X509Ptr cert;
  KeyPtr key;
  try {
    cert = parse_certificate(credentials.certificate_pem);
  } catch (const PkiError& e) {
    throw PkiError(fmt::format("{}: {}", cert_path.string(), e.what()));
  }
  try {
    key = parse_private_key(credentials.private_key_pem);
  } catch (const PkiError& e) {
    throw PkiError(fmt::format("{}: {}", key_path.string(), e.what()));
  }
  check(X509_check_private_key(cert.get(), key.get()) == 1,
        "the private key in {} does not belong to the certificate in {} ({}): pass the key that "
        "was created with this certificate",
        key_path.string(), cert_path.string(), name_text(X509_get_subject_name(cert.get())));
  return credentials;
}

}  // namespace fedgan::pki
