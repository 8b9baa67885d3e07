#!/usr/bin/env bash
# Builds fedgan and trains the centralized reference DCGAN on Fashion-MNIST for 1500 steps (about
# two minutes on two cores), writing sample grids and metrics to out/demo, then evaluates it
# (classifier-FID and class coverage). The federated demo replaces this once the coordinator and
# client exist.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh

build_dir="${FEDGAN_BUILD_DIR:-build}"
out_dir=out/demo
# Passive OpenMP waiting: spinning threads collapse throughput when the machine is shared (see
# scripts/test.sh). Export OMP_WAIT_POLICY=ACTIVE to override on a dedicated machine.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
"$build_dir/gan/fedgan-train" --dataset fashion-mnist --steps 1500 --seed 1 --out "$out_dir" \
  --threads "$(nproc)" --log-every 100 --sample-every 500 --eval

echo
echo "Demo outputs (sample grids, per-step metrics, final summary):"
shopt -s nullglob
for file in "$out_dir"/samples_*.png "$out_dir"/metrics.csv "$out_dir"/summary.json; do
  echo "  $PWD/$file"
done
