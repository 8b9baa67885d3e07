#include "client/site_identity.h"

#include "client/error.h"
#include "tests/client/test_support.h"
#include "tests/pki/test_certificates.h"
#include "tests/protocol/transport_fixture.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace fedgan::client {
namespace {

using protocol::testing::test_pki;

TEST(SiteIdentity, IsTheCertificatesCommonName) {
  EXPECT_EQ(certificate_identity(test_pki().cert("site-1")), "site-1");
  EXPECT_EQ(certificate_identity(test_pki().cert("site-2")), "site-2");
}

class SiteIdentityFiles : public testing::TempDirTest {};

TEST_F(SiteIdentityFiles, RefusesAMissingFileAndAFileThatIsNoCertificate) {
  EXPECT_THROW(certificate_identity(dir_ / "missing.pem"), ClientError);
  std::ofstream(dir_ / "junk.pem") << "-----BEGIN CERTIFICATE-----\nnot base64\n";
  try {
    certificate_identity(dir_ / "junk.pem");
    ADD_FAILURE() << "a file that is no certificate was accepted";
  } catch (const ClientError& error) {
    EXPECT_NE(std::string(error.what()).find("junk.pem"), std::string::npos) << error.what();
  }
}

// A site knows itself by the identity the coordinator's handshake would admit it with: a
// certificate with zero or several CNs is refused here as it is there (pki/identity.h).
TEST_F(SiteIdentityFiles, RefusesACertificateWithZeroOrSeveralCommonNames) {
  for (const auto& names : std::vector<std::vector<std::string>>{{}, {"site-1", "site-2"}}) {
    const auto path = dir_ / "ambiguous.pem";
    std::ofstream(path) << pki::testing::certificate_with_common_names(names);
    try {
      certificate_identity(path);
      ADD_FAILURE() << "a certificate with " << names.size() << " CNs named a site";
    } catch (const ClientError& error) {
      EXPECT_NE(std::string(error.what()).find("common names"), std::string::npos) << error.what();
    }
  }
}

TEST(SiteSeed, DependsOnSeedAndIdentityAndIsStable) {
  EXPECT_EQ(site_seed(1, "site-1"), site_seed(1, "site-1"));
  std::set<uint64_t> seeds;
  for (const char* identity : {"site-1", "site-2", "site-3", "site-4", ""}) {
    for (uint64_t seed : {0, 1, 2}) seeds.insert(site_seed(seed, identity));
  }
  EXPECT_EQ(seeds.size(), 15u);
  std::set<uint64_t> rounds;
  for (uint64_t round = 1; round <= 100; ++round)
    rounds.insert(round_seed(site_seed(1, "a"), round));
  EXPECT_EQ(rounds.size(), 100u);
}

}  // namespace
}  // namespace fedgan::client
