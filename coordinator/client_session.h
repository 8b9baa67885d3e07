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

/// What a session asks of the coordinator. Calls come from the session's connection strand.
class Federation {
 public:
  virtual ~Federation() = default;
  virtual void on_hello(const std::shared_ptr<ClientSession>& session,
                        const wire::Hello& hello) = 0;
  /// Admits an upload (returning the buffer its delta goes into) or throws ProtocolError.
  virtual std::unique_ptr<DeltaBuffer> on_update_header(ClientSession& session,
                                                        const wire::UpdateHeader& header) = 0;
  /// Judges and aggregates a complete delta; returns the status sent back to the client.
  virtual wire::Status on_update_received(ClientSession& session, ReceivedUpdate update) = 0;
  /// Records a refused upload: at its header (`admitted` false), or during its transfer
  /// (non-finite value, missing bytes, ...; `admitted` true: the client's part in the round is
  /// over).
  virtual void on_update_refused(ClientSession& session, const wire::UpdateHeader& header,
                                 const protocol::ProtocolError& error, bool admitted,
                                 uint64_t bytes) = 0;
  virtual void on_session_closed(ClientSession& session,
                                 const protocol::TransportError& reason) = 0;
};

/// One client's connection, from its Hello to its Goodbye. Receives at most one upload at a time:
/// UpdateHeader -> Ack (admitted or refused) -> chunks decoded straight into the upload's buffer ->
/// TransferEnd -> Ack (accepted, or why not). A refusal during the transfer discards the rest of
/// its chunks and is answered at its TransferEnd, so the client stays connected; a message out of
/// this order breaks the protocol and closes the connection.
class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  /// The session keeps `federation` alive; the federation drops its sessions when it stops.
  ClientSession(std::shared_ptr<protocol::Connection> connection,
                std::shared_ptr<Federation> federation);

  void start();
  const std::string& identity() const { return connection_->peer_identity(); }
  const std::string& address() const { return connection_->remote_address(); }
  uint64_t num_samples() const { return num_samples_; }

  /// Sends the task, then the model as a stream of chunks, then its TransferEnd. `on_model_queued`
  /// (optional) runs on the connection's strand once the last chunk has been taken for writing;
  /// never if the connection ends first.
  void send_task(const wire::Task& task, std::shared_ptr<ModelSnapshot> model,
                 std::function<void()> on_model_queued = {});
  void send_ack(const wire::Status& status);
  void close(wire::StatusCode code, const std::string& message);

 private:
  void on_message(wire::Envelope& message);
  void on_update_header(const wire::UpdateHeader& header);
  void on_chunk(const wire::TensorChunk& chunk);
  void on_transfer_end(const wire::TransferEnd& end);
  void end_upload();

  std::shared_ptr<protocol::Connection> connection_;
  std::shared_ptr<Federation> federation_;
  bool greeted_ = false;
  uint64_t num_samples_ = 0;

  // The upload in progress, if any.
  std::optional<wire::UpdateHeader> upload_;
  std::unique_ptr<DeltaBuffer> delta_;
  std::unique_ptr<protocol::TensorStreamReader> reader_;
  std::optional<protocol::ProtocolError> refusal_;
  uint64_t upload_bytes_ = 0;
  std::chrono::steady_clock::time_point upload_started_;
};

wire::Status make_status(wire::StatusCode code, const std::string& message);

}  // namespace fedgan::coordinator
