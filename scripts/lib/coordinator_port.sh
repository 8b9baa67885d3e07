# shellcheck shell=bash
# coordinator_port LOG PID: prints the port a `fedgan-coordinator serve` started with
# --server.port 0 reports in its log ("listening on 127.0.0.1:PORT; ..."), once it has. Fails,
# showing the log, when the process ends first, and after 60 s.
coordinator_port() {
  local log="$1" pid="$2" port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$log" || true)
    if [[ -n "$port" ]]; then
      echo "$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "the coordinator did not report its port within 60 s; see $log" >&2
  return 1
}
