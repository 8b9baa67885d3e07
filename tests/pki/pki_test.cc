#include "pki/openssl_util.h"
#include "pki/pki.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace fedgan::pki {
namespace {

namespace fs = std::filesystem;

// The library's own handles, plus the two only these tests need.
using detail::BioPtr;
using detail::CrlPtr;
using detail::Free;
using detail::KeyPtr;
using detail::X509Ptr;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<X509_STORE_CTX_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Free<X509_STORE_free>>;

constexpr int64_t kDay = 86400;

X509Ptr parse(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(cert, nullptr);
  return cert;
}

CrlPtr parse_crl(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(crl, nullptr);
  return crl;
}

// Verifies `leaf` against the trust anchor `ca` as a TLS peer would; returns the X509_V_* result.
// `purpose` (X509_PURPOSE_SSL_SERVER/CLIENT) also checks the extended key usage; a CRL turns on
// revocation checking.
int verify(const std::string& ca, const std::string& leaf, int purpose = 0,
           const std::string& crl = "") {
  StorePtr store(X509_STORE_new());
  X509Ptr anchor = parse(ca);
  X509Ptr cert = parse(leaf);
  EXPECT_EQ(X509_STORE_add_cert(store.get(), anchor.get()), 1);
  if (!crl.empty()) {
    EXPECT_EQ(X509_STORE_add_crl(store.get(), parse_crl(crl).get()), 1);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  StoreCtxPtr context(X509_STORE_CTX_new());
  EXPECT_EQ(X509_STORE_CTX_init(context.get(), store.get(), cert.get(), nullptr), 1);
  if (purpose != 0) X509_STORE_CTX_set_purpose(context.get(), purpose);
  return X509_verify_cert(context.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(context.get());
}

CertificateOptions named(const std::string& cn) {
  CertificateOptions options;
  options.common_name = cn;
  return options;
}

CertificateOptions server_options() {
  CertificateOptions options = named("coordinator");
  options.dns_names = {"localhost", "coordinator.example.org"};
  options.ip_addresses = {"127.0.0.1", "::1", "2001:db8::5"};
  return options;
}

// Runs `action`, expecting a PkiError whose message contains `fragment`.
void expect_error(const std::function<void()>& action, const std::string& fragment) {
  try {
    action();
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << fragment;
    return;
  }
  ADD_FAILURE() << "expected a PkiError containing: " << fragment;
}

// One CA and its certificates, shared by the tests that only read them (key generation is the
// slow part of every test).
struct Federation {
  Credentials ca = create_ca("fedgan test CA");
  Credentials other_ca = create_ca("another CA");
  Credentials server = issue_server_certificate(ca, server_options());
  Credentials client = issue_client_certificate(ca, named("site-1"));
};

const Federation& federation() {
  static const Federation instance;
  return instance;
}

// A fresh directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("fedgan-pki-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
             "-" + std::to_string(std::random_device{}()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

mode_t file_mode(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0);
  return info.st_mode & 0777;
}

TEST(PkiCa, IsSelfSignedCaThatSignsCertificatesAndCrls) {
  const auto& f = federation();
  const CertificateInfo info = inspect_certificate(f.ca.certificate_pem);
  EXPECT_TRUE(info.is_ca);
  EXPECT_EQ(info.subject, "CN=fedgan test CA");
  EXPECT_EQ(info.issuer, info.subject);
  EXPECT_EQ(certificate_identity(f.ca.certificate_pem), "fedgan test CA");
  EXPECT_FALSE(info.server_auth || info.client_auth);
  const X509Ptr ca = parse(f.ca.certificate_pem);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_issued(ca.get(), ca.get()), X509_V_OK);
  EXPECT_EQ(X509_get_key_usage(ca.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_EQ(X509_get_pathlen(ca.get()), 0);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_EQ(X509_get_version(ca.get()), X509_VERSION_3);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(verify(f.ca.certificate_pem, f.ca.certificate_pem), X509_V_OK);
  const int64_t now = std::time(nullptr);
  EXPECT_NEAR(info.not_before_unix, now - kClockSkewSeconds, 5);
  EXPECT_NEAR(info.not_after_unix, info.not_before_unix + kDefaultCaValidityDays * kDay, 5);
}

TEST(PkiIssue, CertificatesVerifyAgainstTheirCaAndNotAgainstAnother) {
  const auto& f = federation();
  EXPECT_EQ(verify(f.ca.certificate_pem, f.server.certificate_pem), X509_V_OK);
  EXPECT_EQ(verify(f.ca.certificate_pem, f.client.certificate_pem), X509_V_OK);
  EXPECT_EQ(verify(f.other_ca.certificate_pem, f.server.certificate_pem),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_EQ(verify(f.other_ca.certificate_pem, f.client.certificate_pem),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  // A certificate issued by the other CA under the same CN is still refused.
  const Credentials impostor = issue_client_certificate(f.other_ca, named("site-1"));
  EXPECT_NE(verify(f.ca.certificate_pem, impostor.certificate_pem), X509_V_OK);
}

TEST(PkiIssue, SubjectAltNamesAndCommonNameReadBack) {
  const auto& f = federation();
  const CertificateInfo info = inspect_certificate(f.server.certificate_pem);
  EXPECT_EQ(info.common_name, "coordinator");
  EXPECT_EQ(certificate_identity(f.server.certificate_pem), "coordinator");
  EXPECT_EQ(info.dns_names, (std::vector<std::string>{"localhost", "coordinator.example.org"}));
  EXPECT_EQ(info.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1", "2001:db8::5"}));
  EXPECT_EQ(info.issuer, "CN=fedgan test CA");
  // What a TLS client checks against the address it dialled.
  const X509Ptr cert = parse(f.server.certificate_pem);
  EXPECT_EQ(X509_check_host(cert.get(), "coordinator.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "evil.example.org", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.0.0.1", 0), 0);
  EXPECT_EQ(certificate_identity(f.client.certificate_pem), "site-1");
  EXPECT_TRUE(inspect_certificate(f.client.certificate_pem).dns_names.empty());
}

TEST(PkiIssue, IdentityIsExactlyOneUtf8CommonName) {
  const auto& f = federation();
  const Credentials site = issue_client_certificate(f.ca, named("Hôpital Nord"));
  EXPECT_EQ(certificate_identity(site.certificate_pem), "Hôpital Nord");
  EXPECT_EQ(inspect_certificate(site.certificate_pem).subject, "CN=Hôpital Nord");
  // A second CN (made here by editing and re-signing a certificate) makes the identity ambiguous.
  X509Ptr cert = parse(f.client.certificate_pem);
  ASSERT_EQ(
      X509_NAME_add_entry_by_NID(X509_get_subject_name(cert.get()), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("site-2"), -1, -1, 0),
      1);
  BioPtr key_bio(BIO_new_mem_buf(f.ca.private_key_pem.data(), -1));
  KeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  ASSERT_GT(X509_sign(cert.get(), ca_key.get(), EVP_sha256()), 0);
  BioPtr out(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_X509(out.get(), cert.get()), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  expect_error([&] { certificate_identity(std::string(data, static_cast<size_t>(size))); },
               "has 2 common names");
}

TEST(PkiIssue, ExtendedKeyUsageMatchesTheRole) {
  const auto& f = federation();
  const CertificateInfo server = inspect_certificate(f.server.certificate_pem);
  const CertificateInfo client = inspect_certificate(f.client.certificate_pem);
  EXPECT_TRUE(server.server_auth);
  EXPECT_FALSE(server.client_auth);
  EXPECT_FALSE(server.is_ca);
  EXPECT_TRUE(client.client_auth);
  EXPECT_FALSE(client.server_auth);
  EXPECT_FALSE(client.is_ca);
  const std::string& ca = f.ca.certificate_pem;
  EXPECT_EQ(verify(ca, f.server.certificate_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(verify(ca, f.client.certificate_pem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  // A site certificate cannot impersonate the coordinator, nor the coordinator a site.
  EXPECT_EQ(verify(ca, f.client.certificate_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(verify(ca, f.server.certificate_pem, X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);
  // An issued certificate cannot act as a CA for a certificate it signs.
  EXPECT_EQ(X509_check_ca(parse(f.client.certificate_pem).get()), 0);
}

TEST(PkiIssue, SerialNumbersAreRandomAndPositive) {
  const auto& f = federation();
  const std::string a = inspect_certificate(f.server.certificate_pem).serial_hex;
  const std::string b = inspect_certificate(f.client.certificate_pem).serial_hex;
  EXPECT_NE(a, b);
  EXPECT_GE(a.size(), 30u);  // 128 random bits, leading zero bytes aside
  EXPECT_LE(a.size(), 32u);
  EXPECT_NE(a.front(), '-');
}

TEST(PkiIssue, ExpiredCertificateFailsVerification) {
  const auto& f = federation();
  CertificateOptions options = named("site-late");
  const int64_t now = std::time(nullptr);
  options.not_before_unix = now - 10 * kDay;
  options.not_after_unix = now - kDay;
  const Credentials expired = issue_client_certificate(f.ca, options);
  EXPECT_EQ(inspect_certificate(expired.certificate_pem).not_after_unix, now - kDay);
  EXPECT_EQ(verify(f.ca.certificate_pem, expired.certificate_pem), X509_V_ERR_CERT_HAS_EXPIRED);
  options.not_before_unix = now + kDay;
  options.not_after_unix = now + 2 * kDay;
  EXPECT_EQ(verify(f.ca.certificate_pem, issue_client_certificate(f.ca, options).certificate_pem),
            X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(PkiIssue, ValidityIsBoundedByTheCa) {
  const Credentials short_ca = create_ca("short-lived CA", 10);
  const CertificateInfo ca = inspect_certificate(short_ca.certificate_pem);
  // The 825-day default is shortened to the CA's end ...
  const Credentials leaf = issue_client_certificate(short_ca, named("site-1"));
  EXPECT_EQ(inspect_certificate(leaf.certificate_pem).not_after_unix, ca.not_after_unix);
  // ... but an explicit end after the CA's is refused.
  CertificateOptions options = named("site-1");
  options.not_after_unix = ca.not_after_unix + kDay;
  expect_error([&] { issue_client_certificate(short_ca, options); }, "after its CA expires");
  options = named("site-1");
  options.validity_days = 0;
  expect_error([&] { issue_client_certificate(short_ca, options); }, "validity of 0 days");
}

TEST(PkiCrl, RevokedCertificateFailsCrlCheckAndOthersPass) {
  const auto& f = federation();
  const Credentials revoked = issue_client_certificate(f.ca, named("site-2"));
  const std::string crl = create_crl(f.ca, {revoked.certificate_pem});
  const std::string& ca = f.ca.certificate_pem;
  EXPECT_EQ(verify(ca, revoked.certificate_pem, 0, crl), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify(ca, f.client.certificate_pem, 0, crl), X509_V_OK);
  EXPECT_EQ(verify(ca, f.server.certificate_pem, 0, crl), X509_V_OK);
  // An empty CRL satisfies a verifier that requires one.
  EXPECT_EQ(verify(ca, revoked.certificate_pem, 0, create_crl(f.ca, {})), X509_V_OK);
  const CrlInfo info = inspect_crl(crl);
  EXPECT_EQ(info.issuer, "CN=fedgan test CA");
  EXPECT_EQ(info.revoked_serials,
            std::vector<std::string>{inspect_certificate(revoked.certificate_pem).serial_hex});
  EXPECT_EQ(info.next_update_unix - info.last_update_unix, kDefaultCrlValidityDays * kDay);
}

TEST(PkiCrl, KeepsEarlierRevocationsAndIncreasesTheNumber) {
  const auto& f = federation();
  const Credentials a = issue_client_certificate(f.ca, named("site-a"));
  const Credentials b = issue_client_certificate(f.ca, named("site-b"));
  const std::string first = create_crl(f.ca, {a.certificate_pem});
  // Revoking `a` again is harmless: it stays listed once.
  const std::string second = create_crl(f.ca, {b.certificate_pem, a.certificate_pem}, 7, first);
  EXPECT_EQ(inspect_crl(second).revoked_serials.size(), 2u);
  EXPECT_GT(std::stoll(inspect_crl(second).crl_number), std::stoll(inspect_crl(first).crl_number));
  EXPECT_EQ(verify(f.ca.certificate_pem, a.certificate_pem, 0, second), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify(f.ca.certificate_pem, b.certificate_pem, 0, second), X509_V_ERR_CERT_REVOKED);
  expect_error([&] { create_crl(f.ca, {}, 30, create_crl(f.other_ca, {})); },
               "previous CRL was not signed by this CA");
}

TEST(PkiCrl, RefusesCertificatesOfAnotherCaAndTheCaItself) {
  const auto& f = federation();
  const Credentials foreign = issue_client_certificate(f.other_ca, named("site-x"));
  expect_error([&] { create_crl(f.ca, {foreign.certificate_pem}); },
               "cannot revoke CN=site-x: it was not issued by this CA");
  expect_error([&] { create_crl(f.ca, {f.ca.certificate_pem}); },
               "cannot revoke the CA certificate");
  expect_error([&] { create_crl(f.ca, {}, 0); }, "CRL validity of 0 days");
  expect_error([&] { create_crl(f.client, {}); }, "is not a CA");
}

TEST(PkiFiles, KeyIsOwnerOnlyAndCredentialsRoundTrip) {
  const TempDir dir;
  const auto& f = federation();
  const fs::path cert = dir.path() / "site-1.pem";
  const fs::path key = dir.path() / "site-1.key";
  write_credentials(f.client, cert, key);
  EXPECT_EQ(file_mode(key), 0600u);
  EXPECT_EQ(file_mode(cert) & 0600u, 0600u);
  EXPECT_EQ(file_mode(cert) & 0022u, 0u);
  const Credentials read = read_credentials(cert, key);
  EXPECT_EQ(read.certificate_pem, f.client.certificate_pem);
  EXPECT_EQ(read.private_key_pem, f.client.private_key_pem);
  // Replacing keeps the modes and leaves no temporary files behind.
  write_credentials(f.server, cert, key);
  EXPECT_EQ(file_mode(key), 0600u);
  EXPECT_EQ(read_credentials(cert, key).certificate_pem, f.server.certificate_pem);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 2);
  expect_error([&] { write_credentials(f.client, cert, cert); }, "separate files");
  expect_error([&] { write_credentials(f.client, dir.path() / "missing" / "a.pem", key); },
               "cannot create");
}

TEST(PkiFiles, ReadRejectsMismatchedEncryptedAndMissingKeys) {
  const TempDir dir;
  const auto& f = federation();
  const fs::path cert = dir.path() / "site-1.pem";
  const fs::path key = dir.path() / "site-1.key";
  write_credentials({f.client.certificate_pem, f.server.private_key_pem}, cert, key);
  expect_error([&] { read_credentials(cert, key); }, "does not belong to the certificate");
  // An encrypted key would need a passphrase prompt; it is refused with a way out.
  BioPtr bio(BIO_new_mem_buf(f.client.private_key_pem.data(), -1));
  KeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  BioPtr out(BIO_new(BIO_s_mem()));
  char passphrase[] = "secret";
  ASSERT_EQ(PEM_write_bio_PrivateKey(out.get(), pkey.get(), EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                     passphrase),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  write_pem_file(key, std::string(data, static_cast<size_t>(size)), true);
  expect_error([&] { read_credentials(cert, key); }, "the private key is encrypted");
  expect_error([&] { read_credentials(cert, dir.path() / "absent.key"); }, "absent.key");
  write_pem_file(key, "not a key", true);
  expect_error([&] { read_credentials(cert, key); }, "is not a PEM file");
}

TEST(PkiInput, InvalidInputsThrowNamingTheProblem) {
  const auto& f = federation();
  const auto client = [&](const std::string& cn) { issue_client_certificate(f.ca, named(cn)); };
  expect_error([&] { client(""); }, "common name (CN) is empty");
  expect_error([&] { client(std::string(65, 'a')); }, "65 bytes long; at most 64");
  expect_error([&] { client("site\n1"); }, "control character (byte 0x0a at offset 4)");
  expect_error([&] { client(" site-1"); }, "leading or trailing spaces");
  expect_error([&] { client("\xff\xfe"); }, "not valid UTF-8");
  // U+202E RIGHT-TO-LEFT OVERRIDE, U+0085 NEXT LINE: valid UTF-8 the transport would not admit.
  expect_error(
      [&] {
        client(
            "site-\xe2\x80\xae"
            "1");
      },
      "\"site-\\xe2\\x80\\xae1\" holds characters that logs would show escaped");
  expect_error(
      [&] {
        client(
            "site\xc2\x85"
            "1");
      },
      "would be refused in the TLS handshake");
  CertificateOptions options = named("coordinator");
  expect_error([&] { issue_server_certificate(f.ca, options); },
               "needs at least one DNS name or IP address");
  options.ip_addresses = {"1.2.3"};
  expect_error([&] { issue_server_certificate(f.ca, options); },
               "\"1.2.3\" is not an IPv4 or IPv6 address");
  options.ip_addresses = {"fe80::1%eth0"};
  expect_error([&] { issue_server_certificate(f.ca, options); }, "not an IPv4 or IPv6 address");
  options.ip_addresses.clear();
  options.dns_names = {"bad host"};
  expect_error([&] { issue_server_certificate(f.ca, options); },
               "\"bad host\" is not a valid DNS name");
  options.dns_names = {"host."};
  expect_error([&] { issue_server_certificate(f.ca, options); }, "trailing dot");
  options.dns_names = {"*.example.org"};
  EXPECT_NO_THROW(issue_server_certificate(f.ca, options));
  expect_error(
      [&] {
        issue_server_certificate({"garbage", "garbage"}, options);
      },
      "not a PEM certificate");
  expect_error(
      [&] {
        issue_server_certificate({f.ca.certificate_pem, f.client.private_key_pem}, options);
      },
      "CA private key does not belong to the CA certificate");
  expect_error([&] { issue_server_certificate(f.client, options); }, "is not a CA");
  expect_error([&] { create_ca(server_options()); }, "carries no DNS names or IP addresses");
  expect_error([&] { certificate_identity("-----BEGIN CERTIFICATE-----\n"); },
               "not a PEM certificate");
}

TEST(PkiOpenssl, CommandLineVerifiesIssuedCertificates) {
  const char* openssl = "/usr/bin/openssl";
  if (::access(openssl, X_OK) != 0) GTEST_SKIP() << openssl << " is not installed";
  const TempDir dir;
  const auto& f = federation();
  const Credentials revoked = issue_client_certificate(f.ca, named("site-9"));
  write_pem_file(dir.path() / "ca.pem", f.ca.certificate_pem);
  write_pem_file(dir.path() / "client.pem", f.client.certificate_pem);
  write_pem_file(dir.path() / "server.pem", f.server.certificate_pem);
  write_pem_file(dir.path() / "revoked.pem", revoked.certificate_pem);
  write_pem_file(dir.path() / "chain.pem",
                 f.ca.certificate_pem + create_crl(f.ca, {revoked.certificate_pem}));
  write_pem_file(dir.path() / "other.pem", f.other_ca.certificate_pem);
  const auto run = [&](const std::string& arguments) {
    const std::string command = "cd '" + dir.path().string() + "' && " + openssl + " verify " +
                                arguments + " >/dev/null 2>&1";
    return std::system(command.c_str());
  };
  EXPECT_EQ(run("-CAfile ca.pem client.pem"), 0);
  EXPECT_EQ(run("-CAfile ca.pem -purpose sslserver -verify_hostname localhost server.pem"), 0);
  EXPECT_EQ(run("-CAfile ca.pem -purpose sslclient client.pem"), 0);
  EXPECT_NE(run("-CAfile other.pem client.pem"), 0);
  EXPECT_EQ(run("-crl_check -CAfile chain.pem client.pem"), 0);
  EXPECT_NE(run("-crl_check -CAfile chain.pem revoked.pem"), 0);
}

}  // namespace
}  // namespace fedgan::pki
