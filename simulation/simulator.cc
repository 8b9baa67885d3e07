#include "simulation/simulator.h"

#include "client/data_source.h"
#include "coordinator/evaluation_worker.h"
#include "gan/device.h"
#include "protocol/freed_memory.h"
#include "protocol/tensor_records.h"
#include "storage/records.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>

#include <unistd.h>

namespace fedgan::simulation {

namespace {

using Clock = std::chrono::steady_clock;
using coordinator::SessionId;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// splitmix64: a site's draws are a function of the seed and the site alone, not of the order in
// which anything ran.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double unit_draw(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  const uint64_t bits = mix(mix(mix(mix(seed) ^ a) ^ b) ^ c);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace

// The global model as a round's tasks carried it (fp32 bytes): a site trains from these values even
// when it starts after a later commit changed the engine's model. Rounds change the model only when
// they commit, so the copy is made once per round number.
struct Simulator::GlobalValues {
  explicit GlobalValues(const std::vector<protocol::ConstTensorView>& global) {
    for (const auto& view : global) {
      const auto bytes =
          static_cast<size_t>(protocol::encoded_tensor_bytes(view.spec, wire::CODEC_FP32));
      const auto* first = static_cast<const unsigned char*>(view.data);
      storage.emplace_back(first, first + bytes);
    }
    for (size_t i = 0; i < global.size(); ++i) views.push_back({global[i].spec, storage[i].data()});
  }
  std::vector<std::vector<unsigned char>> storage;
  std::vector<protocol::ConstTensorView> views;
};

struct Simulator::SiteSlot {
  std::unique_ptr<VirtualSite> site;
  uint64_t last_used = 0;  // Simulator::uses_ when the site last trained or uploaded
  SessionId session = 0;   // 0 while disconnected
  uint64_t task_serial = 0;
  wire::Task task;
  // The task in flight: sent at `sent_at`, its `steps` steps follow one another on the clock, one
  // every `step_seconds`, the last one ending at `due_at`. The site runs them lazily (see
  // catch_up), started or not.
  bool in_flight = false;
  bool started = false;
  bool refused = false;                        // by start(), not reported yet
  std::shared_ptr<const GlobalValues> global;  // what the task carried, until started
  double sent_at = 0;
  double step_seconds = 0;
  double due_at = 0;
  int64_t steps = 0;
  std::optional<TrainedTask> trained;  // of the last task finished complete
  std::string why;                     // when a task was not trained to the end
};

Simulator::Simulator(const coordinator::CoordinatorOptions& coordinator,
                     const client::ClientOptions& site, const SimulationOptions& options)
    : coordinator_options_(coordinator), options_(options) {
  validate(options_);
  // The coordinator's TLS files are not read here; validation only asks that they be named.
  auto& tls = coordinator_options_.tls;
  for (auto* file : {&tls.ca_file, &tls.certificate_file, &tls.private_key_file}) {
    if (file->empty()) *file = "unused-by-fedgan-simulate";
  }
  // Nor are there connections to bound: every virtual site is one.
  auto& server = coordinator_options_.server;
  server.max_connections = std::max(server.max_connections, static_cast<size_t>(options_.sites));
  coordinator::validate(coordinator_options_);
  const auto build_started = Clock::now();
  // One LibTorch thread per site: sites train side by side, and each one's arithmetic is the same
  // whatever the number of threads.
  gan::set_torch_threads(1);
  client::DataOptions all = site.data;
  all.partition.clear();
  const client::LoadedData data = client::load_data(all);
  page_dir_ = options_.page_dir;
  if (options_.memory_budget_mib > 0 && page_dir_.empty()) {
    page_dir_ = std::filesystem::temp_directory_path() /
                fmt::format("fedgan-simulate-{}-{}", ::getpid(), options_.seed);
    own_page_dir_ = true;
  }
  if (!page_dir_.empty()) std::filesystem::create_directories(page_dir_);
  for (int64_t i = 0; i < options_.sites; ++i) {
    const auto mine = site_options(site, options_, i);
    client::LoadedData share = data;
    if (!mine.data.partition.empty()) {
      client::keep_partition(share, mine.data.partition, mine.data.clients, mine.data.client_index,
                             mine.data.seed);
    }
    const double speed = 1.0 + (options_.speed_spread - 1.0) * unit_draw(options_.seed, i + 1);
    auto slot = std::make_unique<SiteSlot>();
    const std::string identity = options_.identity_prefix + std::to_string(i + 1);
    slot->site = std::make_unique<VirtualSite>(mine, share, identity, speed,
                                               page_dir_ / (identity + ".page"));
    if (options_.memory_budget_mib > 0 && !slot->site->device().is_cpu()) {
      throw std::invalid_argument(fmt::format(
          "--memory-budget-mib pages the sites' CPU memory, and they train on {}: set it to 0",
          slot->site->device().str()));
    }
    sites_.push_back(std::move(slot));
    keep_within_budget();
  }
  start_ = storage::unix_seconds_now();
  now_ = start_;
  engine_ = std::make_unique<coordinator::RoundEngine>(
      coordinator_options_, coordinator::inline_checkpoint_writer(), now_);
  evaluate_ = coordinator::configured_evaluation(coordinator_options_);
  report_.build_seconds = seconds_since(build_started);
}

Simulator::~Simulator() {
  sites_.clear();  // their page files first
  std::error_code ignored;
  if (own_page_dir_) std::filesystem::remove_all(page_dir_, ignored);
}

SimulationReport Simulator::run() {
  const auto started = Clock::now();
  engine_->begin(fmt::format("simulating {} virtual sites", sites_.size()), now_);
  carry_out();
  for (size_t i = 0; i < sites_.size() && !stopped_; ++i) {
    connect(i);
    carry_out();
  }
  while (!stopped_) {
    const auto engine_started = Clock::now();
    const double paging_before = report_.paging_seconds;
    const double training_before = report_.training_seconds;
    if (events_.empty() && !deadline_) {
      engine_->stop("the simulation has no event left (too few sites connected?)", 1, now_);
    } else if (deadline_ && (events_.empty() || *deadline_ < events_.top().at)) {
      now_ = std::max(now_, *deadline_);
      deadline_.reset();
      engine_->time_advanced(now_);
    } else {
      const Event event = events_.top();
      events_.pop();
      now_ = std::max(now_, event.at);
      handle(event);
    }
    carry_out();
    // Training and paging are the simulation's own costs, not the engine's.
    report_.engine_seconds += seconds_since(engine_started) -
                              (report_.paging_seconds - paging_before) -
                              (report_.training_seconds - training_before);
  }
  report_.virtual_seconds = now_ - start_;
  report_.wall_seconds = seconds_since(started);
  return report_;
}

void Simulator::connect(size_t site) {
  auto& slot = *sites_[site];
  slot.session = ++last_session_;
  site_of_session_[slot.session] = site;
  try {
    engine_->site_connected(slot.session, slot.site->identity(), "virtual", slot.site->hello(),
                            now_);
  } catch (const protocol::ProtocolError& refused) {
    disconnect(site);
    if (!options_.quiet) fmt::print("{} refused: {}\n", slot.site->identity(), refused.what());
  }
}

void Simulator::disconnect(size_t site) {
  cut_short(site);  // the connection's end interrupts a local round, as in fedgan-client
  site_of_session_.erase(sites_[site]->session);
  sites_[site]->session = 0;
}

void Simulator::handle(const Event& event) {
  auto& slot = *sites_[event.site];
  switch (event.kind) {
    case EventKind::kResume:
      return engine_->resume(now_);
    case EventKind::kReconnect:
      return connect(event.site);
    case EventKind::kUpload:
      if (slot.session == 0 || slot.task_serial != event.task) return;
      if (finish_in_flight(event.site)) upload(event.site);
      return;
    case EventKind::kDropout:
      if (slot.session == 0 || slot.task_serial != event.task) return;
      finish_in_flight(event.site);  // trained to the end, then the connection is lost
      engine_->session_closed(
          slot.session, slot.site->identity(),
          protocol::TransportError(protocol::TransportErrorKind::kNetwork, "simulated dropout"), 0,
          now_);
      disconnect(event.site);
      return schedule(now_ + options_.reconnect_seconds, EventKind::kReconnect, event.site, 0);
  }
}

void Simulator::upload(size_t site) {
  auto& slot = *sites_[site];
  const std::string& identity = slot.site->identity();
  coordinator::Admission admission;
  try {
    admission = engine_->update_announced(slot.session, identity, slot.trained->header, now_);
  } catch (const protocol::ProtocolError&) {
    return;  // refused at admission, and recorded by the engine
  }
  page_in(site);
  coordinator::ReceivedUpdate update;
  update.header = slot.trained->header;
  try {
    update.bytes = slot.site->upload_into(admission.delta->destinations());
  } catch (const protocol::ProtocolError& refused) {
    return engine_->transfer_refused(slot.session, identity, admission.attempt, update.header,
                                     refused, 0, now_);
  }
  update.delta = std::move(admission.delta);
  engine_->update_received(slot.session, identity, admission.attempt, std::move(update), now_);
  keep_within_budget();
}

void Simulator::carry_out() {
  for (;;) {
    auto actions = engine_->take_actions();
    if (actions.empty()) {
      // The checkpoint writer wrote on this thread: its round can be committed now.
      engine_->checkpoint_written(now_);
      actions = engine_->take_actions();
      if (actions.empty()) return;
    }
    for (auto& action : actions) {
      if (auto* send = std::get_if<coordinator::SendTask>(&action)) {
        const auto found = site_of_session_.find(send->session);
        if (send->on_model_queued) send->on_model_queued();
        if (found == site_of_session_.end()) continue;
        send_task(found->second, send->task, send->model->manifest());
      } else if (auto* deadline = std::get_if<coordinator::SetDeadline>(&action)) {
        deadline_ = deadline->at;
      } else if (auto* evaluate = std::get_if<coordinator::EvaluateRound>(&action)) {
        const auto started = Clock::now();
        try {
          const auto figures = evaluate_(*evaluate);
          engine_->evaluation_done(*evaluate, figures, now_);
        } catch (const std::exception& error) {
          engine_->evaluation_failed(*evaluate, error.what(), now_);
        }
        report_.evaluation_seconds += seconds_since(started);
        report_.engine_seconds -= seconds_since(started);
      } else if (auto* committed = std::get_if<coordinator::RoundCommitted>(&action)) {
        ++report_.rounds_committed;
        if (on_commit_) on_commit_(committed->round, committed->checkpoint);
      } else if (auto* line = std::get_if<coordinator::ConsoleLine>(&action)) {
        if (!options_.quiet || line->error) {
          fmt::print(line->error ? stderr : stdout, "{}\n", line->text);
        }
      } else if (auto* stop = std::get_if<coordinator::StopServing>(&action)) {
        stopped_ = true;
        report_.exit_code = stop->exit_code;
      } else if (std::holds_alternative<coordinator::ResumeLater>(action)) {
        schedule(now_, EventKind::kResume, 0, 0);
      } else if (auto* close = std::get_if<coordinator::CloseSession>(&action)) {
        if (auto found = site_of_session_.find(close->session); found != site_of_session_.end()) {
          disconnect(found->second);
        }
      }
      // SendWelcome needs nothing; AbandonUpload never applies (an upload arrives at once).
    }
  }
}

void Simulator::send_task(size_t site, const wire::Task& task, const wire::Manifest& model) {
  auto& slot = *sites_[site];
  cut_short(site);  // a new task interrupts the one in flight, as in fedgan-client
  if (!global_ || global_round_ != task.round()) {
    global_ = std::make_shared<const GlobalValues>(engine_->model().views());
    global_round_ = task.round();
  }
  slot.task = task;
  *slot.task.mutable_model() = model;
  slot.task.set_model_follows(true);
  ++slot.task_serial;
  slot.trained.reset();
  slot.in_flight = true;
  slot.started = false;
  slot.global = global_;
  slot.sent_at = now_;
  slot.step_seconds = options_.step_seconds * slot.site->speed();
  slot.steps = std::max<int64_t>(0, static_cast<int64_t>(task.training().local_steps()));
  slot.due_at = now_ + static_cast<double>(slot.steps) * slot.step_seconds;
  const bool dropped = drops(site, task.round(), slot.task_serial);
  schedule(slot.due_at, dropped ? EventKind::kDropout : EventKind::kUpload, site, slot.task_serial);
}

int64_t Simulator::steps_begun_by(const SiteSlot& slot, double time) const {
  if (time >= slot.due_at) return slot.steps;
  if (time <= slot.sent_at || slot.step_seconds <= 0) return time <= slot.sent_at ? 0 : slot.steps;
  // Step j begins at sent_at + j x step_seconds; one that begins as the interruption arrives does
  // not run.
  const double begun = std::ceil((time - slot.sent_at) / slot.step_seconds);
  return std::min(slot.steps, static_cast<int64_t>(begun));
}

// Runs the steps each (site, target) pair asks for: `threads` sites at a time, each with its
// memory paged in, so that only those need to be resident together.
void Simulator::run_steps(const std::vector<std::pair<size_t, int64_t>>& targets) {
  const size_t group = static_cast<size_t>(options_.threads);
  for (size_t first = 0; first < targets.size(); first += group) {
    const size_t end = std::min(targets.size(), first + group);
    for (size_t i = first; i < end; ++i) page_in(targets[i].first);
    const auto started = Clock::now();
    std::atomic<size_t> next{first};
    auto work = [&] {
      for (size_t i = next++; i < end; i = next++) {
        auto& slot = *sites_[targets[i].first];
        if (!slot.started) {
          slot.started = true;
          if (!slot.site->start(slot.task, slot.global->views, slot.why)) {
            slot.in_flight = false;  // refused: fedgan-client says nothing and uploads nothing
            slot.refused = true;
          }
          slot.global.reset();
        }
        if (slot.in_flight) slot.site->advance(targets[i].second - slot.site->steps_done());
      }
    };
    std::vector<std::thread> workers;
    for (size_t t = first + 1; t < end; ++t) workers.emplace_back(work);
    work();
    for (auto& worker : workers) worker.join();
    report_.training_seconds += seconds_since(started);
    for (size_t i = first; i < end; ++i) {
      auto& slot = *sites_[targets[i].first];
      if (slot.refused) report_refusal(slot);
      slot.refused = false;
    }
    keep_within_budget();
  }
}

// Site `site` must have run every step of its task; the sites due next run, beside it, the steps
// that have begun by now. Each site's steps depend only on its own state, so when they run does not
// change what they compute: only how many threads work at once.
void Simulator::catch_up(size_t site) {
  std::vector<std::pair<size_t, int64_t>> targets{{site, sites_[site]->steps}};
  std::vector<std::pair<double, size_t>> others;  // (due at, site)
  for (size_t i = 0; i < sites_.size(); ++i) {
    const auto& slot = *sites_[i];
    if (i == site || !slot.in_flight) continue;
    const int64_t done = slot.started ? slot.site->steps_done() : 0;
    if (steps_begun_by(slot, now_) > done) others.emplace_back(slot.due_at, i);
  }
  const size_t extra = std::min(others.size(), static_cast<size_t>(options_.threads) - 1);
  std::partial_sort(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(extra),
                    others.end());
  for (size_t i = 0; i < extra; ++i) {
    targets.emplace_back(others[i].second, steps_begun_by(*sites_[others[i].second], now_));
  }
  run_steps(targets);
}

bool Simulator::finish_in_flight(size_t site) {
  auto& slot = *sites_[site];
  if (!slot.in_flight) return false;
  catch_up(site);
  if (!slot.in_flight) return false;  // refused when it started
  slot.in_flight = false;
  page_in(site);
  slot.trained = slot.site->finish(slot.why);
  if (!slot.trained) return report_refusal(slot);
  return true;
}

void Simulator::cut_short(size_t site) {
  auto& slot = *sites_[site];
  if (!slot.in_flight) return;
  const int64_t begun = steps_begun_by(slot, now_);
  if (begun == 0 && !slot.started) {
    // Nothing ran: the site is as it was (fedgan-client would have planned the task and stopped
    // before its first step).
    slot.in_flight = false;
    slot.global.reset();
    return;
  }
  run_steps({{site, begun}});
  if (!slot.in_flight) return;  // refused when it started
  slot.in_flight = false;
  page_in(site);
  const int64_t steps = slot.site->steps_done();
  slot.trained = slot.site->finish(slot.why);
  if (steps < slot.steps) {
    ++report_.tasks_cut_short;
    report_.steps_cut_short += steps;
  }
  if (!slot.trained) report_refusal(slot);
  slot.trained.reset();  // complete or not, its upload will not happen
}

bool Simulator::report_refusal(const SiteSlot& slot) {
  if (!options_.quiet) {
    fmt::print("{}: round {}: {}\n", slot.site->identity(), slot.task.round(), slot.why);
  }
  return false;
}

void Simulator::page_in(size_t site) {
  auto& slot = *sites_[site];
  slot.last_used = ++uses_;
  if (!slot.site->paged_out()) return;
  const auto started = Clock::now();
  slot.site->page_in();
  report_.paging_seconds += seconds_since(started);
}

// Pages out the least recently used sites until the resident ones fit the budget. A site whose
// upload is still to come is paged out too: it is paged in again when its upload is due.
void Simulator::keep_within_budget() {
  if (options_.memory_budget_mib <= 0) return;
  const auto started = Clock::now();
  const double budget = options_.memory_budget_mib * 1024.0 * 1024.0;
  std::vector<std::pair<uint64_t, size_t>> resident;  // (last used, site)
  double bytes = 0;
  for (size_t i = 0; i < sites_.size(); ++i) {
    if (sites_[i]->site->paged_out()) continue;
    bytes += static_cast<double>(sites_[i]->site->resident_bytes());
    resident.emplace_back(sites_[i]->last_used, i);
  }
  std::sort(resident.begin(), resident.end());
  bool paged = false;
  for (const auto& [used, site] : resident) {
    if (bytes <= budget) break;
    auto& slot = *sites_[site];
    bytes -= static_cast<double>(slot.site->resident_bytes());
    slot.site->page_out();
    ++report_.page_outs;
    paged = true;
  }
  // The process keeps freed memory for reuse (fedgan-simulate's main): what the sites just gave
  // up must go back to the kernel, or the budget would bound nothing.
  if (paged) protocol::release_freed_memory();
  report_.paging_seconds += seconds_since(started);
}

void Simulator::schedule(double at, EventKind kind, size_t site, uint64_t task) {
  events_.push(Event{at, ++sequence_, kind, site, task});
}

bool Simulator::drops(size_t site, uint64_t round, uint64_t task) const {
  return options_.dropout > 0 &&
         unit_draw(options_.seed ^ 0xd20b, site + 1, round, task) < options_.dropout;
}

}  // namespace fedgan::simulation
