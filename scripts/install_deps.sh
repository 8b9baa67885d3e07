#!/usr/bin/env bash
# Installs the Debian 12 packages fedgan needs, and only those that are missing, then makes the
# OpenMP build of OpenBLAS the system BLAS that LibTorch loads.
#
# Quiet and quick when everything is in place, so scripts/build.sh calls it on every build.
# Needs root only when something has to change; otherwise prints the command to run and exits 1.
set -euo pipefail

# Debian's libtorch1.13 links the generic libblas.so.3 / liblapack.so.3, resolved through
# update-alternatives. The OpenMP OpenBLAS shares LibTorch's OpenMP threads: measured with
# bench/blas_compare.py it is ~6x faster than reference BLAS on the DCGAN step (~16x on the
# transposed convolution), and as fast as or faster than the pthread OpenBLAS, which runs its own
# threads beside LibTorch's.
readonly BLAS_PACKAGE=libopenblas0-openmp
readonly BLAS_FLAVOUR=openblas-openmp

readonly PACKAGES=(
  build-essential cmake ccache
  libtorch-dev python3-torch "$BLAS_PACKAGE"
  libboost-dev libssl-dev libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3
  libfmt-dev libspdlog-dev libcli11-dev libgtest-dev libtomlplusplus-dev nlohmann-json3-dev
  openssl
  libpng-dev zlib1g-dev
  dataset-fashion-mnist
)

is_root() { [[ "$(id -u)" -eq 0 ]]; }

missing_packages() {
  # One dpkg-query for all packages; unknown ones make it fail, hence `|| true`.
  local -A installed=()
  local pkg status
  while read -r pkg status; do
    [[ "$status" == "install ok installed" ]] && installed["$pkg"]=1
  done < <(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  for pkg in "${PACKAGES[@]}"; do
    [[ -n "${installed[$pkg]:-}" ]] || echo "$pkg"
  done
}

install_missing() {
  local missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) && return 0
  if ! is_root; then
    echo "fedgan: missing Debian packages: ${missing[*]}" >&2
    echo "Install them as root with:" >&2
    echo "  sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "fedgan: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

multiarch() {
  dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$(uname -m)-linux-gnu"
}

# Points one alternative (libblas.so.3, liblapack.so.3, libopenblas.so.0) at the chosen flavour.
# --set also switches the group to manual mode, so installing libopenblas0-pthread later (it has
# a higher priority) does not silently take over.
select_alternative() {
  local name="$1-$2" target="/usr/lib/$2/$BLAS_FLAVOUR/$1" current
  [[ -e "$target" ]] || return 0
  current="$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p')"
  [[ "$current" == "$target" ]] && return 0
  if is_root; then
    update-alternatives --quiet --set "$name" "$target"
  else
    echo "fedgan: warning: $name is '${current:-unset}', not $target (slower training)." >&2
    echo "  fix: sudo update-alternatives --set $name $target" >&2
  fi
}

main() {
  install_missing
  local arch
  arch="$(multiarch)"
  for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
    select_alternative "$lib" "$arch"
  done
}

main "$@"
