#include "pki/identity.h"

#include "pki/credentials.h"
#include "pki/error.h"
#include "tests/pki/test_certificates.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace fedgan::pki {
namespace {

using testing::certificate_with_common_names;

// Both forms of the identity, as the TLS handshake (X509*) and a site (PEM) see a certificate.
struct Seen {
  std::string by_handshake;
  std::string by_site;       // "" when certificate_identity(pem) threw
  std::string site_refusal;  // its message
};

Seen identities(const std::string& pem) {
  Seen seen;
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  const std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  EXPECT_NE(cert, nullptr);
  seen.by_handshake = certificate_identity(cert.get());
  try {
    seen.by_site = certificate_identity(pem);
  } catch (const PkiError& error) {
    seen.site_refusal = error.what();
  }
  return seen;
}

TEST(CertificateIdentity, IsTheSingleCommonName) {
  const Seen seen = identities(certificate_with_common_names({"site-1"}));
  EXPECT_EQ(seen.by_handshake, "site-1");
  EXPECT_EQ(seen.by_site, "site-1");
  const Credentials ca = create_ca("identity test CA", 1);
  EXPECT_EQ(identities(ca.certificate_pem).by_site, "identity test CA");
}

// Zero or several CNs leave no identity, the same way for the handshake and for a site.
TEST(CertificateIdentity, ZeroOrSeveralCommonNamesAreRefusedEverywhere) {
  for (const auto& names :
       std::vector<std::vector<std::string>>{{}, {"site-1", "site-2"}, {"site-1", "site-1"}}) {
    const Seen seen = identities(certificate_with_common_names(names));
    EXPECT_EQ(seen.by_handshake, "") << names.size() << " CNs";
    EXPECT_EQ(seen.by_site, "") << names.size() << " CNs";
    EXPECT_NE(seen.site_refusal.find(fmt::format("has {} common names", names.size())),
              std::string::npos)
        << seen.site_refusal;
  }
}

TEST(CertificateIdentity, ACommonNameTooLongOrUnprintableIsRefusedEverywhere) {
  for (const std::string& cn : {std::string(kMaxIdentityBytes + 1, 'a'), std::string("site\x01one"),
                                std::string("site-1\xe2\x80\xae"), std::string("")}) {
    const Seen seen = identities(certificate_with_common_names({cn}));
    EXPECT_EQ(seen.by_handshake, "");
    EXPECT_EQ(seen.by_site, "");
    EXPECT_FALSE(seen.site_refusal.empty());
  }
  EXPECT_EQ(
      identities(certificate_with_common_names({std::string(kMaxIdentityBytes, 'a')})).by_site,
      std::string(kMaxIdentityBytes, 'a'));
}

// Names on both sides of the identity rule, each at most kMaxIdentityBytes unless it is about
// length: spaces inside, non-ASCII letters, every kind of character the rule refuses.
const std::vector<std::string>& candidate_identities() {
  static const std::vector<std::string> names = {
      "site-1", "a", "Site 1 of the consortium", "h\xc3\xb4pital-saint-louis", "site_1.example.org",
      "\xe6\x97\xa5\xe6\x9c\xac", "quote\"and\\backslash", std::string(kMaxIdentityBytes, 'x'),
      // refused:
      "", std::string(kMaxIdentityBytes + 1, 'x'), "site-1 ", " site-1", " ", "site\x01one",
      "site\x7f", "site\xc2\x85one" /* C1 NEL */, "site-1\xe2\x80\xae" /* RLO */,
      "line\xe2\x80\xa8sep", "bad\xff", "cut\xc3"};
  return names;
}

// A certificate whose CN passes the rule names exactly that identity; one whose CN fails names
// none, at the handshake and for a site alike.
TEST(IsValidIdentity, IsTheRuleCertificatesFollow) {
  size_t valid = 0;
  for (const std::string& cn : candidate_identities()) {
    const Seen seen = identities(certificate_with_common_names({cn}));
    const std::string expected = is_valid_identity(cn) ? cn : "";
    EXPECT_EQ(seen.by_handshake, expected) << ::testing::PrintToString(cn);
    EXPECT_EQ(seen.by_site, expected) << ::testing::PrintToString(cn);
    valid += is_valid_identity(cn) ? 1 : 0;
  }
  EXPECT_EQ(valid, 8u);  // the first eight candidates
}

TEST(IsValidIdentity, SpacesAtEitherEndAreRefusedEverywhere) {
  const Seen seen = identities(certificate_with_common_names({"site-1 "}));
  EXPECT_EQ(seen.by_handshake, "");
  EXPECT_NE(seen.site_refusal.find("leading or trailing spaces"), std::string::npos)
      << seen.site_refusal;
  EXPECT_TRUE(is_valid_identity("site 1"));
}

TEST(CertificateIdentity, NoCertificateIsNoIdentity) {
  EXPECT_EQ(certificate_identity(static_cast<const x509_st*>(nullptr)), "");
  EXPECT_THROW(certificate_identity(std::string("not a certificate")), PkiError);
}

}  // namespace
}  // namespace fedgan::pki
