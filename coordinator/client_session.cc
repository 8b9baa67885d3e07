#include "coordinator/client_session.h"

#include <fmt/format.h>

namespace fedgan::coordinator {

using protocol::ProtocolError;

wire::Status make_status(wire::StatusCode code, const std::string& message) {
  wire::Status status;
  status.set_code(code);
  status.set_message(message);
  return status;
}

ClientSession::ClientSession(std::shared_ptr<protocol::Connection> connection,
                             std::shared_ptr<Federation> federation)
    : connection_(std::move(connection)), federation_(std::move(federation)) {}

void ClientSession::start() {
  // The handlers hold the session; the connection drops them when it closes.
  connection_->start(
      [self = shared_from_this()](wire::Envelope& message) { self->on_message(message); },
      [self = shared_from_this()](const protocol::TransportError& reason) {
        self->federation_->on_session_closed(*self, reason);
      });
}

void ClientSession::on_message(wire::Envelope& message) {
  if (message.has_hello()) {
    protocol::check(!greeted_, wire::STATUS_MALFORMED, "second Hello on one connection");
    greeted_ = true;
    num_samples_ = message.hello().num_samples();
    return federation_->on_hello(shared_from_this(), message.hello());
  }
  protocol::check(greeted_, wire::STATUS_MALFORMED, "the first message must be Hello");
  if (message.has_update()) return on_update_header(message.update());
  if (message.has_chunk()) return on_chunk(message.chunk());
  if (message.has_transfer_end()) return on_transfer_end(message.transfer_end());
  throw ProtocolError(wire::STATUS_MALFORMED,
                      fmt::format("a client does not send {} messages",
                                  message.GetDescriptor()
                                      ->FindFieldByNumber(static_cast<int>(message.body_case()))
                                      ->name()));
}

void ClientSession::on_update_header(const wire::UpdateHeader& header) {
  protocol::check(!upload_, wire::STATUS_MALFORMED,
                  "a new update was announced before the previous one ended");
  std::unique_ptr<DeltaBuffer> delta;
  try {
    delta = federation_->on_update_header(*this, header);
  } catch (const ProtocolError& refused) {
    federation_->on_update_refused(*this, header, refused, false, 0);
    return send_ack(make_status(refused.code(), refused.what()));
  }
  // The manifest passed validation against the global one, so the buffer matches it.
  reader_ = std::make_unique<protocol::TensorStreamReader>(header.delta(), delta->destinations());
  delta_ = std::move(delta);
  upload_ = header;
  refusal_.reset();
  upload_bytes_ = 0;
  upload_started_ = std::chrono::steady_clock::now();
  send_ack(make_status(wire::STATUS_OK, "send the delta"));
}

void ClientSession::on_chunk(const wire::TensorChunk& chunk) {
  protocol::check(upload_.has_value(), wire::STATUS_MALFORMED,
                  "tensor chunk without an admitted update");
  upload_bytes_ += chunk.data().size();
  if (refusal_) return;  // discarding the rest of a refused transfer
  try {
    reader_->add(chunk);
  } catch (const ProtocolError& refused) {
    refusal_ = refused;
    delta_.reset();  // nothing of it will be used: give the memory back now
  }
}

void ClientSession::on_transfer_end(const wire::TransferEnd& end) {
  protocol::check(upload_.has_value(), wire::STATUS_MALFORMED,
                  "TransferEnd without an admitted update");
  if (!refusal_) {
    try {
      reader_->finish(end);
    } catch (const ProtocolError& refused) {
      refusal_ = refused;
    }
  }
  if (refusal_) {
    federation_->on_update_refused(*this, *upload_, *refusal_, true, upload_bytes_);
    send_ack(make_status(refusal_->code(), refusal_->what()));
    return end_upload();
  }
  ReceivedUpdate update;
  update.header = std::move(*upload_);
  update.delta = std::move(delta_);
  update.bytes = upload_bytes_;
  update.upload_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - upload_started_).count();
  end_upload();
  send_ack(federation_->on_update_received(*this, std::move(update)));
}

void ClientSession::end_upload() {
  upload_.reset();
  reader_.reset();
  delta_.reset();
  refusal_.reset();
}

void ClientSession::send_task(const wire::Task& task, std::shared_ptr<ModelSnapshot> model,
                              std::function<void()> on_model_queued) {
  wire::Envelope envelope;
  *envelope.mutable_task() = task;
  *envelope.mutable_task()->mutable_model() = model->manifest();
  envelope.mutable_task()->set_model_follows(true);
  connection_->send(envelope);
  connection_->send_frames(
      [model, next_chunk = size_t{0}]() mutable { return model->frame(next_chunk++); },
      [model, connection = connection_, on_model_queued = std::move(on_model_queued)] {
        wire::Envelope end;
        *end.mutable_transfer_end() = model->transfer_end();
        connection->send(end);
        if (on_model_queued) on_model_queued();
      });
}

void ClientSession::send_ack(const wire::Status& status) {
  wire::Envelope envelope;
  *envelope.mutable_ack()->mutable_status() = status;
  connection_->send(envelope);
}

void ClientSession::close(wire::StatusCode code, const std::string& message) {
  connection_->close(code, message);
}

}  // namespace fedgan::coordinator
