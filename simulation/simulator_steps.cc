#include "simulation/simulator.h"

#include "protocol/freed_memory.h"
#include "simulation/site_slot.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

namespace fedgan::simulation {

using detail::Clock;
using detail::seconds_since;

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

}  // namespace fedgan::simulation
