#!/usr/bin/env bash
# End-to-end checks of the fedgan-train binary: a short 2-D run writes its metrics, summary and
# sample image with the documented content, a partitioned run trains on one client's share only,
# and invalid input fails with a message that names the problem.
#   usage: train_cli_test.sh PATH/TO/fedgan-train
set -euo pipefail

train="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A short run on the ring mixture, evaluated.
"$train" --dataset ring --steps 30 --log-every 10 --sample-every 15 --mixture-rows 2000 \
  --threads 1 --seed 3 --out "$work/ring" --eval >"$work/ring.log"
[[ -s "$work/ring/samples_final.png" && -s "$work/ring/samples_000015.png" ]] || fail "sample images missing"
[[ "$(head -c 8 "$work/ring/samples_final.png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] \
  || fail "samples_final.png is not a PNG"
[[ "$(wc -l <"$work/ring/metrics.csv")" -eq 4 ]] || fail "metrics.csv should hold a header and 3 rows"
head -1 "$work/ring/metrics.csv" | grep -q '^step,discriminator_loss,generator_loss' || fail "metrics header"
grep -q '"modes_captured": [0-8],' "$work/ring/summary.json" || fail "summary lacks mode statistics"
grep -q '"num_modes": 8' "$work/ring/summary.json" || fail "ring must have 8 modes"
grep -q 'eval: modes captured' "$work/ring.log" || fail "evaluation not logged"

# The same seed gives the same losses: the run is deterministic.
"$train" --dataset ring --steps 30 --log-every 10 --mixture-rows 2000 --threads 1 --seed 3 \
  --out "$work/ring2" >/dev/null
cmp -s <(cut -d, -f1-4 "$work/ring/metrics.csv") <(cut -d, -f1-4 "$work/ring2/metrics.csv") \
  || fail "same seed, different losses"

# A moving average of the generator: its samples and its evaluation beside the last weights.
"$train" --dataset ring --steps 30 --ema 0.9 --mixture-rows 2000 --threads 1 --seed 3 \
  --out "$work/ema" --eval >"$work/ema.log"
[[ -s "$work/ema/samples_final_ema.png" ]] || fail "averaged generator's samples missing"
grep -q '"ema": 0.9,' "$work/ema/summary.json" || fail "summary lacks the ema decay"
grep -q '"eval_ema": {"samples": 2500, "modes_captured": [0-8],' "$work/ema/summary.json" \
  || fail "summary lacks the averaged generator's evaluation"
[[ "$(grep -c 'eval: modes captured' "$work/ema.log")" -eq 2 ]] || fail "two evaluations expected"

# Training on one client's share of a class-skewed partition.
"$train" --dataset grid --steps 5 --mixture-rows 5000 --partition classes:5 --clients 5 \
  --client-index 2 --threads 1 --out "$work/part" >"$work/part.log"
share="$(sed -n 's/.*client 2 holds \([0-9]*\) rows.*/\1/p' "$work/part.log")"
[[ -n "$share" && "$share" -gt 500 && "$share" -lt 1500 ]] || fail "client 2's share ($share) should be ~1000 of 5000 rows"
grep -q "\"train_rows\": $share," "$work/part/summary.json" || fail "did not train on the share only"

# Invalid input: non-zero exit and a message naming the problem.
expect_error() {
  local pattern="$1"
  shift
  if "$train" "$@" --threads 1 --out "$work/bad" >"$work/bad.log" 2>&1; then
    fail "accepted: $*"
  fi
  grep -q -- "$pattern" "$work/bad.log" || { cat "$work/bad.log" >&2; fail "no '$pattern' for: $*"; }
}
expect_error "unknown partition spec" --dataset grid --steps 1 --partition halves --clients 2
expect_error "client index 3 is outside" --dataset grid --steps 1 --partition iid --clients 2 --client-index 3
expect_error "accumulation_steps (3) must be >= 1 and divide batch_size" --dataset grid --steps 1 --accumulation-steps 3
expect_error "augment applies to image datasets only" --dataset ring --steps 1 --augment
expect_error "not found" --dataset fashion-mnist --steps 1 --data-dir "$work/no-such-dir"
expect_error "dataset" --dataset cifar --steps 1
expect_error "ema must be in \[0, 1)" --dataset ring --steps 1 --ema 1
echo "fedgan-train CLI: all checks passed"
