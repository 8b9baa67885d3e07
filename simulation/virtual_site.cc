#include "simulation/virtual_site.h"

#include "client/delta_upload.h"
#include "protocol/frame.h"

#include <fmt/format.h>

namespace fedgan::simulation {

uint64_t transfer(std::vector<protocol::ConstTensorView> from, wire::Codec codec,
                  std::vector<protocol::MutableTensorView> into) {
  protocol::TensorStreamWriter writer(std::move(from), codec);
  protocol::TensorStreamReader reader(writer.manifest(), std::move(into));
  wire::TensorChunk chunk;
  while (writer.next_chunk(chunk)) reader.add(chunk);
  reader.finish(writer.transfer_end());
  return writer.manifest().total_bytes();
}

VirtualSite::VirtualSite(const client::ClientOptions& options, const client::LoadedData& data,
                         std::string identity, double speed, std::filesystem::path page_file)
    : identity_(std::move(identity)),
      speed_(speed),
      round_(options, data, identity_),
      pager_(std::move(page_file)) {}

wire::Hello VirtualSite::hello() const {
  wire::Hello hello;
  hello.set_minor_version(protocol::kProtocolMinorVersion);
  hello.set_num_samples(static_cast<uint64_t>(round_.num_samples()));
  hello.set_device("virtual site");
  hello.add_codecs(wire::CODEC_FP32);
  hello.add_codecs(wire::CODEC_FP16);
  hello.set_software_version("fedgan-simulate");
  return hello;
}

bool VirtualSite::start(const wire::Task& task,
                        const std::vector<protocol::ConstTensorView>& global, std::string& why) {
  try {
    plan_ = round_.plan_task(task);
    transfer(global, plan_.codec, round_.global_destinations());
  } catch (const std::exception& error) {
    why = std::string("task refused: ") + error.what();
    return false;
  }
  round_.begin_training(plan_);
  return true;
}

std::optional<TrainedTask> VirtualSite::finish(std::string& why) {
  const client::RoundReport report = round_.finish_training();
  if (report.diverged) {
    why = "training diverged; nothing uploaded";
    return std::nullopt;
  }
  if (!report.completed) {
    why = fmt::format(
        "stopped after {} of {} steps (a new task or the connection's end came "
        "first); nothing uploaded",
        report.steps, plan_.local_steps);
    return std::nullopt;
  }
  // fedgan-client's header, metrics included (its delta copy is dropped at once).
  TrainedTask trained;
  trained.header = client::DeltaUpload(round_.delta_views(), plan_.codec)
                       .header(plan_, report, round_.num_samples())
                       .update();
  trained.local_steps = plan_.local_steps;
  return trained;
}

uint64_t VirtualSite::upload_into(std::vector<protocol::MutableTensorView> into) {
  return transfer(round_.delta_views(), plan_.codec, std::move(into));
}

}  // namespace fedgan::simulation
