#include "coordinator/quarantine.h"

#include "coordinator/error.h"

#include <algorithm>
#include <iterator>

namespace fedgan::coordinator {

Quarantine::Quarantine(size_t after, size_t window) : after_(after), window_(window) {
  check(after_ == 0 || (window_ >= 1 && after_ <= window_),
        "quarantine after {} flagged rounds out of {}: it needs 1 <= after <= window", after_,
        window_);
}

void Quarantine::slide_to(int64_t round) {
  last_round_ = std::max(last_round_, round);
  const int64_t oldest = last_round_ - static_cast<int64_t>(window_) + 1;
  for (auto it = flags_.begin(); it != flags_.end();) {
    auto& rounds = it->second;
    while (!rounds.empty() && rounds.front() < oldest) rounds.pop_front();
    it = rounds.empty() ? flags_.erase(it) : std::next(it);
  }
}

std::vector<std::string> Quarantine::committed(int64_t round,
                                               const std::vector<std::string>& flagged) {
  if (!enabled()) return {};
  slide_to(round);
  std::vector<std::string> newly;
  for (const std::string& identity : flagged) {
    auto& rounds = flags_[identity];
    if (rounds.empty() || rounds.back() != round) rounds.push_back(round);
    if (rounds.size() >= after_ && quarantined_.insert(identity).second) newly.push_back(identity);
  }
  std::sort(newly.begin(), newly.end());
  return newly;
}

void Quarantine::restore_flag(int64_t round, const std::string& identity) {
  if (!enabled()) return;
  slide_to(round);
  auto& rounds = flags_[identity];
  if (rounds.empty() || rounds.back() != round) rounds.push_back(round);
}

size_t Quarantine::flagged_rounds(const std::string& identity) const {
  const auto found = flags_.find(identity);
  return found == flags_.end() ? 0 : found->second.size();
}

}  // namespace fedgan::coordinator
