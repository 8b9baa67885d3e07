#!/usr/bin/env bash
# Sites whose data is a CSV of vectors wider than 2: the coordinator, told model.data_dim = 3,
# federates an mlp of that width with 2 fedgan-client sites reading their own CSV files, for 2
# rounds. Then: 2 committed rounds with 2 accepted updates each, the database under a directory
# the coordinator created, and a checkpoint whose generator emits and discriminator takes rows of 3.
#   usage: csv_federation_test.sh BUILD_DIR [PYTHON]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/e2e_lib.sh"

build="$1"
python="${2:-/usr/bin/python3}"

"$build/pki/fedgan-certs" dev --dir "$work/pki" --clients 2 >/dev/null
"$python" - "$work" <<'PY'
import random, sys
for site in (1, 2):
    rng = random.Random(site)
    with open(f"{sys.argv[1]}/site-{site}.csv", "w") as f:
        f.write("x,y,z\n")
        for _ in range(300):
            f.write(",".join(f"{rng.gauss(site, 1):.5f}" for _ in range(3)) + "\n")
PY

: >"$work/coordinator.log"
# shellcheck disable=SC2046
"$build/coordinator/fedgan-coordinator" serve $(tls coordinator) --server.port 0 \
  --rounds.min_clients 2 --rounds.max_rounds 2 --rounds.deadline_seconds 120 \
  --model.architecture mlp --model.data_dim 3 --training.local_steps 4 --training.batch_size 50 \
  --evaluation.every_rounds 0 --storage.database "$work/new/dir/fedgan.db" \
  --storage.checkpoint_dir "$work/checkpoints" --storage.run_id csv >"$work/coordinator.log" 2>&1 &
pids+=($!)
coordinator_pid=$!
port=$(coordinator_port "$work/coordinator.log" "$coordinator_pid") ||
  fail "the coordinator did not start listening"

for i in 1 2; do
  # shellcheck disable=SC2046
  "$build/client/fedgan-client" --coordinator.host 127.0.0.1 --coordinator.port "$port" \
    $(tls "site-$i") --data.format csv --data.csv "$work/site-$i.csv" --data.csv_header \
    --state.dir "$work/site-$i" --training.threads 1 --log.progress never \
    >"$work/site-$i.log" 2>&1 &
  pids+=($!)
done
wait "$coordinator_pid" || fail "the coordinator failed"

"$python" - "$work" <<'PY' || fail "the database or the checkpoint is not as expected"
import sqlite3, sys, torch
work = sys.argv[1]
db = sqlite3.connect(f"{work}/new/dir/fedgan.db")
rounds = db.execute("select round, updates_accepted from rounds where status = 'committed' "
                    "order by round").fetchall()
assert rounds == [(1, 2), (2, 2)], rounds
state = torch.load(f"{work}/checkpoints/round_000002.pt", weights_only=True)
generator = [v for k, v in state.items() if k.startswith("generator.") and v.dim() == 2]
discriminator = [v for k, v in state.items() if k.startswith("discriminator.") and v.dim() == 2]
assert generator[-1].shape[0] == 3, generator[-1].shape
assert discriminator[0].shape[1] == 3, discriminator[0].shape
print("csv federation: 2 rounds of 2 sites, generator output and discriminator input of width 3")
PY
