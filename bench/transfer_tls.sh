#!/usr/bin/env bash
# Model transfer throughput over loopback mutual TLS (fedgan-bench-transfer) for 16 MiB, 256 MiB
# and 1 GiB models, beside `openssl speed -evp aes-128-gcm` run in the same session, and the peak
# RSS of the sending and receiving processes. Prints a markdown table for docs/benchmarks.md.
#
# The ratio is transfer MiB/s over AES-128-GCM MiB/s at 16 KiB blocks (one TLS record): how close
# the whole path (fp32 encode and decode, framing, TLS 1.3 AES-128-GCM encrypt + decrypt, two
# processes on this machine's cores) comes to the cipher alone on one core.
#
# Usage: bench/transfer_tls.sh [--repeat 3] [--sizes "16 256 1024"]
# Environment: FEDGAN_BUILD_DIR (default build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

repeat=3
sizes="16 256 1024"
while (($# > 0)); do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat N] [--sizes \"MiB ...\"]" >&2; exit 2 ;;
  esac
done

bench="${FEDGAN_BUILD_DIR:-build}/bench/fedgan-bench-transfer"
[[ -x "$bench" ]] || { echo "$bench not found: build first (scripts/build.sh)" >&2; exit 1; }

# Throughput of one OpenSSL primitive on 16384-byte blocks, in MiB/s (openssl prints 1000s of
# bytes per second).
openssl_mib_s() {
  openssl speed -evp "$1" -seconds 2 -bytes 16384 2>/dev/null |
    awk -v name="$1" 'tolower($1) == tolower(name) { v = $NF; sub(/k$/, "", v); print v * 1000 / 1048576 }'
}
aes_gcm_mib_s() { openssl_mib_s aes-128-gcm; }

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
aes_before=$(aes_gcm_mib_s)
declare -A rate sender receiver
for mib in $sizes; do
  out=$("$bench" --mib "$mib" --repeat "$repeat")
  echo "$out" >&2
  rate[$mib]=$(awk '{ print $6 }' <<< "$out" | median)
  sender[$mib]=$(awk '{ print $11 }' <<< "$out" | sort -n | tail -1)
  receiver[$mib]=$(awk '{ print $14 }' <<< "$out" | sort -n | tail -1)
done
aes_after=$(aes_gcm_mib_s)
aes=$(printf '%s\n%s\n' "$aes_before" "$aes_after" | median)

echo
echo "openssl speed -evp aes-128-gcm, 16 KiB blocks: ${aes_before} MiB/s before, ${aes_after} MiB/s after (median ${aes})"
echo
echo "| model | transfer MiB/s (median of $repeat) | ÷ AES-128-GCM | sender peak RSS | receiver peak RSS |"
echo "|---|---|---|---|---|"
for mib in $sizes; do
  ratio=$(awk -v r="${rate[$mib]}" -v a="$aes" 'BEGIN { printf "%.2f", r / a }')
  echo "| ${mib} MiB | ${rate[$mib]} | ${ratio} | ${sender[$mib]} MiB | ${receiver[$mib]} MiB |"
done
