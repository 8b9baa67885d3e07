#pragma once

#include "coordinator/global_model.h"
#include "coordinator/model_snapshot.h"
#include "protocol/connection.h"
#include "protocol/tensor_stream.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace fedgan::coordinator {

namespace wire = protocol::wire;

class ClientSession;

/// A delta that arrived whole and passed its transfer checks (manifest, finite values, byte count),
/// still to be judged by the round (norm bound) and aggregated.
struct ReceivedUpdate {
  wire::UpdateHeader header;
  std::unique_ptr<DeltaBuffer> delta;
  uint64_t bytes = 0;
  double upload_seconds = 0;
};

/// An admitted upload: the buffer its delta is decoded into, and the round attempt it was admitted
/// to (the attempt's generation, which no later attempt shares).
struct Admission {
  std::unique_ptr<DeltaBuffer> delta;
  uint64_t attempt = 0;
};

/// What a session asks of the coordinator. Calls come from the session's connection strand. Every
/// upload the federation admits ends in exactly one `updates` row, written by the federation: at
/// its verdict, when its transfer is refused, when its connection ends, or when its attempt ends
/// first.
class Federation {
 public:
  virtual ~Federation() = default;
  virtual void on_hello(const std::shared_ptr<ClientSession>& session,
                        const wire::Hello& hello) = 0;
  /// Admits an upload, or records its refusal and throws it as a ProtocolError.
  virtual Admission on_update_header(ClientSession& session, const wire::UpdateHeader& header) = 0;
  /// Judges, records and aggregates a complete delta admitted to `attempt`; returns the verdict.
  virtual wire::Status on_update_received(ClientSession& session, uint64_t attempt,
                                          ReceivedUpdate update) = 0;
  /// Records an upload admitted to `attempt` and refused during its transfer (non-finite value,
  /// missing bytes, ...): the client's part in the attempt is over.
  virtual void on_transfer_refused(ClientSession& session, uint64_t attempt,
                                   const wire::UpdateHeader& header,
                                   const protocol::ProtocolError& error, uint64_t bytes) = 0;
  virtual void on_session_closed(ClientSession& session,
                                 const protocol::TransportError& reason) = 0;
};

/// One client's connection, from its Hello to its Goodbye. Receives at most one upload at a time:
/// UpdateHeader -> Ack (admitted or refused) -> chunks decoded straight into the upload's buffer ->
/// TransferEnd -> Ack (accepted, or why not). Every Ack names its stage and the round and nonce of
/// the upload it answers. An upload refused during its transfer, or abandoned because its round
/// ended, discards the rest of its chunks (no more than its manifest declared) and is answered at
/// its TransferEnd, so the client stays connected; a message out of this order breaks the
/// protocol and closes the connection. A new UpdateHeader may replace an abandoned upload whose
/// TransferEnd never came.
class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  /// The session keeps `federation` alive; the federation drops its sessions when it stops. `id`
  /// tells this session from any other of the process (the engine's SessionId).
  ClientSession(std::shared_ptr<protocol::Connection> connection,
                std::shared_ptr<Federation> federation, uint64_t id);

  void start();
  uint64_t id() const { return id_; }
  const std::string& identity() const { return connection_->peer_identity(); }
  const std::string& address() const { return connection_->remote_address(); }
  /// Bytes of the upload in progress received so far (0 when none). On the connection's strand.
  uint64_t upload_bytes() const { return upload_ ? upload_->bytes : 0; }

  /// Sends the task, then the model as a stream of chunks, then its TransferEnd. `on_model_queued`
  /// (optional) runs on the connection's strand once the last chunk has been taken for writing;
  /// never if the connection ends first.
  void send_task(const wire::Task& task, std::shared_ptr<ModelSnapshot> model,
                 std::function<void()> on_model_queued = {});
  /// The Ack that answers a Hello.
  void send_welcome(const std::string& message);
  /// Ends the upload admitted to `attempt`, if it is still being received, with `verdict`, which
  /// the federation has recorded: its buffer is freed, the rest of its chunks discarded and its
  /// TransferEnd answered with the verdict. Thread-safe: runs on the connection's strand.
  void abandon_upload(uint64_t attempt, wire::Status verdict);
  void close(wire::StatusCode code, const std::string& message);

 private:
  struct Upload {
    wire::UpdateHeader header;
    uint64_t attempt = 0;
    std::unique_ptr<DeltaBuffer> delta;
    std::unique_ptr<protocol::TensorStreamReader> reader;
    /// Set once the upload is refused or abandoned (and recorded): the rest is discarded.
    std::optional<wire::Status> verdict;
    uint64_t bytes = 0;
    std::chrono::steady_clock::time_point started;
  };

  void on_message(wire::Envelope& message);
  void on_update_header(const wire::UpdateHeader& header);
  void on_chunk(const wire::TensorChunk& chunk);
  void on_transfer_end(const wire::TransferEnd& end);
  void refuse_transfer(const protocol::ProtocolError& error);
  void send_ack(const wire::Status& status, wire::AckStage stage, const wire::UpdateHeader& about);

  std::shared_ptr<protocol::Connection> connection_;
  std::shared_ptr<Federation> federation_;
  uint64_t id_;
  bool greeted_ = false;
  std::optional<Upload> upload_;  // the upload in progress, if any
};

wire::Status make_status(wire::StatusCode code, const std::string& message);

}  // namespace fedgan::coordinator
