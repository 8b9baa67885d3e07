// fedgan-bench-robust-rules: what a robust rule costs beside streaming FedAvg, and what keeping a
// round's updates costs in memory.
//
// Throughput (default): one round = N adds of distinct random deltas, then the aggregate, for
// FedAvg and each robust rule, interleaved and repeated; medians and the ratio to FedAvg's round in
// the same run. Krum and Bulyan are sized for f = 1 with 10 updates and f = 10 with 100.
//
// Memory (--memory): one round of N updates of P parameters under a robust rule with a budget of
// B MiB in memory, the rest spilled to --spill-dir; each delta is generated into one reused buffer,
// as the coordinator's upload buffer is, so the process holds what the store keeps. Prints the
// peak resident set (VmHWM) beside the model's size and the budget.

#include "aggregation/error.h"
#include "aggregation/fedavg.h"
#include "aggregation/robust_aggregator.h"
#include "bench/proc_status.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace agg = fedgan::aggregation;
using fedgan::bench::proc_status_bytes;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
using Clock = std::chrono::steady_clock;

agg::ModelLayout layout_of(size_t params) {
  // Ten tensors, as a model's weights and biases come in several.
  agg::ModelLayout layout;
  for (int t = 0; t < 10; ++t) {
    layout.tensors.push_back(
        {fmt::format("tensor{}", t), params / 10 + (t == 9 ? params % 10 : 0)});
  }
  return layout;
}

agg::ConstViews views_of(const agg::ModelLayout& layout, const float* flat) {
  agg::ConstViews views;
  for (const auto& entry : layout.tensors) {
    views.push_back(flat);
    flat += entry.size;
  }
  return views;
}

void fill(std::vector<float>& delta, uint64_t seed) {
  std::mt19937 gen(static_cast<uint32_t>(seed));
  std::normal_distribution<float> value(0.0f, 1e-3f);
  for (float& v : delta) v = value(gen);
}

struct Rule {
  std::string name;
  std::optional<agg::RobustRuleOptions> options;  // nullopt: streaming FedAvg
};

std::vector<Rule> rules_for(size_t updates) {
  const size_t f = updates >= 100 ? 10 : 1;
  auto robust = [&](agg::RuleKind kind) {
    agg::RobustRuleOptions o;
    o.kind = kind;
    o.byzantine = f;
    o.trim_beta = 0.1;
    o.clip_radius = 1e-2;
    return o;
  };
  agg::RobustRuleOptions bucketed = robust(agg::RuleKind::kCenteredClipping);
  bucketed.bucket_size = 2;
  return {{"fedavg", std::nullopt},
          {"median", robust(agg::RuleKind::kMedian)},
          {"trimmed_mean", robust(agg::RuleKind::kTrimmedMean)},
          {fmt::format("multi_krum f={}", f), robust(agg::RuleKind::kMultiKrum)},
          {fmt::format("bulyan f={}", f), robust(agg::RuleKind::kBulyan)},
          {"geometric_median", robust(agg::RuleKind::kGeometricMedian)},
          {"centered_clipping", robust(agg::RuleKind::kCenteredClipping)},
          {"centered_clipping, buckets of 2", bucketed}};
}

// One round: the adds and the aggregate, in seconds.
double time_round(const Rule& rule, const agg::ModelLayout& layout,
                  const std::vector<std::vector<float>>& deltas, std::vector<float>& out) {
  agg::MutableViews out_views;
  float* at = out.data();
  for (const auto& entry : layout.tensors) {
    out_views.push_back(at);
    at += entry.size;
  }
  const auto start = Clock::now();
  if (!rule.options) {
    agg::StreamingFedAvg fedavg(layout, agg::FedAvgOptions{});
    for (const auto& delta : deltas) fedavg.add(views_of(layout, delta.data()), 100);
    fedavg.aggregate_into(out_views);
  } else {
    auto robust = agg::make_robust_rule(*rule.options);
    agg::RobustAggregator round(layout, std::vector<bool>(layout.num_tensors(), true), *robust,
                                agg::UpdateStoreOptions{}, 1, 1.0);
    for (const auto& delta : deltas) round.add(views_of(layout, delta.data()), 100);
    round.aggregate_into(out_views);
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void throughput(size_t params, const std::vector<size_t>& update_counts, int repeats) {
  const agg::ModelLayout layout = layout_of(params);
  std::vector<float> out(params);
  for (const size_t updates : update_counts) {
    std::vector<std::vector<float>> deltas(updates, std::vector<float>(params));
    for (size_t i = 0; i < updates; ++i) fill(deltas[i], i + 1);
    const auto rules = rules_for(updates);
    std::map<std::string, std::vector<double>> seconds;
    for (int r = 0; r < repeats; ++r) {
      for (const auto& rule : rules)
        seconds[rule.name].push_back(time_round(rule, layout, deltas, out));
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double fedavg = median(seconds["fedavg"]);
    for (const auto& rule : rules) {
      const double s = median(seconds[rule.name]);
      fmt::print("round params={} updates={} rule=\"{}\" ms={:.1f} ratio_to_fedavg={:.1f}\n",
                 params, updates, rule.name, s * 1e3, s / fedavg);
    }
  }
}

void memory(size_t params, size_t updates, uint64_t budget_mb, const std::string& spill_dir,
            const std::string& rule_name) {
  const agg::ModelLayout layout = layout_of(params);
  agg::RobustRuleOptions options;
  options.kind = rule_name == "geometric_median" ? agg::RuleKind::kGeometricMedian
                 : rule_name == "multi_krum"     ? agg::RuleKind::kMultiKrum
                                                 : agg::RuleKind::kMedian;
  options.byzantine = 10;
  auto rule = agg::make_robust_rule(options);
  agg::UpdateStoreOptions store;
  store.memory_budget_bytes = budget_mb << 20;
  store.spill_directory = spill_dir;
  const double before = proc_status_bytes("VmHWM");
  const auto start = Clock::now();
  std::vector<float> delta(params), out(params);
  {
    agg::RobustAggregator round(layout, std::vector<bool>(layout.num_tensors(), true), *rule, store,
                                1, 1.0);
    for (size_t i = 0; i < updates; ++i) {
      fill(delta, i + 1);
      round.add(views_of(layout, delta.data()), 100);
    }
    const double added = std::chrono::duration<double>(Clock::now() - start).count();
    agg::MutableViews out_views;
    float* at = out.data();
    for (const auto& entry : layout.tensors) {
      out_views.push_back(at);
      at += entry.size;
    }
    round.aggregate_into(out_views);
    const double total = std::chrono::duration<double>(Clock::now() - start).count();
    const double model_mib = static_cast<double>(params) * sizeof(float) / kMiB;
    const double peak = proc_status_bytes("VmHWM");
    fmt::print(
        "memory params={} updates={} rule={} budget_mib={} in_memory={} spilled={} "
        "model_mib={:.1f} peak_rss_mib={:.0f} rss_before_mib={:.0f} "
        "peak_over_budget_in_models={:.2f} add_s={:.1f} aggregate_s={:.1f}\n",
        params, updates, rule_name, budget_mb, round.kept_updates().rows_in_memory(),
        round.kept_updates().rows_spilled(), model_mib, peak / kMiB, before / kMiB,
        (peak / kMiB - static_cast<double>(budget_mb)) / model_mib, added, total - added);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Robust rules against streaming FedAvg, and the memory of a round's kept updates"};
  size_t params = 1'000'000;
  std::vector<size_t> update_counts = {10, 100};
  int repeats = 3;
  bool memory_mode = false;
  size_t memory_updates = 100;
  uint64_t budget_mb = 1024;
  std::string spill_dir = "/tmp";
  std::string rule = "median";
  app.add_option("--params", params, "Parameters of the model");
  app.add_option("--updates", update_counts, "Updates per round")->delimiter(',');
  app.add_option("--repeats", repeats, "Timed rounds per rule")->check(CLI::PositiveNumber);
  app.add_flag("--memory", memory_mode, "Measure one round's memory instead");
  app.add_option("--memory-updates", memory_updates, "--memory: updates in the round");
  app.add_option("--budget-mb", budget_mb, "--memory: MiB of updates kept in memory");
  app.add_option("--spill-dir", spill_dir, "--memory: where the spill file goes");
  app.add_option("--rule", rule, "--memory: median, multi_krum or geometric_median");
  CLI11_PARSE(app, argc, argv);
  try {
    if (memory_mode) {
      memory(params, memory_updates, budget_mb, spill_dir, rule);
    } else {
      throughput(params, update_counts, repeats);
    }
  } catch (const agg::AggregationError& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  }
  return 0;
}
