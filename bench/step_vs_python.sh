#!/usr/bin/env bash
# Times one reference-DCGAN training step in C++ (fedgan-bench-step) and in Python
# (bench/dcgan_step.py, plain and with D frozen during the G step) at 1 and 2 threads, and prints a
# markdown table. Runs are interleaved round by round so machine noise hits every column alike;
# each cell is the median over rounds of each run's median step time.
#
# Usage: bench/step_vs_python.sh [--steps 30] [--warmup 5] [--rounds 3]
# Environment: FEDGAN_BUILD_DIR (default build), PYTHON (default /usr/bin/python3: Debian's
# python3-torch, the same LibTorch and BLAS as the C++ build), OMP_WAIT_POLICY (default PASSIVE:
# with LibGOMP's spinning default, 2-thread steps on a busy machine are ~25x slower and the
# figures measure the neighbours, not the code; both programs always see the same setting).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

steps=30
warmup=5
rounds=3
while (($# > 0)); do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "usage: $0 [--steps N] [--warmup N] [--rounds N]" >&2; exit 2 ;;
  esac
done

export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
cpp_bench="${FEDGAN_BUILD_DIR:-build}/bench/fedgan-bench-step"
python="${PYTHON:-/usr/bin/python3}"
if [[ ! -x "$cpp_bench" ]]; then
  echo "error: $cpp_bench is missing; build it first with scripts/build.sh" >&2
  exit 1
fi

# Runs a benchmark command; prints the value of `step_seconds=` on its last output line.
step_seconds() {
  local out value
  out="$("$@")"
  value="$(tail -n 1 <<< "$out" | sed -n 's/.*step_seconds=\([0-9.eE+-]*\).*/\1/p')"
  if [[ -z "$value" ]]; then
    echo "error: no step_seconds= on the last line of: $*" >&2
    exit 1
  fi
  echo "$value"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A samples=()  # "<kind>/<threads>" -> space-separated step times
for ((round = 1; round <= rounds; round++)); do
  for threads in 1 2; do
    common=(--threads "$threads" --steps "$steps" --warmup "$warmup")
    cpp="$(step_seconds "$cpp_bench" "${common[@]}")"
    py="$(step_seconds "$python" bench/dcgan_step.py "${common[@]}")"
    frozen="$(step_seconds "$python" bench/dcgan_step.py "${common[@]}" --freeze-d-in-g-step)"
    samples[cpp/$threads]+="$cpp "
    samples[py/$threads]+="$py "
    samples[frozen/$threads]+="$frozen "
    echo "round $round/$rounds threads=$threads: C++ $cpp  Python $py  Python-frozen $frozen" >&2
  done
done

echo "Reference DCGAN step, batch 64; median of $rounds interleaved runs of $steps steps" \
  "(+$warmup warm-up); OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load average $(cut -d' ' -f1-3 /proc/loadavg)."
echo
echo "| threads | C++ s/step | Python s/step | C++/Python | Python-frozen s/step | C++/Python-frozen |"
echo "|---:|---:|---:|---:|---:|---:|"
for threads in 1 2; do
  # Word splitting of the sample lists is intended.
  # shellcheck disable=SC2086
  {
    cpp="$(median ${samples[cpp/$threads]})"
    py="$(median ${samples[py/$threads]})"
    frozen="$(median ${samples[frozen/$threads]})"
  }
  awk -v t="$threads" -v c="$cpp" -v p="$py" -v f="$frozen" \
    'BEGIN {printf "| %d | %.4f | %.4f | %.2f | %.4f | %.2f |\n", t, c, p, c / p, f, c / f}'
done
