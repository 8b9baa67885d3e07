#pragma once

#include "client/local_round.h"
#include "client/options.h"
#include "protocol/fedgan.pb.h"
#include "protocol/tensor_stream.h"
#include "simulation/site_pager.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fedgan::simulation {

namespace wire = protocol::wire;

/// The same values `into` receives when `from` is sent over a connection under `codec`: the
/// stream's writer and reader in memory, with every check they make on the way (finiteness, the
/// manifest, byte counts; ProtocolError otherwise). Returns the encoded bytes.
uint64_t transfer(std::vector<protocol::ConstTensorView> from, wire::Codec codec,
                  std::vector<protocol::MutableTensorView> into);

/// What a site that finished its local round announces.
struct TrainedTask {
  wire::UpdateHeader header;
  int64_t local_steps = 0;
};

/// One virtual site: a site's model, optimizer state, data share and seeds, trained exactly as
/// fedgan-client trains them (client::LocalRound, with the site's identity mixed into its seeds),
/// plus the speed factor that scales its local steps on the simulation's clock. Not thread-safe;
/// different sites may train on different threads at once.
class VirtualSite {
 public:
  /// Builds the site's model and keeps `data`, its share; `page_file` is where its memory goes
  /// when paged out. Throws what LocalRound throws.
  VirtualSite(const client::ClientOptions& options, const client::LoadedData& data,
              std::string identity, double speed, std::filesystem::path page_file);

  const std::string& identity() const { return identity_; }
  double speed() const { return speed_; }
  const torch::Device& device() const { return round_.device(); }
  /// The Hello a fedgan-client with this site's data would send.
  wire::Hello hello() const;

  /// Plans `task` (whose model manifest is set), receives `global` under the task's codec and
  /// begins its local round (client::LocalRound::begin_training). Returns false where
  /// fedgan-client would refuse the task; `why` then says why.
  bool start(const wire::Task& task, const std::vector<protocol::ConstTensorView>& global,
             std::string& why);
  /// Runs up to `steps` more steps of the round started (fewer at its local_steps or a
  /// divergence).
  void advance(int64_t steps) { round_.train_steps(steps); }
  /// Steps the round started has run.
  int64_t steps_done() const { return round_.steps_done(); }
  /// Ends the round started. Returns the header to announce, or nullopt where fedgan-client would
  /// not upload: the round diverged, or it was cut short (a new task or the connection's end came
  /// first); `why` says which.
  std::optional<TrainedTask> finish(std::string& why);
  /// Sends the delta of the last round finished complete into `into` (an admitted upload's buffer),
  /// as an upload would; returns the bytes on the wire.
  uint64_t upload_into(std::vector<protocol::MutableTensorView> into);

  /// Moves the site's model, optimizer state and buffers to its page file and back (SitePager);
  /// start(), advance(), finish() and upload_into() need it paged in.
  void page_out() { pager_.page_out(round_.resident_tensors()); }
  void page_in() { pager_.page_in(); }
  bool paged_out() const { return pager_.paged_out(); }
  /// Bytes of the memory page_out() would free.
  size_t resident_bytes() const { return SitePager::bytes_of(round_.resident_tensors()); }

 private:
  std::string identity_;
  double speed_;
  client::LocalRound round_;
  client::TaskPlan plan_;  // of the round started last
  SitePager pager_;
};

}  // namespace fedgan::simulation
