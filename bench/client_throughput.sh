#!/usr/bin/env bash
# Local training throughput of a site, per device: the reference DCGAN (batch 64) in
# fedgan-bench-step, and the samples/s that real fedgan-client processes report to the coordinator
# (read from the database) in a federation of 2 sites on Fashion-MNIST, 4 rounds of 50 local steps.
#   usage: bench/client_throughput.sh [DEVICE...]   (default: cpu, and cuda when the build has it)
# Environment: FEDGAN_BUILD_DIR (default build), FEDGAN_FASHION_MNIST_DIR, FEDGAN_CPU_THREADS
# (torch threads per CPU site, default 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build="${FEDGAN_BUILD_DIR:-build}"
data="${FEDGAN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cpu_threads="${FEDGAN_CPU_THREADS:-1}"
devices=("$@")
if ((${#devices[@]} == 0)); then
  devices=(cpu)
  "$build/bench/fedgan-bench-step" --device cuda --steps 1 --warmup 0 >/dev/null 2>&1 && devices+=(cuda)
fi

for device in "${devices[@]}"; do
  threads=$cpu_threads
  [[ "$device" == cuda* ]] && threads=1
  step=$("$build/bench/fedgan-bench-step" --device "$device" --threads "$threads" --steps 50 \
    --warmup 10 | sed -n 's/^step_seconds=//p')
  out="out/bench/throughput-$device"
  FEDGAN_SITES=2 bench/federation.sh fashion-mnist-noniid "$out" --rounds.max_rounds 4 \
    --training.local_steps 50 --evaluation.every_rounds 0 -- --training.device "$device" \
    --training.threads "$threads" --data.images "$data/train-images-idx3-ubyte.gz" \
    --data.labels "$data/train-labels-idx1-ubyte.gz" >/dev/null
  # The first round includes the model's first upload and LibTorch's warm-up; rounds 2.. are kept.
  python3 - "$out/fedgan.db" "$device" "$threads" "$step" <<'PY'
import sqlite3, sys
db, device, threads, step = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rate, n = sqlite3.connect(db).execute(
    "select avg(u.samples_per_second), count(*) from updates u join rounds r using (round_id) "
    "where u.accepted and r.round > 1").fetchone()
print(f"device {device} ({threads} torch thread(s)): fedgan-bench-step {step:.5f} s/step "
      f"({64 / step:.0f} samples/s); sites in a federation: {rate:.0f} samples/s "
      f"(mean of {n} updates, rounds 2-4)")
PY
done
