#!/usr/bin/env bash
# Centralized Fashion-MNIST benchmark: the reference DCGAN (966,978 parameters, BCE with logits,
# Adam 2e-4 (0.5, 0.999), batch 64) trained for a fixed number of steps; prints classifier-FID
# (10k real test images vs 10k generated), class coverage and training samples/s.
#   usage: bench/fmnist_dcgan.sh [steps] [threads]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

steps="${1:-3000}"
threads="${2:-2}"
train=build/gan/fedgan-train
[[ -x "$train" ]] || { echo "missing $train: run scripts/build.sh first" >&2; exit 1; }
out=out/bench/fmnist
"$train" --dataset fashion-mnist --steps "$steps" --threads "$threads" --seed 1 \
  --log-every 500 --out "$out" --eval
echo "summary: $(cat "$out/summary.json")"
