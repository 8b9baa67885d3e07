#include "simulation/virtual_site.h"

#include "client/delta_upload.h"
#include "protocol/frame.h"

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

std::optional<TrainedTask> VirtualSite::train(const wire::Task& task,
                                              const std::vector<protocol::ConstTensorView>& global,
                                              std::string& why) {
  client::TaskPlan plan;
  try {
    plan = round_.plan_task(task);
    transfer(global, plan.codec, round_.global_destinations());
  } catch (const std::exception& error) {
    why = std::string("task refused: ") + error.what();
    return std::nullopt;
  }
  const client::RoundReport report = round_.train(plan);
  if (!report.completed) {
    why = "training diverged; nothing uploaded";
    return std::nullopt;
  }
  codec_ = plan.codec;
  // fedgan-client's header, metrics included (its delta copy is dropped at once).
  TrainedTask trained;
  trained.header = client::DeltaUpload(round_.delta_views(), plan.codec)
                       .header(plan, report, round_.num_samples())
                       .update();
  trained.local_steps = plan.local_steps;
  return trained;
}

uint64_t VirtualSite::upload_into(std::vector<protocol::MutableTensorView> into) {
  return transfer(round_.delta_views(), codec_, std::move(into));
}

}  // namespace fedgan::simulation
