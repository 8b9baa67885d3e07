#pragma once

#include "protocol/connection.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace fedgan::client {

/// Something the io thread (or FederatedClient::stop) tells the thread that runs the
/// conversation.
struct Event {
  enum class Kind {
    kConnected,  // async_connect finished: `connection` on success, else `error`
    kMessage,    // `message` arrived on the connection
    kClosed,     // the connection ended with `error`
    kStop,       // stop() was called
  };
  Kind kind = Kind::kStop;
  /// The connection attempt it belongs to (FederatedClient numbers them); 0 for kStop.
  uint64_t generation = 0;
  std::shared_ptr<protocol::Connection> connection;
  protocol::wire::Envelope message;
  std::optional<protocol::TransportError> error;

  static Event stop() { return Event{}; }
};

/// The events of a client, in arrival order, with a deadline on waiting. Thread-safe: the io
/// thread pushes, the conversation thread pops.
class EventQueue {
 public:
  void push(Event event);

  /// The oldest event; waits for one until `deadline` (forever without one). nullopt when the
  /// deadline passed first.
  std::optional<Event> pop(std::optional<std::chrono::steady_clock::time_point> deadline);

  /// Why local training must stop now, or null: a waiting stop, or, for connection
  /// `generation`, a new Task or the connection's end. Returns a string literal.
  const char* interruption(uint64_t generation) const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Event> events_;
};

}  // namespace fedgan::client
