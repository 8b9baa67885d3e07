#!/usr/bin/env bash
# The main job, on this machine: a coordinator and 4 sites on 127.0.0.1 train the reference DCGAN
# by federated learning on a non-IID split of Fashion-MNIST (Dirichlet alpha = 0.3 over the
# classes; examples/fashion-mnist-noniid). Installs what is missing and builds first; generates a
# development PKI (for local use only); prints the round table as rounds commit, then where the
# database, checkpoints and sample grids are, and three sqlite3 queries to try. Every process it
# starts is stopped on exit or Ctrl-C.
#
# The federation policy is the best fedgan has measured on this task (docs/benchmarks.md, "The
# demo's policy"): alternating rounds with server Adam, many one-step rounds in which the sites
# train the discriminator (odd rounds) or the generator (even rounds) and the coordinator takes one
# Adam step along their mean. FEDGAN_DEMO_POLICY=fedavg runs the earlier demo instead: plain
# FedAvg rounds of 40 local steps.
#
# Environment: FEDGAN_BUILD_DIR (default build), FEDGAN_DEMO_POLICY (alternating or fedavg),
# FEDGAN_DEMO_ROUNDS (default 1000 alternating rounds, 18 FedAvg rounds), FEDGAN_DEMO_LOCAL_STEPS
# (fedavg only, default 40), FEDGAN_DEMO_EVAL_EVERY (default 250 or 3).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/coordinator_port.sh
scripts/build.sh

build="${FEDGAN_BUILD_DIR:-build}"
policy="${FEDGAN_DEMO_POLICY:-alternating}"
case "$policy" in
  alternating)
    rounds="${FEDGAN_DEMO_ROUNDS:-1000}"
    eval_every="${FEDGAN_DEMO_EVAL_EVERY:-250}"
    # The example's commented settings (examples/fashion-mnist-noniid/coordinator.toml).
    policy_flags=(--training.local_steps 1 --training.optimizer sgd --training.networks alternate
      --training.lr_generator 0.01 --training.lr_discriminator 0.01
      --aggregation.server_optimizer adam --aggregation.server_lr 0.0008
      --aggregation.server_beta1 0.5 --aggregation.server_beta2 0.999)
    print_every=50 ;;
  fedavg)
    rounds="${FEDGAN_DEMO_ROUNDS:-18}"
    eval_every="${FEDGAN_DEMO_EVAL_EVERY:-3}"
    policy_flags=(--training.local_steps "${FEDGAN_DEMO_LOCAL_STEPS:-40}")
    print_every=1 ;;
  *) echo "FEDGAN_DEMO_POLICY is '$policy': it must be alternating or fedavg" >&2; exit 2 ;;
esac
sites=4
example=examples/fashion-mnist-noniid
out="$PWD/out/demo"
# Passive OpenMP waiting: four LibTorch processes share the cores (see scripts/test.sh).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'echo; echo "interrupted: stopping the coordinator and the sites"; exit 130' INT TERM

rm -rf "$out"
mkdir -p "$out"
"$build/pki/fedgan-certs" dev --dir "$out/pki" --clients "$sites" >"$out/pki.log"
echo "development PKI in $out/pki: a CA, the coordinator (localhost, 127.0.0.1) and site-1..site-$sites"
echo "  (these certificates are for local use only: see docs/security.md for a real federation)"

tls() { echo --tls.ca_file "$out/pki/ca.pem" --tls.certificate_file "$out/pki/$1.pem" \
  --tls.private_key_file "$out/pki/$1.key"; }

# The classifier behind classifier-FID is trained once (about two minutes on two cores) and cached.
mkdir -p "$build/cache"
: >"$out/coordinator.log"
# shellcheck disable=SC2046
"$build/coordinator/fedgan-coordinator" serve --config "$example/coordinator.toml" $(tls coordinator) \
  --server.port 0 --rounds.max_rounds "$rounds" "${policy_flags[@]}" \
  --evaluation.every_rounds "$eval_every" --evaluation.samples 1000 \
  --evaluation.cache_dir "$PWD/$build/cache" --storage.database "$out/fedgan.db" \
  --storage.checkpoint_dir "$out/checkpoints" >"$out/coordinator.log" 2>&1 &
pids+=($!)
port=$(coordinator_port "$out/coordinator.log" "${pids[0]}")
echo "coordinator listening on 127.0.0.1:$port; starting $sites sites (Dirichlet(0.3) shares)"
echo "policy: $policy, $rounds rounds$([[ $print_every -gt 1 ]] && echo "; every ${print_every}th commit is shown, with every evaluation")"

for i in $(seq 1 "$sites"); do
  # shellcheck disable=SC2046
  "$build/client/fedgan-client" --config "$example/client.toml" $(tls "site-$i") \
    --coordinator.port "$port" --data.client_index $((i - 1)) --state.dir "$out/site-$i" \
    --training.threads 1 --log.progress never >"$out/site-$i.log" 2>&1 &
  pids+=($!)
done

# The round table as it goes: the coordinator's lines for rounds, evaluations and the end.
# Every commit of a short run; of a long one every print_every-th, and every evaluation, failure
# and the end.
tail -n +1 -f "$out/coordinator.log" --pid "${pids[0]}" |
  awk -v every="$print_every" '
    /^round [0-9]+ (evaluation|attempt [0-9]+ failed)/ || /^coordinator stopped/ { print; fflush(); next }
    /^round [0-9]+ committed/ { if ($2 % every == 0 || $2 == 1) { print; fflush() } next }
    every == 1 && /^round / { print; fflush() }' || true
wait "${pids[0]}" || { echo "the coordinator failed; see $out/coordinator.log" >&2; exit 1; }

echo
[[ "$rounds" -gt 40 ]] && echo "the last 20 round attempts (fedgan-coordinator history --last 20):"
"$build/coordinator/fedgan-coordinator" history --config "$example/coordinator.toml" \
  --storage.database "$out/fedgan.db" --last 20
last_checkpoint=$(ls "$out"/checkpoints/round_*.pt 2>/dev/null | tail -1)
echo
echo "database:          $out/fedgan.db"
echo "last checkpoint:   ${last_checkpoint:-none} (a PyTorch state dict: torch.load(path, weights_only=True) works)"
echo "sample grids:      $(ls "$out"/checkpoints/round_*.png 2>/dev/null | tr '\n' ' ')"
echo "logs:              $out/coordinator.log, $out/site-*.log"
echo
echo "Try (docs/storage.md has ten more):"
echo "  sqlite3 $out/fedgan.db \"select round, status, updates_accepted, round(aggregate_norm, 4), eval_fid from rounds\""
echo "  sqlite3 $out/fedgan.db \"select c.identity, count(*), sum(u.num_samples) from updates u join clients c using (client_id) where u.accepted group by c.identity\""
echo "  sqlite3 $out/fedgan.db \"select datetime(logged_at, 'unixepoch'), kind, client, message from events order by event_id desc limit 10\""
