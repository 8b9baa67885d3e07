#!/usr/bin/env bash
# Runs fedgan-bench-aggregation (streaming FedAvg against plain summation loops over the same
# buffers, and its memory) and prints two markdown tables for docs/benchmarks.md. Builds nothing.
#
# Usage: bench/aggregation.sh [fedgan-bench-aggregation options, e.g. --repeats 7]
# Environment: FEDGAN_BUILD_DIR (default build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bench="${FEDGAN_BUILD_DIR:-build}/bench/fedgan-bench-aggregation"
if [[ ! -x "$bench" ]]; then
  echo "error: $bench is missing; build it first with scripts/build.sh" >&2
  exit 1
fi

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
out="$("$bench" "$@")"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# Value of key=value field `$2` on line `$1`.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }

grep '^config' <<< "$out" | sed 's/^config //'
echo
echo "| parameters | updates | FedAvg round ms | double-sum round ms | **FedAvg / double sum** | float-sum round ms | FedAvg / float sum | FedAvg GB/s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
while read -r line; do
  printf '| %s | %s | %s | %s | **%s** | %s | %s | %s |\n' \
    "$(field "$line" params)" "$(field "$line" updates)" "$(field "$line" fedavg_ms)" \
    "$(field "$line" sum_double_ms)" "$(field "$line" ratio_double)" \
    "$(field "$line" sum_float_ms)" "$(field "$line" ratio_float)" \
    "$(field "$line" fedavg_gb_per_s)"
done < <(grep '^result' <<< "$out")
echo

# The RSS columns after N updates are whatever rss_after_<N>_updates_mib fields the program printed.
first_memory="$(grep -m 1 '^memory' <<< "$out")"
mapfile -t after_keys < <(grep -o 'rss_after_[0-9]*_updates_mib' <<< "$first_memory")
header="| parameters | model MiB (float32) | accumulator MiB (RSS growth) | RSS with accumulator MiB"
rule="|---:|---:|---:|---:"
for key in "${after_keys[@]}"; do
  n="${key#rss_after_}"
  header+=" | RSS after ${n%_updates_mib} updates MiB"
  rule+="|---:"
done
echo "$header | peak RSS (VmHWM) MiB | benchmark buffers MiB |"
echo "$rule|---:|---:|"
while read -r line; do
  row="| $(field "$line" params) | $(field "$line" model_mib) | $(field "$line" accumulator_rss_mib)"
  row+=" | $(field "$line" rss_with_accumulator_mib)"
  for key in "${after_keys[@]}"; do row+=" | $(field "$line" "$key")"; done
  echo "$row | $(field "$line" peak_rss_mib) | $(field "$line" bench_buffers_mib) |"
done < <(grep '^memory' <<< "$out")
echo
echo "Load average (1, 5, 15 min): $load_start at the start, $load_end at the end."
