#include "simulation/simulator.h"

#include "client/attack.h"
#include "client/data_source.h"
#include "coordinator/evaluation_worker.h"
#include "gan/device.h"
#include "simulation/site_slot.h"
#include "storage/records.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include <unistd.h>

namespace fedgan::simulation {

using detail::Clock;
using detail::seconds_since;

namespace {

using coordinator::SessionId;

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

Simulator::Simulator(const coordinator::CoordinatorOptions& coordinator,
                     const client::ClientOptions& site, const SimulationOptions& options)
    : coordinator_options_(coordinator), options_(options) {
  validate(options_);
  validate_attack(options_, site);
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
  if (options_.attackers > 0) {
    fmt::print(
        "WARNING: {}1 to {}{} ATTACK the federation: each {} ([attack] of the site "
        "configuration, --attackers {})\n",
        options_.identity_prefix, options_.identity_prefix, options_.attackers,
        client::describe(site.attack), options_.attackers);
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

void Simulator::schedule(double at, EventKind kind, size_t site, uint64_t task) {
  events_.push(Event{at, ++sequence_, kind, site, task});
}

bool Simulator::drops(size_t site, uint64_t round, uint64_t task) const {
  return options_.dropout > 0 &&
         unit_draw(options_.seed ^ 0xd20b, site + 1, round, task) < options_.dropout;
}

}  // namespace fedgan::simulation
