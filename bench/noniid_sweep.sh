#!/usr/bin/env bash
# Federated against centralized quality across non-IID strength, with fedgan-simulate: Fashion-MNIST
# over 10 virtual sites with Dirichlet(alpha) class shares (and IID shares), the reference DCGAN,
# batch 64, for two federation policies on the same sample visits as a centralized anchor:
#   alternating: one SGD step per site and round (lr 0.01), discriminator rounds and generator
#                rounds in turn, server Adam (lr 0.0008, betas 0.5/0.999): the demo's policy;
#   fedavg:      FedAvg by sample count of LOCAL_STEPS local Adam steps (lr 2e-4, betas 0.5/0.999).
# The anchor is fedgan-train on all 60,000 images for VISITS / 64 steps of batch 64 (lr 2e-4); a
# second one has the alternating federation's shape: VISITS / 640 steps of batch 640 at lr 8e-4
# (one alternating pair of rounds is one such step with server Adam). Every run is evaluated the
# same way: classifier-FID of 10,000 generated images against the 10,000 test images, classes
# holding at least 1% of the samples, class KL to uniform.
#   usage: bench/noniid_sweep.sh VISITS LOCAL_STEPS SEEDS PARTITIONS POLICIES
#   e.g.   bench/noniid_sweep.sh 128000 20 "1 2" "dirichlet:0.1 dirichlet:0.3 dirichlet:1 dirichlet:10 iid" "alternating fedavg"
# VISITS must be a multiple of 64 x 10 x LOCAL_STEPS. A cell whose result already exists is not
# rerun. Prints one line per run and, at the end, a markdown table.
# Environment: FEDGAN_BUILD_DIR (build), FEDGAN_THREADS (sites trained at once, 2),
# FEDGAN_SWEEP_OUT (out/bench/noniid-sweep), FEDGAN_CACHE_DIR (classifier cache, BUILD/cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
(($# == 5)) || { sed -n 2,17p "$0" >&2; exit 2; }
visits="$1" local_steps="$2"
read -r -a seeds <<<"$3"
read -r -a partitions <<<"$4"
read -r -a policies <<<"$5"
build="${FEDGAN_BUILD_DIR:-build}"
threads="${FEDGAN_THREADS:-2}"
out="${FEDGAN_SWEEP_OUT:-out/bench/noniid-sweep}"
cache="$(mkdir -p "${FEDGAN_CACHE_DIR:-$build/cache}" && cd "${FEDGAN_CACHE_DIR:-$build/cache}" && pwd)"
data=/usr/share/datasets/fashion-mnist
sites=10 batch=64
(( visits % (batch * sites * local_steps) == 0 )) ||
  { echo "VISITS must be a multiple of $((batch * sites * local_steps))" >&2; exit 2; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export OMP_WAIT_POLICY=PASSIVE

anchor() {  # SEED
  local seed="$1" dir="$out/centralized-$1"
  [[ -f "$dir/summary.json" ]] && return
  local started=$SECONDS
  "$build/gan/fedgan-train" --dataset fashion-mnist --data-dir "$data" --steps $((visits / batch)) \
    --batch-size "$batch" --seed "$seed" --device cpu --threads "$threads" \
    --log-every $((visits / batch / 4)) --out "$dir" --eval --eval-samples 10000 \
    --cache-dir "$cache" >"$out/centralized-$seed.log" 2>&1
  echo "centralized seed $seed: $((SECONDS - started)) s"
}

anchor_of_shape() {  # SEED: batch 64 x sites, the alternating federation's server Adam
  local seed="$1" dir="$out/centralized-b640-$1"
  [[ -f "$dir/summary.json" ]] && return
  local started=$SECONDS
  "$build/gan/fedgan-train" --dataset fashion-mnist --data-dir "$data" \
    --steps $((visits / (batch * sites))) --batch-size $((batch * sites)) --lr-g 0.0008 \
    --lr-d 0.0008 --beta1 0.5 --beta2 0.999 --seed "$seed" --device cpu --threads "$threads" \
    --log-every 50 --out "$dir" --eval --eval-samples 10000 --cache-dir "$cache" \
    >"$out/centralized-b640-$seed.log" 2>&1
  echo "centralized (batch 640) seed $seed: $((SECONDS - started)) s"
}

evaluation_every() {  # ROUNDS: about four evaluations, the last one after the last round
  local every=$(($1 / 4))
  ((every > 0)) || every=1
  while (($1 % every)); do every=$((every - 1)); done
  echo "$every"
}

cell() {  # POLICY PARTITION SEED
  local policy="$1" partition="$2" seed="$3"
  local dir="$out/$policy-${partition/:/-}-$seed"
  [[ -f "$dir/done" ]] && return
  rm -rf "$dir" && mkdir -p "$dir"
  local rounds training aggregation
  case "$policy" in
    alternating)
      rounds=$((2 * visits / (batch * sites)))
      training='local_steps = 1
optimizer = "sgd"
networks = "alternate"
lr_generator = 0.01
lr_discriminator = 0.01'
      aggregation='server_optimizer = "adam"
server_lr = 0.0008
server_beta1 = 0.5
server_beta2 = 0.999' ;;
    fedavg)
      rounds=$((visits / (batch * sites * local_steps)))
      training="local_steps = $local_steps
lr_generator = 0.0002
lr_discriminator = 0.0002
beta1 = 0.5
beta2 = 0.999"
      aggregation='server_lr = 1.0' ;;
    *) echo "unknown policy $policy" >&2; exit 2 ;;
  esac
  cat >"$dir/coordinator.toml" <<TOML
[rounds]
min_clients = $sites
quorum = 0
deadline_seconds = 3600
max_rounds = $rounds
seed = $seed
[model]
architecture = "dcgan"
federate = "both"
init_seed = $seed
[training]
batch_size = $batch
loss = "ns"
$training
[aggregation]
weighting = "samples"
$aggregation
[storage]
database = "$dir/fedgan.db"
checkpoint_dir = "$dir/checkpoints"
run_id = "$policy-${partition/:/-}-$seed"
keep_last = 1
[evaluation]
every_rounds = $(evaluation_every "$rounds")
dataset = "fashion-mnist"
data_dir = "$data"
cache_dir = "$cache"
samples = 10000
threads = $threads
TOML
  cat >"$dir/site.toml" <<TOML
[data]
format = "idx"
images = "$data/train-images-idx3-ubyte.gz"
labels = "$data/train-labels-idx1-ubyte.gz"
seed = $seed
[model]
architecture = "dcgan"
[training]
seed = $seed
[state]
dir = "$dir/sites"
TOML
  local started=$SECONDS
  "$build/simulation/fedgan-simulate" --config "$dir/coordinator.toml" --site-config "$dir/site.toml" \
    --sites "$sites" --partition "$partition" --threads "$threads" --seed "$seed" --quiet \
    >"$dir/simulate.log" 2>&1
  rm -rf "$dir/sites"
  echo "$policy $partition seed $seed: $rounds rounds, $((SECONDS - started)) s: $(tail -n 1 "$dir/simulate.log")"
  touch "$dir/done"
}

for seed in "${seeds[@]}"; do
  anchor "$seed"
  anchor_of_shape "$seed"
  for partition in "${partitions[@]}"; do
    for policy in "${policies[@]}"; do cell "$policy" "$partition" "$seed"; done
  done
done

python3 - "$out" "$visits" "$local_steps" "$3" "$4" "$5" <<'PY'
import json, os, sqlite3, statistics, sys
out, visits, local_steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seeds, partitions, policies = (a.split() for a in sys.argv[4:7])
print(f"10 sites, {visits:,} sample visits per run, seeds {', '.join(seeds)}; "
      f"FedAvg with {local_steps} local steps.\n")
def load(path):
    return json.load(open(path))["eval"] if os.path.exists(path) else None
anchor = {s: load(f"{out}/centralized-{s}/summary.json") for s in seeds}
shaped = {s: load(f"{out}/centralized-b640-{s}/summary.json") for s in seeds}
print("| run | partition | seed | classifier-FID | ratio to centralized (batch 64 / batch 640) | "
      "classes >= 1% | class KL | FID along the way |")
print("|---|---|---|---|---|---|---|---|")
for s in seeds:
    for name, a in (("centralized, batch 64, lr 2e-4", anchor[s]),
                    ("centralized, batch 640, lr 8e-4", shaped[s])):
        if a:
            print(f"| {name} | all data | {s} | {a['fid']:.1f} | | {a['classes_covered']}/10 | "
                  f"{a['class_kl_to_uniform']:.3f} | |")
summary = {}
for policy in policies:
    for p in partitions:
        for s in seeds:
            name = f"{policy}-{p.replace(':', '-')}-{s}"
            if not os.path.exists(f"{out}/{name}/done"):
                print(f"| {policy} | {p} | {s} | not run | | | | |")
                continue
            db = sqlite3.connect(f"{out}/{name}/fedgan.db")
            curve = db.execute("select round, eval_fid, eval_classes_covered, eval_kl_uniform from rounds "
                               "where status = 'committed' and eval_classes_covered is not null "
                               "order by round").fetchall()
            r, fid, classes, kl = curve[-1]
            ratios = [fid / a["fid"] if fid is not None and a else None
                      for a in (anchor[s], shaped[s])]
            summary.setdefault((policy, p), []).append(ratios)
            along = ", ".join(f"{f:.0f}" if f is not None else "none" for _, f, _, _ in curve)
            fid_text = f"{fid:.1f}" if fid is not None else "none"
            ratio_text = " / ".join(f"{x:.2f}" if x is not None else "-" for x in ratios)
            print(f"| {policy} | {p} | {s} | {fid_text} | {ratio_text} | {classes}/10 | {kl:.3f} | "
                  f"{along} (rounds {curve[0][0]}-{r}) |")
print()
print("| run | partition | seeds | ratio to centralized batch 64, mean (each seed) | "
      "ratio to centralized batch 640, mean (each seed) |")
print("|---|---|---|---|---|")
for (policy, p), runs in summary.items():
    cells = []
    for k in (0, 1):
        valid = [r[k] for r in runs if r[k] is not None]
        mean = f"{statistics.mean(valid):.2f}" if valid else "-"
        each = ", ".join(f"{r[k]:.2f}" if r[k] is not None else "-" for r in runs)
        cells.append(f"{mean} ({each})")
    print(f"| {policy} | {p} | {len(runs)} | {cells[0]} | {cells[1]} |")
PY
