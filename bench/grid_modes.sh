#!/usr/bin/env bash
# Centralized 2-D grid benchmark (25 modes): the pinned PacGAN-style MLP GAN (G 4x400 ReLU+BN,
# D 3x200 maxout-5, latent 2, non-saturating loss, Adam beta1 0.5, batch 100) trained for a fixed
# number of steps with seeds 1, 2, 3; prints modes captured, % high-quality samples and reverse KL
# per seed and their mean. Seeds run side by side, one LibTorch thread each.
#   usage: bench/grid_modes.sh [steps] [learning rate]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

steps="${1:-20000}"
lr="${2:-2e-4}"
train=build/gan/fedgan-train
[[ -x "$train" ]] || { echo "missing $train: run scripts/build.sh first" >&2; exit 1; }
out=out/bench/grid
mkdir -p "$out"

pids=()
for seed in 1 2 3; do
  "$train" --dataset grid --steps "$steps" --lr-g "$lr" --lr-d "$lr" --seed "$seed" --threads 1 \
    --log-every "$steps" --out "$out/seed$seed" --eval >"$out/seed$seed.log" 2>&1 &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid"; done

python3 - "$out" "$steps" "$lr" <<'PY'
import json, sys
out, steps, lr = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.load(open(f"{out}/seed{s}/summary.json")) for s in (1, 2, 3)]
print(f"grid, {steps} steps, lr {lr}, batch {rows[0]['batch_size']}, loss {rows[0]['loss']}")
print("| seed | modes captured | high-quality % | reverse KL | seconds |")
print("|---|---|---|---|---|")
for s, r in zip((1, 2, 3), rows):
    e = r["eval"]
    print(f"| {s} | {e['modes_captured']}/25 | {100 * e['high_quality_fraction']:.1f} | {e['reverse_kl']:.3f} | {r['seconds']:.0f} |")
mean = lambda k: sum(r["eval"][k] for r in rows) / 3
print(f"| mean | {mean('modes_captured'):.1f}/25 | {100 * mean('high_quality_fraction'):.1f} | {mean('reverse_kl'):.3f} | |")
PY
