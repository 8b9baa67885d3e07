#!/usr/bin/env bash
# Builds the libFuzzer target for the frame and message decoder with clang (ASan + UBSan) in
# build-fuzz/ and runs it for the given number of seconds (default 600), printing the number of
# executions. A crash leaves its input as build-fuzz/crash-* and makes this script fail.
#   usage: scripts/fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-600}"
command -v clang++ >/dev/null || { echo "fuzz.sh needs clang: apt-get install clang" >&2; exit 1; }
scripts/install_deps.sh
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFEDGAN_BUILD_FUZZERS=ON -DFEDGAN_BUILD_TESTS=OFF -DFEDGAN_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz --target fedgan-fuzz-frame --parallel "$(nproc)"

corpus=build-fuzz/corpus/frame
mkdir -p "$corpus"
cd build-fuzz
./fedgan-fuzz-frame -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
  corpus/frame 2>&1 | tee fuzz-frame.log | grep -E "^#[0-9]+ +(DONE|pulse)|stat::|ERROR" || true
grep -q "stat::number_of_executed_units" fuzz-frame.log || { echo "fuzzer did not finish cleanly" >&2; exit 1; }
! ls crash-* leak-* timeout-* >/dev/null 2>&1 || { echo "fuzzer found a failing input" >&2; exit 1; }
