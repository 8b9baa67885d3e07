# shellcheck shell=bash
# What the end-to-end tests share, sourced after `set -euo pipefail`: a scratch directory `work`
# removed on exit with every process whose pid is added to `pids`, `fail` (prints the message and
# the tail of every log in `work`, exits 1), `tls NAME` (the three --tls flags of NAME's
# development certificate under work/pki) and coordinator_port (scripts/lib/coordinator_port.sh).
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/coordinator_port.sh"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2; done
  exit 1
}
tls() { echo --tls.ca_file "$work/pki/ca.pem" --tls.certificate_file "$work/pki/$1.pem" \
  --tls.private_key_file "$work/pki/$1.key"; }
