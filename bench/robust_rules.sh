#!/usr/bin/env bash
# Runs fedgan-bench-robust-rules and prints, for docs/benchmarks.md, each robust rule's round time
# beside streaming FedAvg's in the same run (1M parameters, 10 and 100 updates), then the peak
# resident set of one round of 100 updates of the 25M-parameter model kept under a memory budget
# (the rest spilled to SPILL_DIR). Builds nothing.
#
# Usage: bench/robust_rules.sh [SPILL_DIR (default /var/tmp)] [BUDGET_MB (default 1024)]
# Environment: FEDGAN_BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bench="${FEDGAN_BUILD_DIR:-build}/bench/fedgan-bench-robust-rules"
[[ -x "$bench" ]] || { echo "error: $bench is missing; build it first with scripts/build.sh" >&2; exit 1; }
spill_dir="${1:-/var/tmp}"
budget="${2:-1024}"

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }

echo "| parameters | updates | rule | round ms | ratio to FedAvg |"
echo "|---:|---:|---|---:|---:|"
"$bench" --params 1000000 --updates 10,100 --repeats 3 | while read -r line; do
  rule="$(sed -n 's/.* rule="\([^"]*\)".*/\1/p' <<< "$line")"
  printf '| %s | %s | %s | %s | %s |\n' "$(field "$line" params)" "$(field "$line" updates)" \
    "$rule" "$(field "$line" ms)" "$(field "$line" ratio_to_fedavg)"
done
echo
echo "| parameters | updates | rule | budget MiB | in memory / spilled | model MiB | peak RSS MiB | (peak - budget) / model | adds s | rule s |"
echo "|---:|---:|---|---:|---|---:|---:|---:|---:|---:|"
for rule in median geometric_median; do
  line="$("$bench" --memory --params 25000000 --memory-updates 100 --budget-mb "$budget" \
    --spill-dir "$spill_dir" --rule "$rule")"
  printf '| %s | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |\n' "$(field "$line" params)" \
    "$(field "$line" updates)" "$rule" "$budget" "$(field "$line" in_memory)" \
    "$(field "$line" spilled)" "$(field "$line" model_mib)" "$(field "$line" peak_rss_mib)" \
    "$(field "$line" peak_over_budget_in_models)" "$(field "$line" add_s)" \
    "$(field "$line" aggregate_s)"
done
