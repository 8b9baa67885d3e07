#!/usr/bin/env bash
# End-to-end checks of the fedgan-certs binary: a development PKI whose certificates the real
# `openssl verify` accepts for their roles, owner-only key files, a step-by-step PKI with a CRL,
# and refusals (overwrite without --force, an unsafe file name) with a message and exit code 1.
#   usage: certs_cli_test.sh PATH/TO/fedgan-certs
set -euo pipefail

certs="$1"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# dev: CA, coordinator for localhost/127.0.0.1/::1, site-1..site-3, and a clear warning.
"$certs" dev --dir "$work/dev" --clients 3 >"$work/dev.log"
grep -qi "local use only" "$work/dev.log" || fail "dev does not say its certificates are for local use"
for f in ca coordinator site-1 site-2 site-3; do
  [[ -s "$work/dev/$f.pem" && -s "$work/dev/$f.key" ]] || fail "dev did not write $f.pem/$f.key"
  [[ "$(stat -c %a "$work/dev/$f.key")" == 600 ]] || fail "$f.key is not mode 0600"
done
if command -v openssl >/dev/null; then
  openssl verify -CAfile "$work/dev/ca.pem" -purpose sslserver -verify_ip 127.0.0.1 \
    "$work/dev/coordinator.pem" >/dev/null || fail "coordinator certificate does not verify for 127.0.0.1"
  openssl verify -CAfile "$work/dev/ca.pem" -purpose sslserver -verify_hostname localhost \
    "$work/dev/coordinator.pem" >/dev/null || fail "coordinator certificate does not verify for localhost"
  openssl verify -CAfile "$work/dev/ca.pem" -purpose sslclient "$work/dev/site-2.pem" >/dev/null \
    || fail "site-2 does not verify as a client"
  if openssl verify -CAfile "$work/dev/ca.pem" -purpose sslserver "$work/dev/site-2.pem" \
    >/dev/null 2>&1; then
    fail "a client certificate verifies as a server"
  fi
fi
"$certs" show "$work/dev/site-3.pem" | grep -q "site-3" || fail "show does not print the CN"

# Step by step: CA, server, client, then revoke the client.
"$certs" ca --dir "$work/pki" --cn "test federation" >/dev/null
"$certs" server --dir "$work/pki" --cn coordinator --dns fedgan.example.org --ip 10.0.0.5 >/dev/null
"$certs" client --dir "$work/pki" --cn hospital-a >/dev/null
[[ -s "$work/pki/hospital-a.pem" ]] || fail "client certificate not written under its CN"
"$certs" crl --dir "$work/pki" --revoke "$work/pki/hospital-a.pem" >/dev/null
if command -v openssl >/dev/null; then
  if openssl verify -crl_check -CAfile "$work/pki/ca.pem" -CRLfile "$work/pki/crl.pem" \
    "$work/pki/hospital-a.pem" >/dev/null 2>&1; then
    fail "a revoked certificate passes the CRL check"
  fi
fi

# Refusals: exit 1 with a message naming the problem.
if "$certs" ca --dir "$work/pki" 2>"$work/err.txt"; then fail "ca overwrote an existing CA"; fi
grep -q -- "--force" "$work/err.txt" || fail "overwrite refusal does not mention --force"
if "$certs" client --dir "$work/pki" --cn "../evil" 2>"$work/err.txt"; then
  fail "an unsafe file name was accepted"
fi
grep -q "fedgan-certs: error:" "$work/err.txt" || fail "error is not prefixed"
if "$certs" server --dir "$work/pki" --cn other --out-name other 2>"$work/err.txt"; then
  fail "a server certificate without subjectAltName was issued"
fi
echo "fedgan-certs CLI: all checks passed"
