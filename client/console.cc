#include "client/console.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>

namespace fedgan::client {
namespace {

constexpr int kBarWidth = 30;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string local_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  const size_t size = std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &local);
  return std::string(text, size);
}

}  // namespace

Console::Console(std::ostream& log, std::ostream* bar, bool timestamps)
    : log_(log), bar_(bar), timestamps_(timestamps) {}

void Console::erase_bar_locked() {
  if (!bar_shown_) return;
  *bar_ << "\r\033[K" << std::flush;
  bar_shown_ = false;
}

void Console::line(const std::string& text) {
  // Lines quote what peers and files say; no control character (an escape sequence, a NUL) of
  // theirs reaches the terminal or the log.
  std::string clean = text;
  for (char& c : clean) {
    if ((c >= 0 && c < 0x20) || c == 0x7f) c = '?';
  }
  std::lock_guard lock(mutex_);
  erase_bar_locked();
  if (timestamps_) log_ << local_time_now() << ' ';
  log_ << clean << '\n' << std::flush;
}

void Console::progress(uint64_t round, int64_t done, int64_t steps, double discriminator_loss,
                       double generator_loss, double samples_per_second) {
  if (!bar_) return;
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (bar_shown_ && done < steps && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  const int filled = steps > 0 ? static_cast<int>(kBarWidth * std::min(done, steps) / steps) : 0;
  *bar_ << fmt::format("\r\033[Kround {} [{}{}] {}/{}  D {:.4f}  G {:.4f}  {:.0f} samples/s", round,
                       std::string(static_cast<size_t>(filled), '#'),
                       std::string(static_cast<size_t>(kBarWidth - filled), '.'), done, steps,
                       discriminator_loss, generator_loss, samples_per_second)
        << std::flush;
  bar_shown_ = true;
}

void Console::clear_progress() {
  std::lock_guard lock(mutex_);
  erase_bar_locked();
}

bool progress_bar_wanted(Progress setting) {
  switch (setting) {
    case Progress::kAlways:
      return true;
    case Progress::kNever:
      return false;
    case Progress::kAuto:
      break;
  }
  return ::isatty(STDERR_FILENO) == 1;
}

}  // namespace fedgan::client
