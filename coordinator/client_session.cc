#include "coordinator/client_session.h"

#include "coordinator/update_validator.h"

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
                             std::shared_ptr<Federation> federation, uint64_t id)
    : connection_(std::move(connection)), federation_(std::move(federation)), id_(id) {}

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
  // An upload whose verdict is recorded (its round ended, say) may be left without its
  // TransferEnd: a site that gave up waiting for its admission never sends the chunks.
  protocol::check(!upload_ || upload_->verdict, wire::STATUS_MALFORMED,
                  "a new update was announced before the previous one ended");
  upload_.reset();
  Admission admission;
  try {
    admission = federation_->on_update_header(*this, header);
  } catch (const ProtocolError& refused) {
    return send_ack(make_status(refused.code(), refused.what()), wire::ACK_STAGE_ADMISSION, header);
  }
  Upload upload;
  upload.header = header;
  upload.attempt = admission.attempt;
  // The manifest passed validation against the global one, so the buffer matches it.
  upload.reader = std::make_unique<protocol::TensorStreamReader>(header.delta(),
                                                                 admission.delta->destinations());
  upload.delta = std::move(admission.delta);
  upload.started = std::chrono::steady_clock::now();
  upload_ = std::move(upload);
  send_ack(make_status(wire::STATUS_OK, "send the delta"), wire::ACK_STAGE_ADMISSION, header);
}

void ClientSession::on_chunk(const wire::TensorChunk& chunk) {
  protocol::check(upload_.has_value(), wire::STATUS_MALFORMED,
                  "tensor chunk without an admitted update");
  upload_->bytes += chunk.data().size();
  // A refused or abandoned transfer is read to its end, but no further than its manifest said.
  protocol::check(upload_->bytes <= upload_->header.delta().total_bytes(), wire::STATUS_MALFORMED,
                  "the chunks carry more than the {} bytes the update's manifest declares",
                  upload_->header.delta().total_bytes());
  if (upload_->verdict) return;
  try {
    upload_->reader->add(chunk);
  } catch (const ProtocolError& refused) {
    refuse_transfer(refused);
  }
}

void ClientSession::on_transfer_end(const wire::TransferEnd& end) {
  protocol::check(upload_.has_value(), wire::STATUS_MALFORMED,
                  "TransferEnd without an admitted update");
  if (!upload_->verdict) {
    try {
      upload_->reader->finish(end);
    } catch (const ProtocolError& refused) {
      refuse_transfer(refused);
    }
  }
  Upload upload = std::move(*upload_);
  upload_.reset();
  if (upload.verdict) return send_ack(*upload.verdict, wire::ACK_STAGE_VERDICT, upload.header);
  ReceivedUpdate update;
  update.header = upload.header;
  update.delta = std::move(upload.delta);
  update.bytes = upload.bytes;
  update.upload_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - upload.started).count();
  const wire::Status verdict =
      federation_->on_update_received(*this, upload.attempt, std::move(update));
  send_ack(verdict, wire::ACK_STAGE_VERDICT, upload.header);
}

// Records the refusal at once (the client's part in the round is over) and frees the buffer; the
// verdict goes out at the TransferEnd.
void ClientSession::refuse_transfer(const ProtocolError& error) {
  upload_->verdict = make_status(error.code(), error.what());
  upload_->reader.reset();
  upload_->delta.reset();
  federation_->on_transfer_refused(*this, upload_->attempt, upload_->header, error, upload_->bytes);
}

void ClientSession::abandon_upload(uint64_t attempt, wire::Status verdict) {
  connection_->post([self = shared_from_this(), attempt, verdict = std::move(verdict)] {
    auto& upload = self->upload_;
    if (!upload || upload->attempt != attempt || upload->verdict) return;
    upload->verdict = verdict;
    upload->reader.reset();
    upload->delta.reset();
  });
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

void ClientSession::send_welcome(const std::string& message) {
  wire::Envelope envelope;
  auto* ack = envelope.mutable_ack();
  *ack->mutable_status() = make_status(wire::STATUS_OK, message);
  ack->set_stage(wire::ACK_STAGE_WELCOME);
  connection_->send(envelope);
}

void ClientSession::send_ack(const wire::Status& status, wire::AckStage stage,
                             const wire::UpdateHeader& about) {
  wire::Envelope envelope;
  auto* ack = envelope.mutable_ack();
  *ack->mutable_status() = status;
  ack->set_stage(stage);
  ack->set_round(about.round());
  // A nonce longer than any the coordinator issues was refused as MALFORMED: not echoed.
  if (about.nonce().size() <= kMaxNonceBytes) ack->set_nonce(about.nonce());
  connection_->send(envelope);
}

void ClientSession::close(wire::StatusCode code, const std::string& message) {
  connection_->close(code, message);
}

}  // namespace fedgan::coordinator
