#include "coordinator/quarantine.h"

#include "coordinator/error.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace fedgan::coordinator {
namespace {

using Names = std::vector<std::string>;

TEST(Quarantine, ASiteFlaggedKTimesWithinTheLastWRoundsIsQuarantinedOnce) {
  Quarantine quarantine(2, 3);  // 2 flagged rounds out of the last 3
  EXPECT_EQ(quarantine.committed(1, {"mallory", "bob"}), Names{});
  EXPECT_EQ(quarantine.committed(2, {}), Names{});
  // Round 3's window is rounds 1-3: mallory's second flag quarantines her.
  EXPECT_EQ(quarantine.committed(3, {"mallory"}), Names{"mallory"});
  EXPECT_TRUE(quarantine.holds("mallory"));
  EXPECT_FALSE(quarantine.holds("bob"));
  // bob's flag of round 1 has left the window by round 4: one flag, not two.
  EXPECT_EQ(quarantine.committed(4, {"bob"}), Names{});
  EXPECT_EQ(quarantine.flagged_rounds("bob"), 1u);
  // Quarantine is for the rest of the run: further flags announce nothing new.
  EXPECT_EQ(quarantine.committed(5, {"mallory", "bob"}), Names{"bob"});
  EXPECT_EQ(quarantine.committed(6, {"mallory", "bob"}), Names{});
  EXPECT_TRUE(quarantine.holds("mallory"));
}

TEST(Quarantine, SitesQuarantinedTogetherAreListedInOrder) {
  Quarantine quarantine(1, 1);
  EXPECT_EQ(quarantine.committed(7, {"zed", "alice", "mallory"}),
            (Names{"alice", "mallory", "zed"}));
}

TEST(Quarantine, OffByDefaultAndRestoredAfterARestart) {
  Quarantine off(0, 10);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.committed(1, {"mallory"}), Names{});
  EXPECT_FALSE(off.holds("mallory"));

  // A restart: mallory was quarantined before it; bob had one flag within the window.
  Quarantine restored(2, 5);
  restored.restore_quarantined("mallory");
  restored.restore_flag(8, "bob");
  EXPECT_TRUE(restored.holds("mallory"));
  EXPECT_EQ(restored.committed(9, {"bob"}), Names{"bob"});
}

TEST(Quarantine, AThresholdBeyondTheWindowIsRefused) {
  EXPECT_THROW(Quarantine(4, 3), CoordinatorError);
  EXPECT_THROW(Quarantine(1, 0), CoordinatorError);
  EXPECT_NO_THROW(Quarantine(0, 0));
}

}  // namespace
}  // namespace fedgan::coordinator
