#include "client/event_queue.h"

namespace fedgan::client {

void EventQueue::push(Event event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  ready_.notify_all();
}

std::optional<Event> EventQueue::pop(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  std::unique_lock lock(mutex_);
  const auto ready = [&] { return !events_.empty(); };
  if (deadline) {
    if (!ready_.wait_until(lock, *deadline, ready)) return std::nullopt;
  } else {
    ready_.wait(lock, ready);
  }
  Event event = std::move(events_.front());
  events_.pop_front();
  return event;
}

const char* EventQueue::interruption(uint64_t generation) const {
  std::lock_guard lock(mutex_);
  for (const Event& event : events_) {
    if (event.kind == Event::Kind::kStop) return "the client is stopping";
    if (event.generation != generation) continue;
    if (event.kind == Event::Kind::kClosed) return "the connection ended";
    if (event.kind == Event::Kind::kMessage && event.message.has_task()) {
      return "a new task arrived";
    }
  }
  return nullptr;
}

}  // namespace fedgan::client
