#!/usr/bin/env bash
# Installs missing dependencies, then configures and builds fedgan with every core.
#
# Environment:
#   FEDGAN_BUILD_DIR    build directory (default: build, relative to the repository root)
#   FEDGAN_CMAKE_ARGS   extra configure arguments, split on spaces, e.g.
#                       "-DCMAKE_PREFIX_PATH=/opt/libtorch -DFEDGAN_BUILD_EXAMPLES=OFF"
#                       (they come after -DCMAKE_BUILD_TYPE=Release, so they can override it)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install_deps.sh

build_dir="${FEDGAN_BUILD_DIR:-build}"
read -r -a extra_args <<< "${FEDGAN_CMAKE_ARGS:-}"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "${extra_args[@]}"
cmake --build "$build_dir" --parallel "$(nproc)"
