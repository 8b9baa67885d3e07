#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) in build-fuzz/ and runs it for the given
# number of seconds (default 600), printing the number of executions. A crash leaves its input as
# build-fuzz/crash-* and makes this script fail.
#   usage: scripts/fuzz.sh [frame|round] [seconds]
#     frame  the frame and message decoder (the default; the test suite runs it for 30 s)
#     round  the coordinator's stateful target: scripts of several sites' messages against a real
#            coordinator, its invariants checked after every action (tests/fuzz/round_harness.h).
#            Its build compiles the GAN library with clang too (tens of minutes on two cores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=frame
if [[ "${1:-}" == frame || "${1:-}" == round ]]; then
  target="$1"
  shift
fi
seconds="${1:-600}"
command -v clang++ >/dev/null || { echo "fuzz.sh needs clang: apt-get install clang" >&2; exit 1; }
scripts/install_deps.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFEDGAN_BUILD_FUZZERS=ON -DFEDGAN_BUILD_TESTS=OFF -DFEDGAN_BUILD_BENCH=OFF \
  -DFEDGAN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build-fuzz --target "fedgan-fuzz-$target" --parallel "$(nproc)"

corpus="build-fuzz/corpus/$target"
mkdir -p "$corpus"
cd build-fuzz
# The round target runs a coordinator per input (a model, a database, checkpoints): it needs more
# memory and time per input than the decoder, and its inputs are scripts of many actions, so
# libFuzzer tries long ones from the start (-len_control=0) instead of growing them slowly.
limits=(-rss_limit_mb=2048)
[[ "$target" == round ]] && limits=(-rss_limit_mb=4096 -timeout=60 -max_len=4096 -len_control=0)
# Inputs kept in the repository (ones that once failed) seed the corpus.
seeds=()
[[ -d "../tests/fuzz/corpus/$target" ]] && seeds=("../tests/fuzz/corpus/$target")
"./fedgan-fuzz-$target" -max_total_time="$seconds" -print_final_stats=1 "${limits[@]}" \
  "corpus/$target" "${seeds[@]}" 2>&1 | tee "fuzz-$target.log" | grep -E "^#[0-9]+ +(DONE|pulse)|stat::|ERROR" || true
grep -q "stat::number_of_executed_units" "fuzz-$target.log" || { echo "fuzzer did not finish cleanly" >&2; exit 1; }
! ls crash-* leak-* timeout-* >/dev/null 2>&1 || { echo "fuzzer found a failing input" >&2; exit 1; }
