#pragma once

// The names of the local metrics a site reports in UpdateHeader.metrics: one list that the client
// (which writes them), the coordinator (which checks their ranges, records and averages them) and
// `fedgan-coordinator history` (which reads them back from the database) share, so a renamed
// metric cannot be written under one name and read under another.

#include <array>

namespace fedgan::protocol::metric {

/// Mean generator and discriminator loss over the round's local steps.
inline constexpr char kGeneratorLoss[] = "generator_loss";
inline constexpr char kDiscriminatorLoss[] = "discriminator_loss";
/// Seconds the local steps took.
inline constexpr char kTrainSeconds[] = "train_seconds";
/// Real samples the discriminator consumed per second of training.
inline constexpr char kSamplesPerSecond[] = "samples_per_second";
/// Seconds the task's model took to arrive and be checked.
inline constexpr char kDownloadSeconds[] = "download_seconds";
/// Seconds computing the delta and checking it for finiteness took.
inline constexpr char kDeltaSeconds[] = "delta_seconds";

/// Every metric a site of this version reports. A coordinator accepts others too (within its
/// generic bounds), so a newer site's extra figure is recorded, not refused.
inline constexpr std::array<const char*, 6> kReported = {
    kGeneratorLoss,    kDiscriminatorLoss, kTrainSeconds,
    kSamplesPerSecond, kDownloadSeconds,   kDeltaSeconds,
};

}  // namespace fedgan::protocol::metric
