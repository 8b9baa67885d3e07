#include "client/site_identity.h"

#include "client/error.h"
#include "pki/error.h"
#include "pki/identity.h"

#include <fstream>
#include <sstream>

namespace fedgan::client {
namespace {

// splitmix64's finaliser: a bijection that spreads every input bit over the output.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace

std::string certificate_identity(const std::filesystem::path& certificate_file) {
  std::ifstream in(certificate_file, std::ios::binary);
  check(in.good(), "cannot read the certificate {}", certificate_file.string());
  std::ostringstream pem;
  pem << in.rdbuf();
  // The identity the coordinator's TLS handshake admits this site with, by the same rule.
  try {
    return pki::certificate_identity(pem.str());
  } catch (const pki::PkiError& error) {
    throw ClientError(fmt::format("{}: {}", certificate_file.string(), error.what()));
  }
}

uint64_t site_seed(uint64_t seed, std::string_view identity) {
  return mix(mix(seed) ^ fnv1a(identity));
}

uint64_t round_seed(uint64_t site_seed, uint64_t round) {
  return mix(site_seed ^ mix(round));
}

}  // namespace fedgan::client
