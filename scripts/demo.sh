#!/usr/bin/env bash
# Builds fedgan and trains the centralized DCGAN on Fashion-MNIST for 600 steps, writing
# sample grids and metrics to out/demo.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh

build_dir="${FEDGAN_BUILD_DIR:-build}"
out_dir=out/demo
# Passive OpenMP waiting: spinning threads collapse throughput when the machine is shared (see
# scripts/test.sh). Export OMP_WAIT_POLICY=ACTIVE to override on a dedicated machine.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
"$build_dir/gan/fedgan-train" --dataset fashion-mnist --steps 600 --seed 1 --out "$out_dir" \
  --threads "$(nproc)" --eval

echo
echo "Demo outputs (sample grids $out_dir/samples_*.png, metrics $out_dir/metrics.csv):"
shopt -s nullglob
for file in "$out_dir"/samples_*.png "$out_dir"/metrics.csv; do
  echo "  $PWD/$file"
done
