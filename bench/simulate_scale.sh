#!/usr/bin/env bash
# fedgan-simulate at scale: virtual-site rounds per second, the round engine's share of the wall
# time beside the sites' training, and the peak resident size, for 10 / 100 / 1,000 sites of the
# 2-D MLP GAN and 10 / 100 sites of the reference DCGAN on Fashion-MNIST (IID shares), then 10 / 100
# MLP sites with 10 local steps a round. Every site trains every round (batch 32); the memory
# budget pages idle sites to disk.
#   usage: bench/simulate_scale.sh [BUILD_DIR] [THREADS]
# Prints one summary line per configuration (see docs/benchmarks.md).
set -euo pipefail
build="${1:-build}"
threads="${2:-$(nproc)}"
simulate="$build/simulation/fedgan-simulate"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=PASSIVE

run() {  # NAME ARCH SITES ROUNDS BUDGET_MIB LOCAL_STEPS SITE_DATA...
  local name="$1" arch="$2" sites="$3" rounds="$4" budget="$5" steps="$6"
  shift 6
  mkdir -p "$work/$name"
  cat >"$work/$name/coordinator.toml" <<TOML
[rounds]
min_clients = $sites
max_rounds = $rounds
deadline_seconds = 3600
[model]
architecture = "$arch"
[training]
local_steps = $steps
batch_size = 32
[storage]
database = "$work/$name/fedgan.db"
checkpoint_dir = "$work/$name/checkpoints"
keep_last = 1
run_id = "$name"
TOML
  printf '%s\n' "[data]" "$@" "[state]" "dir = \"$work/$name/sites\"" >"$work/$name/site.toml"
  local line
  line=$("$simulate" --config "$work/$name/coordinator.toml" --site-config "$work/$name/site.toml" \
    --sites "$sites" --threads "$threads" --memory-budget-mib "$budget" --quiet | tail -n 1)
  echo "$name ($arch, $sites sites, $rounds rounds of $steps steps, budget $budget MiB, $threads threads): $line"
}

mixture=('format = "mixture"' 'mixture = "grid"' 'mixture_rows = 100000')
fmnist=('format = "idx"'
  'images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"'
  'labels = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"')
run mlp-10 mlp 10 3 0 1 "${mixture[@]}"
run mlp-100 mlp 100 3 0 1 "${mixture[@]}"
run mlp-1000 mlp 1000 2 2048 1 "${mixture[@]}"
run dcgan-10 dcgan 10 2 0 1 "${fmnist[@]}"
run dcgan-100 dcgan 100 2 2048 1 "${fmnist[@]}"
# The engine's work is per update, the sites' per step: with more local steps per round its share
# falls in proportion.
run mlp-10-steps-10 mlp 10 3 0 10 "${mixture[@]}"
run mlp-100-steps-10 mlp 100 3 0 10 "${mixture[@]}"
