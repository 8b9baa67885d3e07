#!/usr/bin/env bash
# Builds fedgan (scripts/build.sh) and runs its ctest suite; exits non-zero if any test fails.
#
# Two phases: the many small unit-test processes run in parallel, one per core; then the tests
# labelled `slow` (a classifier trained on two LibTorch threads) run alone. Then, where clang is
# installed, a 30-second run of the fuzz target (scripts/fuzz.sh). Sharing the cores
# would make the slow test's OpenMP threads wait on each other, costing more than it saves.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/build.sh

build_dir="${FEDGAN_BUILD_DIR:-build}"
# OpenMP threads that spin while waiting steal the core their partner needs whenever the machine
# is busier than its core count (parallel tests, other users): on a 2-core machine at load 4 a
# 2-thread DCGAN step took 4.4 s with LibGOMP's default policy and 0.18 s with PASSIVE.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
status=0
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error \
  --label-exclude slow --parallel "$(nproc)" || status=1
ctest --test-dir "$build_dir" --output-on-failure --label-regex slow || status=1
# The libFuzzer target needs clang; where it is installed, build the target (which also compiles
# the protocol library with clang, ASan and UBSan) and fuzz the frame decoder for 30 seconds.
if command -v clang++ >/dev/null; then
  scripts/fuzz.sh "${FEDGAN_FUZZ_SECONDS:-30}" || status=1
else
  echo "clang++ not found: the fuzz target was not built (apt-get install clang)"
fi
exit "$status"
