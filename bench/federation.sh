#!/usr/bin/env bash
# Runs one federation on 127.0.0.1 for the benchmarks: a development PKI, the coordinator and K
# sites with one of the example configurations, every process stopped at the end. Prints the
# output directory (database, checkpoints, logs); the calling benchmark reads the figures from the
# database.
#   usage: bench/federation.sh EXAMPLE OUT_DIR [coordinator flags...] [-- client flags...]
# EXAMPLE is a directory under examples/. Environment: FEDGAN_BUILD_DIR (default build),
# FEDGAN_SITES (default 4).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/lib/coordinator_port.sh

(($# >= 2)) || { echo "usage: $0 EXAMPLE OUT_DIR [coordinator flags] [-- client flags]" >&2; exit 2; }
example="examples/$1"
out="$2"
shift 2
coordinator_flags=()
client_flags=()
while (($#)); do
  [[ "$1" == "--" ]] && { shift; client_flags=("$@"); break; }
  coordinator_flags+=("$1")
  shift
done
build="${FEDGAN_BUILD_DIR:-build}"
sites="${FEDGAN_SITES:-4}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
for program in pki/fedgan-certs coordinator/fedgan-coordinator client/fedgan-client; do
  [[ -x "$build/$program" ]] || { echo "missing $build/$program: build first" >&2; exit 1; }
done

pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
"$build/pki/fedgan-certs" dev --dir "$out/pki" --clients "$sites" >"$out/pki.log"
tls() { echo --tls.ca_file "$out/pki/ca.pem" --tls.certificate_file "$out/pki/$1.pem" \
  --tls.private_key_file "$out/pki/$1.key"; }

: >"$out/coordinator.log"
# shellcheck disable=SC2046
"$build/coordinator/fedgan-coordinator" serve --config "$example/coordinator.toml" $(tls coordinator) \
  --server.port 0 --rounds.min_clients "$sites" --storage.database "$out/fedgan.db" \
  --storage.checkpoint_dir "$out/checkpoints" "${coordinator_flags[@]}" >"$out/coordinator.log" 2>&1 &
pids+=($!)
port=$(coordinator_port "$out/coordinator.log" "${pids[0]}")

for i in $(seq 1 "$sites"); do
  # shellcheck disable=SC2046
  "$build/client/fedgan-client" --config "$example/client.toml" $(tls "site-$i") \
    --coordinator.port "$port" --data.clients "$sites" --data.client_index $((i - 1)) \
    --state.dir "$out/site-$i" --log.progress never "${client_flags[@]}" >"$out/site-$i.log" 2>&1 &
  pids+=($!)
done

wait "${pids[0]}" || { echo "the coordinator failed; see $out/coordinator.log" >&2; exit 1; }
for pid in "${pids[@]:1}"; do wait "$pid" || true; done
pids=()
echo "$out"
