#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fedgan::coordinator {

/// The sites a run has quarantined (aggregation.quarantine_after, quarantine_window): a site whose
/// update was flagged in at least `after` of the last `window` committed rounds is excluded from
/// the rest of the run. Pure bookkeeping: the engine closes the site's session, refuses its next
/// Hellos and records the event. Not thread-safe (the engine's state is behind its mutex).
class Quarantine {
 public:
  /// `after` 0 turns quarantine off; otherwise 1 <= after <= window.
  Quarantine(size_t after, size_t window);

  bool enabled() const { return after_ > 0; }
  size_t after() const { return after_; }
  size_t window() const { return window_; }

  /// Committed round `round` flagged `flagged` (identities, each at most once). Returns the sites
  /// this round quarantines, sorted; rounds must be committed in increasing order.
  std::vector<std::string> committed(int64_t round, const std::vector<std::string>& flagged);

  /// Whether `identity` is quarantined.
  bool holds(const std::string& identity) const { return quarantined_.count(identity) > 0; }

  /// A quarantine the database recorded before a restart.
  void restore_quarantined(const std::string& identity) { quarantined_.insert(identity); }
  /// A flag the database recorded before a restart, in round order.
  void restore_flag(int64_t round, const std::string& identity);

  /// The rounds within the window that flagged `identity` as of the last committed round.
  size_t flagged_rounds(const std::string& identity) const;

 private:
  // Forgets flags older than the window ending at `round`.
  void slide_to(int64_t round);

  size_t after_;
  size_t window_;
  int64_t last_round_ = 0;
  std::map<std::string, std::deque<int64_t>> flags_;  // flagged rounds within the window
  std::set<std::string> quarantined_;
};

}  // namespace fedgan::coordinator
