#!/usr/bin/env bash
# bench/versus-socketio.sh [PAIRS_OF_RUNS]: `tandem bench signal` against the
# classic socket.io signaling server (../shared/baselines/socketio-ref, or
# $SOCKETIO_REF) and against Tandem, alternately (A B A B), with the same
# Go driver, which does not saturate before either server does. Prints the
# ratio of the highest clean relay rates for each pair of runs. Run from the
# repository root after `go build -o tandem ./cmd/tandem`; needs node, and
# runs `npm ci` in a copy of the reference server when it has no
# node_modules. Everything listens on 127.0.0.1 and is stopped by PID.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
RUNS=${1:-3}
BIN=${BIN:-./tandem}
REF=${SOCKETIO_REF:-../shared/baselines/socketio-ref}
ARGS=${ARGS:-"-pairs 1000 -join-rate 2000 -rate 5000 -steps 2500,5000,10000,20000,30000,40000,60000,80000 -refine 2 -step-duration 5s -timeout 4m"}

work=$(mktemp -d)
sio_pid=""
cleanup() { [ -z "$sio_pid" ] || kill "$sio_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cp -r "$REF" "$work/ref"
[ -d "$work/ref/node_modules" ] || (cd "$work/ref" && npm ci --no-audit --no-fund >/dev/null)

max_rate() { sed -n 's/^max clean rate *\([0-9]*\) msg\/s.*/\1/p' "$1"; }

for i in $(seq "$RUNS"); do
  port=$(free_port)
  (cd "$work/ref" && PORT=$port exec node server.js >"$work/sio.log" 2>&1) &
  sio_pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  echo "=== run $i: socket.io ($(date -u +%H:%M:%SZ), load $(cut -d' ' -f1 /proc/loadavg))"
  # shellcheck disable=SC2086
  "$BIN" bench signal -protocol socketio -url "http://127.0.0.1:$port" -pid "$sio_pid" $ARGS 2>/dev/null | tee "$work/sio-$i.txt"
  kill "$sio_pid"; wait "$sio_pid" 2>/dev/null || true; sio_pid=""
  echo "=== run $i: Tandem ($(date -u +%H:%M:%SZ), load $(cut -d' ' -f1 /proc/loadavg))"
  # shellcheck disable=SC2086
  "$BIN" bench signal $ARGS 2>/dev/null | tee "$work/tandem-$i.txt"
  s=$(max_rate "$work/sio-$i.txt"); t=$(max_rate "$work/tandem-$i.txt")
  echo "=== run $i: highest clean rate socket.io ${s:-0}, Tandem ${t:-0} msg/s, ratio $(awk -v s="${s:-0}" -v t="${t:-0}" 'BEGIN { if (s > 0) printf "%.2f", t / s; else print "-" }')"
done
