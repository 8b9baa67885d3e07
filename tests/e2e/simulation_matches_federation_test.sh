#!/usr/bin/env bash
# fedgan-simulate runs exactly the federation that real processes run: the same coordinator
# configuration (alternating rounds with server Adam, sample-count FedAvg, the adaptive norm bound),
# the same three site identities with the same Dirichlet shares and seeds. First the federation:
# fedgan-coordinator and three fedgan-client processes over mutual TLS on 127.0.0.1; then the
# simulation of those sites in one process. After three rounds both global models are bit-identical
# (every tensor equal, compared in Python), and both histories agree on every update's sample count
# and norm.
#   usage: simulation_matches_federation_test.sh BUILD_DIR [PYTHON]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

build="$1"
python="${2:-/usr/bin/python3}"
"$build/pki/fedgan-certs" dev --dir "$work/pki" --clients 3 >/dev/null

# One configuration for both runs; only the storage differs.
coordinator_toml() {
  cat <<TOML
[rounds]
min_clients = 3
max_rounds = 3
deadline_seconds = 120
[model]
architecture = "mlp"
[training]
local_steps = 4
batch_size = 32
networks = "alternate"
optimizer = "adam"
[aggregation]
server_optimizer = "adam"
server_lr = 0.001
[storage]
database = "$work/$1/fedgan.db"
checkpoint_dir = "$work/$1/checkpoints"
keep_last = 5
run_id = "same"
TOML
}
site_toml() {
  cat <<TOML
[data]
format = "mixture"
mixture = "grid"
mixture_rows = 3000
partition = "dirichlet:0.5"
clients = 3
client_index = $1
[training]
threads = 1
[log]
progress = "never"
TOML
}
coordinator_toml real >"$work/real.toml"
coordinator_toml simulated >"$work/simulated.toml"
for i in 0 1 2; do site_toml "$i" >"$work/site-$((i + 1)).toml"; done

: >"$work/coordinator.log"
# shellcheck disable=SC2046
"$build/coordinator/fedgan-coordinator" serve --config "$work/real.toml" $(tls coordinator) \
  --server.port 0 >"$work/coordinator.log" 2>&1 &
pids+=($!)
port=$(coordinator_port "$work/coordinator.log" "${pids[0]}") ||
  fail "the coordinator did not start listening"
for i in 1 2 3; do
  # shellcheck disable=SC2046
  "$build/client/fedgan-client" --config "$work/site-$i.toml" $(tls "site-$i") \
    --coordinator.port "$port" --state.dir "$work/real/site-$i" >"$work/site-$i.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "process $pid exited with $?"; done
pids=()

"$build/simulation/fedgan-simulate" --config "$work/simulated.toml" \
  --site-config "$work/site-1.toml" --sites 3 --partition dirichlet:0.5 --threads 2 \
  >"$work/simulate.log" 2>&1 || fail "fedgan-simulate failed"

q() { sqlite3 "$1" "$2"; }
history="select r.round, c.identity, u.num_samples, printf('%.17g', u.delta_norm), u.accepted
         from updates u join rounds r using (round_id) join clients c using (client_id)
         order by r.round, c.identity"
real_history=$(q "$work/real/fedgan.db" "$history")
simulated_history=$(q "$work/simulated/fedgan.db" "$history")
[[ "$(q "$work/real/fedgan.db" "select count(*) from rounds where status = 'committed'")" == 3 ]] ||
  fail "the federation should commit 3 rounds"
[[ "$real_history" == "$simulated_history" ]] ||
  fail "the histories differ: real:"$'\n'"$real_history"$'\n'"simulated:"$'\n'"$simulated_history"

if ! "$python" -c "import torch" 2>/dev/null; then
  echo "skipping the tensor comparison: $python cannot import torch"
  exit 0
fi
"$python" - "$work/real/checkpoints/round_000003.pt" "$work/simulated/checkpoints/round_000003.pt" \
  <<'PYTHON' || fail "the global models after round 3 differ"
import sys, torch
real = torch.load(sys.argv[1], weights_only=True)
simulated = torch.load(sys.argv[2], weights_only=True)
assert real.keys() == simulated.keys(), "different tensors"
for name in real:
    assert torch.equal(real[name], simulated[name]), \
        f"{name}: differs by {(real[name].double() - simulated[name].double()).abs().max().item()}"
print(f"{len(real)} tensors bit-identical")
PYTHON
echo "simulation matches the federation"
