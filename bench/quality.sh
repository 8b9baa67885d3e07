#!/usr/bin/env bash
# Federated against centralized training on the same number of sample visits. The federation is
# the example of the dataset (4 sites; Fashion-MNIST: Dirichlet(0.3) shares, reference DCGAN,
# batch 64; grid: 7 of the 25 modes per site, PacGAN MLP, batch 100); the centralized run is
# fedgan-train on the union of the sites' data for ROUNDS x LOCAL_STEPS x 4 steps of the same
# batch. Both are evaluated the same way (Fashion-MNIST: classifier-FID of 10,000 generated
# images against the 10,000 test images, and class coverage; grid: modes captured and
# high-quality share of 2,500 samples). Prints a markdown table.
#   usage: bench/quality.sh fashion-mnist|grid ROUNDS [LOCAL_STEPS] [SEED...]
# Environment: FEDGAN_BUILD_DIR (build), FEDGAN_DEVICE (auto), FEDGAN_THREADS (torch threads
# per process, 1), FEDGAN_FASHION_MNIST_DIR, FEDGAN_CACHE_DIR (evaluation classifier cache,
# BUILD/cache), FEDGAN_QUALITY_OUT (output directory, out/bench/quality-DATASET),
# FEDGAN_COORDINATOR_FLAGS (more coordinator flags, e.g. "--aggregation.server_lr 2"). With
# "--training.networks alternate" among them only the discriminator rounds (every other one) read
# training data, so the centralized run gets half the steps.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

(($# >= 2)) || { echo "usage: $0 fashion-mnist|grid ROUNDS [LOCAL_STEPS] [SEED...]" >&2; exit 2; }
dataset="$1"
rounds="$2"
build="${FEDGAN_BUILD_DIR:-build}"
device="${FEDGAN_DEVICE:-auto}"
threads="${FEDGAN_THREADS:-1}"
data="${FEDGAN_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cache="$(mkdir -p "${FEDGAN_CACHE_DIR:-$build/cache}" && cd "${FEDGAN_CACHE_DIR:-$build/cache}" && pwd)"
sites=4
case "$dataset" in
  fashion-mnist)
    example=fashion-mnist-noniid
    local_steps="${3:-50}"
    eval_flags=(--evaluation.samples 10000 --evaluation.data_dir "$data"
      --evaluation.cache_dir "$cache" --evaluation.threads "$threads")
    data_flags=(--data.images "$data/train-images-idx3-ubyte.gz"
      --data.labels "$data/train-labels-idx1-ubyte.gz")
    train_flags=(--data-dir "$data" --cache-dir "$cache" --eval-samples 10000)
    ;;
  grid)
    example=gaussian-grid
    local_steps="${3:-100}"
    eval_flags=(--evaluation.samples 2500)
    data_flags=(--data.mixture_rows 20000)
    train_flags=(--mixture-rows 20000 --eval-samples 2500)
    ;;
  *) echo "unknown dataset $dataset: fashion-mnist or grid" >&2; exit 2 ;;
esac
shift $(($# >= 3 ? 3 : 2))
seeds=("$@")
((${#seeds[@]})) || seeds=(1)
data_rounds=$rounds
[[ " ${FEDGAN_COORDINATOR_FLAGS:-} " == *" --training.networks alternate "* ]] &&
  data_rounds=$((rounds / 2))
steps=$((data_rounds * local_steps * sites))
out_root="${FEDGAN_QUALITY_OUT:-out/bench/quality-$dataset}"
mkdir -p "$out_root"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

for seed in "${seeds[@]}"; do
  started=$(date +%s)
  # Evaluated five times along the way, and after the last round.
  every=$(((rounds + 4) / 5))
  FEDGAN_SITES=$sites bench/federation.sh "$example" "$out_root/federated-$seed" \
    --rounds.max_rounds "$rounds" --rounds.seed "$seed" --model.init_seed "$seed" \
    --training.local_steps "$local_steps" --evaluation.every_rounds "$every" "${eval_flags[@]}" \
    ${FEDGAN_COORDINATOR_FLAGS:-} -- --training.device "$device" --training.threads "$threads" --training.seed "$seed" \
    "${data_flags[@]}" >/dev/null &
  federated=$!
  "$build/gan/fedgan-train" --dataset "$dataset" --steps "$steps" --seed "$seed" \
    --device "$device" --threads "$threads" --log-every "$((steps / 5))" \
    --out "$out_root/centralized-$seed" --eval "${train_flags[@]}" \
    >"$out_root/centralized-$seed.log" 2>&1 &
  centralized=$!
  wait "$federated"
  wait "$centralized" || { tail "$out_root/centralized-$seed.log" >&2; exit 1; }
  echo "seed $seed: $(($(date +%s) - started)) s" >&2
done

python3 - "$dataset" "$out_root" "$rounds" "$local_steps" "$sites" "$data_rounds" "${seeds[@]}" <<'PY'
import json, sqlite3, sys
dataset, root = sys.argv[1], sys.argv[2]
rounds, local_steps, sites, data_rounds = map(int, sys.argv[3:7])
seeds = sys.argv[7:]
batch = 64 if dataset == "fashion-mnist" else 100
steps = data_rounds * local_steps * sites
print(f"{dataset}: {sites} sites x {data_rounds} rounds reading data x {local_steps} local steps "
      f"= {steps} steps of batch {batch} ({steps * batch:,} sample visits) in both runs")
image = dataset == "fashion-mnist"
if image:
    print("| seed | run | classifier-FID | classes >= 1% | class KL to uniform |")
else:
    print("| seed | run | modes captured | high-quality % |")
print("|---|---|---|---|" + ("---|" if image else ""))
for seed in seeds:
    db = sqlite3.connect(f"{root}/federated-{seed}/fedgan.db")
    curve = db.execute(
        "select round, eval_fid, eval_classes_covered, eval_kl_uniform, eval_modes_captured, "
        "eval_high_quality from rounds where status = 'committed' and "
        "(eval_fid is not null or eval_modes_captured is not null) order by round").fetchall()
    last = curve[-1]
    assert last[0] == rounds, f"the federation of seed {seed} ended at round {last[0]}"
    central = json.load(open(f"{root}/centralized-{seed}/summary.json"))["eval"]
    if image:
        print(f"| {seed} | federated | {last[1]:.1f} | {last[2]}/10 | {last[3]:.3f} |")
        print(f"| {seed} | centralized | {central['fid']:.1f} | {central['classes_covered']}/10 | "
              f"{central['class_kl_to_uniform']:.3f} |")
        print(f"| {seed} | ratio | {last[1] / central['fid']:.2f} | | |")
        print("  federated FID along the way: " +
              ", ".join(f"round {r}: {f:.1f}" for r, f, *_ in curve))
    else:
        print(f"| {seed} | federated | {last[4]}/25 | {100 * last[5]:.1f} |")
        print(f"| {seed} | centralized | {central['modes_captured']}/25 | "
              f"{100 * central['high_quality_fraction']:.1f} |")
        print("  federated modes along the way: " +
              ", ".join(f"round {r}: {m}/25 ({100 * h:.0f}% HQ)" for r, *_, m, h in curve))
PY
