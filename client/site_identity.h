#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace fedgan::client {

/// The site's identity in the federation: pki::certificate_identity of its certificate (the PEM
/// file tls.certificate_file names), as the coordinator's TLS handshake admits it. Throws
/// ClientError when the file cannot be read, is not a certificate, or names no identity (no CN,
/// several CNs, one too long or unprintable): such a site would be refused by the coordinator.
std::string certificate_identity(const std::filesystem::path& certificate_file);

/// This site's seed: training.seed mixed with the site's identity (its certificate's CN). Sites
/// of one federation are usually configured alike, and with one seed they would all draw the same
/// latents in a round: the generator would then learn from one site's batch of latents repeated,
/// not from K different ones. Mixing in the identity keeps each site reproducible and the sites
/// apart. A 64-bit FNV-1a hash of the identity, combined with the seed through splitmix64.
uint64_t site_seed(uint64_t seed, std::string_view identity);

/// The seed of the random draws (latents, augmentation) of round `round` at a site.
uint64_t round_seed(uint64_t site_seed, uint64_t round);

}  // namespace fedgan::client
