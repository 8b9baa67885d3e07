#pragma once

#include "pki/credentials.h"

#include <filesystem>
#include <string>

/// Credentials, certificates and CRLs on disk. Writes go through files::write_file_atomically.
namespace fedgan::pki {

/// Writes the certificate (mode 0644, less the umask) and the private key (created with mode
/// 0600, so it is never readable by others, not even while being written). Each file is written
/// with files::write_file_atomically (temporary file, fsync, rename, fsync of the directory), so a
/// reader never sees half a file; existing files are replaced. Throws PkiError.
void write_credentials(const Credentials& credentials, const std::filesystem::path& cert_path,
                       const std::filesystem::path& key_path);

/// Reads a certificate (more certificates may follow it in the file: a chain) and its private key,
/// and checks that the key belongs to the first certificate. Encrypted keys are refused (nothing
/// could prompt for a passphrase). Returns the files' text unchanged. Throws PkiError.
Credentials read_credentials(const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path);

/// Reads a PEM file (a CRL, a CA certificate) whole. Throws PkiError naming the path if it cannot
/// be read, holds no PEM block, or is implausibly large (over 1 MiB).
std::string read_pem_file(const std::filesystem::path& path);

/// Writes `pem` to `path` the way write_credentials writes each file
/// (files::write_file_atomically). The file is created with mode 0600 when `owner_only`, else 0644
/// (less the umask). Throws PkiError.
void write_pem_file(const std::filesystem::path& path, const std::string& pem,
                    bool owner_only = false);

}  // namespace fedgan::pki
