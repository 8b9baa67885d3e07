#!/usr/bin/env bash
# A federation under a robust rule, as separate processes on 127.0.0.1: fedgan-coordinator with
# aggregation.rule = "median" runs 2 rounds of a small 2-D GAN with 5 fedgan-client sites, four
# honest and one (site-5) whose [attack] uploads -10 times its delta. Then: the attacker's update
# is flagged in both rounds (rule_effect down_weighted, negative cosine to the aggregate) and no
# honest one is; and round 2's global model equals round 1's plus the coordinate-wise median of
# the deltas the sites kept of what they uploaded, each first clipped to the norm bound recorded
# for it, as the coordinator does: recomputed here, equal to the last bit.
#   usage: robust_federation_test.sh BUILD_DIR [PYTHON]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

build="$1"
python="${2:-/usr/bin/python3}"
sites=5

"$build/pki/fedgan-certs" dev --dir "$work/pki" --clients "$sites" >/dev/null

: >"$work/coordinator.log"
# shellcheck disable=SC2046
"$build/coordinator/fedgan-coordinator" serve $(tls coordinator) --server.port 0 \
  --rounds.min_clients "$sites" --rounds.max_rounds 2 --rounds.deadline_seconds 120 \
  --model.architecture mlp --training.local_steps 5 --training.batch_size 32 \
  --aggregation.rule median --storage.database "$work/fedgan.db" \
  --storage.checkpoint_dir "$work/checkpoints" --storage.keep_last 5 --storage.run_id robust \
  >"$work/coordinator.log" 2>&1 &
pids+=($!)
coordinator_pid=$!
port=$(coordinator_port "$work/coordinator.log" "$coordinator_pid") ||
  fail "the coordinator did not start listening"

for i in $(seq 1 "$sites"); do
  attack=()
  ((i == sites)) && attack=(--attack.kind scale --attack.scale -10)
  # shellcheck disable=SC2046
  "$build/client/fedgan-client" $(tls "site-$i") --coordinator.port "$port" --data.format mixture \
    --data.mixture grid --data.mixture_rows 3000 --data.partition iid --data.clients "$sites" \
    --data.client_index $((i - 1)) --state.dir "$work/site-$i" --state.keep_deltas \
    --training.threads 1 --log.progress never "${attack[@]}" >"$work/site-$i.log" 2>&1 &
  pids+=($!)
done

for pid in "${pids[@]}"; do
  wait "$pid" || fail "process $pid exited with $?"
done
pids=()

grep -q "WARNING: this site ATTACKS the federation" "$work/site-$sites.log" ||
  fail "the attacking site should say so"
q() { sqlite3 "$work/fedgan.db" "$1"; }
[[ "$(q "select count(*) from rounds where status = 'committed'")" == 2 ]] || fail "2 rounds should commit"
flagged=$(q "select group_concat(c.identity || ':' || u.rule_effect || ':' || (u.aggregate_cosine < 0), ' ')
             from updates u join clients c using (client_id) where u.accepted and u.flagged
             order by u.update_id")
[[ "$flagged" == "site-5:down_weighted:1 site-5:down_weighted:1" ]] ||
  fail "only site-5 should be flagged, in both rounds, with a negative cosine: $flagged"
[[ "$(q "select flagged_rounds from clients where identity = 'site-5'")" == 2 ]] ||
  fail "site-5 should have 2 flagged rounds"

if ! "$python" -c "import torch" 2>/dev/null; then
  echo "skipping the Python checks: $python cannot import torch"
  exit 0
fi
rounds=$(q "select round || ' ' || checkpoint_path from rounds where status = 'committed' order by round")
updates=$(q "select c.identity || ' ' || u.delta_norm || ' ' || coalesce(u.norm_bound, 'none')
             from updates u join clients c using (client_id) join rounds r using (round_id)
             where r.round = 2 and u.accepted")
"$python" - "$work" "$rounds" "$updates" <<'PYTHON' || fail "the round-2 model is not round 1 plus the median"
import sys, torch
work, rounds, updates = sys.argv[1], sys.argv[2].splitlines(), sys.argv[3].splitlines()
checkpoints = {int(line.split()[0]): torch.load(line.split()[1], weights_only=True)
               for line in rounds}
base, new = checkpoints[1], checkpoints[2]
clipped = {}
for line in updates:
    site, norm, bound = line.split()
    delta = torch.load(f"{work}/{site}/delta_round_000002.pt", weights_only=True)
    # The coordinator's clip: each value times bound / norm, in double, rounded once.
    if bound != "none" and float(norm) > float(bound):
        scale = float(bound) / float(norm)
        delta = {k: (v.double() * scale).float() for k, v in delta.items()}
    clipped[site] = delta
assert len(clipped) == 5, clipped.keys()
for name in base:
    if name not in next(iter(clipped.values())):
        continue
    stacked = torch.stack([clipped[s][name] for s in sorted(clipped)])
    median = stacked.sort(dim=0).values[2]  # the middle of five
    expected = (base[name].double() + median.double()).float()
    assert torch.equal(new[name], expected), \
        f"{name}: differs by {(new[name] - expected).abs().max().item()}"
print(f"round 2 = round 1 + the coordinate-wise median of {len(clipped)} deltas")
PYTHON
echo "robust federation end to end: all checks passed"
