#pragma once

#include "client/options.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <utility>

namespace fedgan::client {

/// What the client prints: log lines (one per round, and one per connection event, refusal or
/// rejection) on one stream, and, while training, a progress bar redrawn in place on a terminal.
/// A log line first erases the bar, so the two never mix on a terminal; without a bar the output
/// is the log lines alone, suited to a file or a journal. Thread-safe.
class Console {
 public:
  /// `bar` is the terminal the bar is drawn on, or null for no bar (its owner is the caller and
  /// it must outlive the console, like `log`). With `timestamps`, each line starts with the local
  /// time ("2026-11-22 10:00:01 ").
  Console(std::ostream& log, std::ostream* bar, bool timestamps = true);

  /// Writes one line (a newline is added; control characters in `text` become '?') and flushes
  /// it.
  void line(const std::string& text);

  template <typename... Args>
  void print(fmt::format_string<Args...> format, Args&&... args) {
    line(fmt::format(format, std::forward<Args>(args)...));
  }

  /// Redraws the bar: round, steps done of `steps`, the last step's losses and throughput. Draws
  /// at most ten times a second (and always the last step). No-op without a bar.
  void progress(uint64_t round, int64_t done, int64_t steps, double discriminator_loss,
                double generator_loss, double samples_per_second);
  /// Erases the bar, if one is shown.
  void clear_progress();

 private:
  void erase_bar_locked();

  std::mutex mutex_;
  std::ostream& log_;  // owned by the caller, outlives the console
  std::ostream* bar_;  // owned by the caller, outlives the console; null = no bar
  bool timestamps_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

/// Whether log.progress = `setting` shows a bar: "auto" does when standard error is a terminal.
bool progress_bar_wanted(Progress setting);

}  // namespace fedgan::client
