#!/usr/bin/env bash
# bench/cpu-split.sh [RATE...]: where the machine's cores go when Tandem
# relays. For each rate it starts a Tandem server, runs `tandem bench signal`
# at that fixed rate for $DURATION, and prints the CPU per relayed message of
# the server and of the driver, each split into user and system (kernel)
# time. A join-only run first measures what joining costs, which is taken
# off each rate's figures. Run from the repository root after
# `go build -o tandem ./cmd/tandem`; everything listens on 127.0.0.1 and is
# stopped by PID.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
BIN=${BIN:-./tandem}
DURATION=${DURATION:-20}
RATES=${*:-20000 40000 60000}
TCK=$(getconf CLK_TCK)

work=$(mktemp -d)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# cpu prints a process's user and system seconds.
cpu() { awk -v t="$TCK" '{ printf "%.2f %.2f", $14 / t, $15 / t }' "/proc/$1/stat"; }

# measure RATE prints "server_user server_sys driver_user driver_sys" in
# seconds for one run, and leaves the driver's output in $work/RATE.txt.
measure() {
  local port before after driver
  port=$(free_port)
  # shellcheck disable=SC2046 # the flags are separate words
  "$BIN" -addr "127.0.0.1:$port" -turn-addr "127.0.0.1:$(free_port)" $(server_flags) >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  before=$(cpu "$pid")
  driver=$( { TIMEFORMAT='%U %S'; time "$BIN" bench signal -url "http://127.0.0.1:$port" -pid "$pid" \
    -pairs 1000 -join-rate 2000 -rate "$1" -steps "" -step-duration "${DURATION}s" -timeout 2m \
    >"$work/$1.txt" 2>/dev/null; } 2>&1)
  after=$(cpu "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  echo "$before $after $driver" | awk '{ printf "%.2f %.2f %s %s", $3 - $1, $4 - $2, $5, $6 }'
}

echo "$(date -u +%H:%M:%SZ), load $(cut -d' ' -f1 /proc/loadavg), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
read -r ju js jdu jds <<<"$(measure 0)"
printf '%-8s %-22s %-22s %-8s %s\n' "msg/s" "server user/sys µs" "driver user/sys µs" "all µs" "relay"
for rate in $RATES; do
  read -r su ss du ds <<<"$(measure "$rate")"
  awk -v n="$((rate * DURATION))" -v r="$rate" -v su="$su" -v ss="$ss" -v du="$du" -v ds="$ds" \
    -v ju="$ju" -v js="$js" -v jdu="$jdu" -v jds="$jds" -v relay="$(sed -n 's/^relay (fixed) *//p' "$work/$rate.txt")" 'BEGIN {
      a = (su - ju) / n * 1e6; b = (ss - js) / n * 1e6; c = (du - jdu) / n * 1e6; d = (ds - jds) / n * 1e6
      printf "%-8d %-22s %-22s %-8.1f %s\n", r, sprintf("%.1f / %.1f", a, b), sprintf("%.1f / %.1f", c, d), a + b + c + d, relay }'
done
