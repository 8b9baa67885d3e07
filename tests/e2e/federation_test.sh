#!/usr/bin/env bash
# A federation end to end, as separate processes on 127.0.0.1: fedgan-certs makes a development
# PKI, fedgan-coordinator runs 2 rounds of a small 2-D GAN with 3 fedgan-client sites holding
# unequal Dirichlet shares of the 25-mode grid. Then: the database holds 2 committed rounds with 3
# accepted updates each and the sites' sample counts; every checkpoint and kept delta loads in
# Python with torch.load(path, weights_only=True); and round 2's global model equals round 1's plus
# the sample-weighted mean of the deltas the sites kept of what they uploaded.
#   usage: federation_test.sh BUILD_DIR [PYTHON]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

build="$1"
python="${2:-/usr/bin/python3}"
certs_bin="$build/pki/fedgan-certs"
coordinator_bin="$build/coordinator/fedgan-coordinator"
client_bin="$build/client/fedgan-client"

"$certs_bin" dev --dir "$work/pki" --clients 3 >/dev/null

: >"$work/coordinator.log"
# shellcheck disable=SC2046
"$coordinator_bin" serve $(tls coordinator) --server.port 0 --rounds.min_clients 3 \
  --rounds.max_rounds 2 --rounds.deadline_seconds 120 --model.architecture mlp \
  --training.local_steps 5 --training.batch_size 32 --storage.database "$work/fedgan.db" \
  --storage.checkpoint_dir "$work/checkpoints" --storage.keep_last 5 --storage.run_id e2e \
  >"$work/coordinator.log" 2>&1 &
pids+=($!)
coordinator_pid=$!
port=$(coordinator_port "$work/coordinator.log" "$coordinator_pid") ||
  fail "the coordinator did not start listening"

for i in 1 2 3; do
  # shellcheck disable=SC2046
  "$client_bin" $(tls "site-$i") --coordinator.port "$port" --data.format mixture \
    --data.mixture grid --data.mixture_rows 3000 --data.partition dirichlet:0.5 --data.clients 3 \
    --data.client_index $((i - 1)) --state.dir "$work/site-$i" --state.keep_deltas \
    --training.threads 1 --log.progress never >"$work/site-$i.log" 2>&1 &
  pids+=($!)
done

for pid in "${pids[@]}"; do
  wait "$pid" || fail "process $pid exited with $?"
done
pids=()

q() { sqlite3 "$work/fedgan.db" "$1"; }
[[ "$(q "select count(*) from rounds where status = 'committed'")" == 2 ]] || fail "2 rounds should commit"
[[ "$(q "select group_concat(updates_accepted) from rounds where status = 'committed' order by round")" == "3,3" ]] \
  || fail "each round should accept the 3 sites' updates"
[[ "$(q "select count(*) from updates where not accepted")" == 0 ]] || fail "no update should be rejected"
samples=$(q "select group_concat(num_samples) from (select distinct num_samples from updates)")
[[ "$samples" == *,*,* ]] || fail "the Dirichlet shares should differ: $samples"

if ! "$python" -c "import torch" 2>/dev/null; then
  echo "skipping the Python checks: $python cannot import torch"
  exit 0
fi
rounds=$(q "select round || ' ' || checkpoint_path from rounds where status = 'committed' order by round")
updates=$(q "select c.identity || ' ' || u.num_samples from updates u join clients c using (client_id)
             join rounds r using (round_id) where r.round = 2 and u.accepted")
"$python" - "$work" "$rounds" "$updates" <<'PYTHON' || fail "the round-2 model is not round 1 plus the weighted mean"
import sys, torch
work, rounds, updates = sys.argv[1], sys.argv[2].splitlines(), sys.argv[3].splitlines()
checkpoints = {int(line.split()[0]): torch.load(line.split()[1], weights_only=True)
               for line in rounds}
base, new = checkpoints[1], checkpoints[2]
weights = {line.split()[0]: float(line.split()[1]) for line in updates}
deltas = {site: torch.load(f"{work}/{site}/delta_round_000002.pt", weights_only=True)
          for site in weights}
total = sum(weights.values())
names = list(next(iter(deltas.values())).keys())
assert names, "no federated tensors"
worst = 0.0
for name in names:
    mean = sum(weights[s] * deltas[s][name].double() for s in weights) / total
    expected = (base[name].double() + mean).float()
    worst = max(worst, (new[name] - expected).abs().max().item())
    if not torch.equal(new[name], expected):
        close = torch.allclose(new[name], expected, rtol=0, atol=1e-6)
        assert close, f"{name}: differs by {(new[name] - expected).abs().max().item()}"
print(f"round 2 = round 1 + weighted mean of {len(weights)} deltas over {len(names)} tensors "
      f"(largest difference {worst:.3g})")
PYTHON
echo "federation end to end: all checks passed"
