#!/usr/bin/env bash
# Federation overhead per round: round wall time minus the slowest site's pure training time,
# with the reference DCGAN on Fashion-MNIST (G and D federated, fp32), 50 local steps of batch 64,
# one torch thread per site, K sites on 127.0.0.1 over mutual TLS, 5 rounds, no evaluation.
# Prints, per K, the median overhead and its split: the coordinator's own phases (from its
# "round N timing" lines) and, for the site whose upload completed the round, its model download,
# computing its delta, and its upload (from the database). Beside each K, the floor under a round's
# transfers measured in the same session (fedgan-bench-tls-floor --sites K: the last site's delta
# up, then the model down to each of the K sites, over loopback TLS and TCP with nothing else done
# to the bytes), so overhead / floor is a ratio of one run.
#   usage: bench/overhead.sh [K...]   (default: 2 4)
# Environment: FEDGAN_BUILD_DIR (build), FEDGAN_FASHION_MNIST_DIR, FEDGAN_OVERHEAD_ROUNDS (5),
# FEDGAN_OVERHEAD_CODEC (fp32, as the comparison with Flower prescribes; or fp16).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

data="${FEDGAN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
rounds="${FEDGAN_OVERHEAD_ROUNDS:-5}"
codec="${FEDGAN_OVERHEAD_CODEC:-fp32}"
counts=("$@")
((${#counts[@]})) || counts=(2 4)

for k in "${counts[@]}"; do
  out="out/bench/overhead-k$k"
  FEDGAN_SITES=$k bench/federation.sh fashion-mnist-noniid "$out" --rounds.max_rounds "$rounds" \
    --training.local_steps 50 --training.batch_size 64 --model.federate both --model.codec "$codec" \
    --evaluation.every_rounds 0 -- --training.threads 1 --training.device cpu \
    --data.images "$data/train-images-idx3-ubyte.gz" \
    --data.labels "$data/train-labels-idx1-ubyte.gz" >/dev/null
  python3 - "$out" "$k" <<'PY'
import json, re, sqlite3, statistics, sys
out, k = sys.argv[1], int(sys.argv[2])
pattern = re.compile(
    r"round (\d+) timing: wall ([\d.]+) s, slowest training ([\d.]+) s, overhead ([-\d.]+) s; "
    r"dispatch ([\d.]+), validation ([\d.]+), aggregation ([\d.]+), checkpoint ([\d.]+), "
    r"database ([\d.]+) s; bytes sent (\d+), received (\d+)")
rows = {}
for line in open(f"{out}/coordinator.log"):
    m = pattern.match(line)
    if m:
        values = list(map(float, m.groups()))
        rows[int(values[0])] = values[1:]
db = sqlite3.connect(f"{out}/fedgan.db")
last = {}
for rnd, metrics, upload in db.execute(
        "select r.round, u.local_metrics, u.upload_seconds from updates u join rounds r "
        "using (round_id) where u.accepted and r.status = 'committed' order by u.received_at"):
    m = json.loads(metrics)
    last[rnd] = (m["download_seconds"], m["delta_seconds"], upload)  # the latest arrival wins
names = ["wall", "slowest training", "overhead", "dispatch", "validation", "aggregation",
         "checkpoint", "database"]
med = lambda i: statistics.median(r[i] for r in rows.values())
medl = lambda i: statistics.median(v[i] for v in last.values())
print(f"K = {k}: {len(rows)} rounds")
print("| " + " | ".join(names) + " | last site: download | delta | upload | sent MB | received MB |")
print("|" + "---|" * (len(names) + 5))
print("| " + " | ".join(f"{med(i):.4f}" for i in range(len(names))) +
      f" | {medl(0):.4f} | {medl(1):.4f} | {medl(2):.4f} | {med(8) / 1e6:.2f} | {med(9) / 1e6:.2f} |")
for rnd in sorted(rows):
    r = rows[rnd]
    print(f"  round {rnd}: wall {r[0]:.3f} s, training {r[1]:.3f} s, overhead {r[2]:.4f} s")
with open(f"{out}/site_bytes", "w") as f:
    f.write(f"{int(med(9) / k)}\n")
PY
  site_bytes=$(cat "$out/site_bytes")
  for transport in tls tcp; do
    echo "  floor: $("${FEDGAN_BUILD_DIR:-build}/bench/fedgan-bench-tls-floor" \
      --transport "$transport" --bytes "$site_bytes" --sites "$k" --repeat 50)"
  done
done
