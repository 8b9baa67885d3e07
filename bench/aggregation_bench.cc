// fedgan-bench-aggregation: throughput and memory of streaming FedAvg. One round = reset, N adds,
// apply to the global model. It is timed beside two plain loops that make the same passes over the
// same buffers (zero an accumulator, N times acc[i] += delta[i], global[i] += scale * acc[i]): one
// with a double accumulator (the same bytes moved as FedAvg) and one with a float accumulator.
// Rounds are interleaved and repeated, medians reported. bench/aggregation.sh prints the table.
//
// Updates cycle through a few distinct delta buffers (--distinct) instead of N separate ones:
// 100 distinct 25M-parameter deltas would take 10 GB; any buffer larger than the caches costs the
// same to stream.

#include "aggregation/error.h"
#include "aggregation/fedavg.h"
#include "bench/proc_status.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace agg = fedgan::aggregation;
using fedgan::bench::proc_status_bytes;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

/// Everything a measurement reads or writes, allocated and touched before the accumulator.
struct Buffers {
  agg::ModelLayout layout;
  std::vector<std::vector<float>> updates;  // `distinct` flat deltas, each in layout order
  std::vector<agg::ConstViews> update_views;
  std::vector<uint64_t> sample_counts;  // one per update of a round
  std::vector<float> global;
  agg::MutableViews global_views;
  std::vector<double> sum_double;  // the plain loops' accumulators
  std::vector<float> sum_float;
};

Buffers make_buffers(size_t params, int tensors, int distinct, int max_updates) {
  Buffers b;
  for (int t = 0; t < tensors; ++t) {
    const size_t size = params / tensors + (t == tensors - 1 ? params % tensors : 0);
    b.layout.tensors.push_back({fmt::format("tensor{}", t), size});
  }
  std::mt19937 gen(1);
  std::uniform_real_distribution<float> value(-1e-3f, 1e-3f);
  auto views_of = [&](float* flat) {
    std::vector<float*> views;
    for (const auto& entry : b.layout.tensors) {
      views.push_back(flat);
      flat += entry.size;
    }
    return views;
  };
  b.updates.assign(distinct, std::vector<float>(params));
  for (auto& update : b.updates) {
    for (float& v : update) v = value(gen);
    b.update_views.push_back(agg::read_only(views_of(update.data())));
  }
  for (int u = 0; u < max_updates; ++u) b.sample_counts.push_back(100 + (u * 37) % 500);
  b.global.resize(params);
  for (float& v : b.global) v = value(gen) * 1000.0f;
  b.global_views = views_of(b.global.data());
  b.sum_double.assign(params, 0.0);
  b.sum_float.assign(params, 0.0f);
  return b;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double fedavg_round(agg::StreamingFedAvg& fedavg, Buffers& b, int updates) {
  const auto start = std::chrono::steady_clock::now();
  fedavg.reset();
  for (int u = 0; u < updates; ++u) {
    fedavg.add(b.update_views[u % b.update_views.size()], b.sample_counts[u]);
  }
  fedavg.apply_to(b.global_views);
  return seconds_since(start);
}

/// The plain loop: the same passes as a FedAvg round, without weights, views or checks.
template <typename Acc>
double plain_round(std::vector<Acc>& sum, Buffers& b, int updates) {
  const auto start = std::chrono::steady_clock::now();
  const size_t n = sum.size();
  Acc* acc = sum.data();
  std::fill(sum.begin(), sum.end(), Acc{0});
  for (int u = 0; u < updates; ++u) {
    const float* delta = b.updates[u % b.updates.size()].data();
    for (size_t i = 0; i < n; ++i) acc[i] += delta[i];
  }
  const Acc scale = Acc{1} / updates;
  float* global = b.global.data();
  for (size_t i = 0; i < n; ++i) global[i] = static_cast<float>(global[i] + scale * acc[i]);
  return seconds_since(start);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t m = values.size() / 2;
  return values.size() % 2 ? values[m] : (values[m - 1] + values[m]) / 2;
}

/// Interleaved, repeated rounds for each number of updates; prints one `result` line per count.
void time_rounds(agg::StreamingFedAvg& fedavg, Buffers& b, size_t params,
                 const std::vector<int>& update_counts, int repeats) {
  for (int updates : update_counts) {
    std::vector<double> fedavg_s, double_s, float_s, ratio_double, ratio_float;
    for (int r = 0; r < repeats; ++r) {
      double times[3];
      for (int k = 0; k < 3; ++k) {  // rotate which variant runs first
        const int variant = (k + r) % 3;
        if (variant == 0) times[0] = fedavg_round(fedavg, b, updates);
        if (variant == 1) times[1] = plain_round(b.sum_double, b, updates);
        if (variant == 2) times[2] = plain_round(b.sum_float, b, updates);
      }
      fedavg_s.push_back(times[0]);
      double_s.push_back(times[1]);
      float_s.push_back(times[2]);
      ratio_double.push_back(times[0] / times[1]);
      ratio_float.push_back(times[0] / times[2]);
    }
    // FedAvg bytes per round: reset (8/param), each add (4 read + 8 read + 8 write), apply (16).
    const double bytes = static_cast<double>(params) * (8 + 20.0 * updates + 16);
    std::cout << fmt::format(
        "result params={} updates={} fedavg_ms={:.2f} sum_double_ms={:.2f} sum_float_ms={:.2f} "
        "ratio_double={:.3f} ratio_float={:.3f} fedavg_gb_per_s={:.2f}\n",
        params, updates, median(fedavg_s) * 1e3, median(double_s) * 1e3, median(float_s) * 1e3,
        median(ratio_double), median(ratio_float), bytes / median(fedavg_s) / 1e9);
  }
}

void run_model(size_t params, const std::vector<int>& update_counts, int repeats, int tensors,
               int distinct) {
  const int max_updates = *std::max_element(update_counts.begin(), update_counts.end());
  const double rss_start = proc_status_bytes("VmRSS");
  Buffers b = make_buffers(params, tensors, distinct, max_updates);
  const double rss_buffers = proc_status_bytes("VmRSS");
  agg::StreamingFedAvg fedavg(b.layout, agg::FedAvgOptions{});
  const double rss_accumulator = proc_status_bytes("VmRSS");
  // Untimed warm-up rounds, the RSS read after each: it must not grow with the number of updates.
  std::vector<std::string> rss_after;
  for (int updates : update_counts) {
    fedavg_round(fedavg, b, updates);
    plain_round(b.sum_double, b, updates);
    plain_round(b.sum_float, b, updates);
    rss_after.push_back(
        fmt::format("rss_after_{}_updates_mib={:.1f}", updates, proc_status_bytes("VmRSS") / kMiB));
  }
  time_rounds(fedavg, b, params, update_counts, repeats);
  std::cout << fmt::format(
      "memory params={} model_mib={:.1f} bench_buffers_mib={:.1f} accumulator_rss_mib={:.1f} "
      "rss_with_accumulator_mib={:.1f} {} peak_rss_mib={:.1f}\n",
      params, params * 4.0 / kMiB, (rss_buffers - rss_start) / kMiB,
      (rss_accumulator - rss_buffers) / kMiB, rss_accumulator / kMiB, fmt::join(rss_after, " "),
      proc_status_bytes("VmHWM") / kMiB);
  double checksum = 0;  // keeps every round's result observable
  for (size_t i = 0; i < params; i += 4099) checksum += b.global[i];
  std::cout << fmt::format("checksum params={} value={:.6g}\n", params, checksum);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Streaming FedAvg throughput against plain summation loops, and its memory"};
  std::vector<size_t> params = {1'000'000, 25'000'000};
  std::vector<int> update_counts = {10, 100};
  int repeats = 5;
  int tensors = 8;
  int distinct = 4;
  app.add_option("--params", params, "Model sizes in parameters (run smallest first)")
      ->delimiter(',');
  app.add_option("--updates", update_counts, "Updates per round")->delimiter(',');
  app.add_option("--repeats", repeats, "Timed rounds per variant")->check(CLI::PositiveNumber);
  app.add_option("--tensors", tensors, "Tensors the model is split into")
      ->check(CLI::PositiveNumber);
  app.add_option("--distinct", distinct, "Distinct delta buffers the updates cycle through")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    agg::check(
        !update_counts.empty() && *std::min_element(update_counts.begin(), update_counts.end()) > 0,
        "--updates must list positive counts");
    std::cout << fmt::format(
        "config repeats={} tensors={} distinct_update_buffers={} (updates cycle through them)\n",
        repeats, tensors, distinct);
    std::sort(params.begin(), params.end());
    for (size_t p : params) {
      agg::check(p >= static_cast<size_t>(tensors), "--params {} is below --tensors", p);
      run_model(p, update_counts, repeats, tensors, distinct);
    }
  } catch (const std::exception& e) {
    std::cerr << "fedgan-bench-aggregation: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
