#!/usr/bin/env bash
# How many relayed 1:1 video calls this machine holds, Tandem's bundled TURN
# against Debian's coturn, with the same tool: `tandem bench capacity` ramps
# calls (both people relayed, 1.5 Mbit/s of video and 50 audio packets/s
# each way) until loss reaches 0.5 % or the added delay's p99 20 ms.
#
#   bench/capacity.sh [ROUNDS]     ROUNDS (Tandem then coturn) defaults to 1
#
# Environment: STEPS (10,20,40,60,80,100,130,160,200), STEP_DURATION (8s),
# OUT (a directory for the raw outputs; default a temporary one).
# The load generator runs on the same machine as the server: on a small
# machine the figure is a floor.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

ROUNDS=${1:-1}
STEPS=${STEPS:-10,20,40,60,80,100,130,160,200}
STEP_DURATION=${STEP_DURATION:-8s}
OUT=${OUT:-$(mktemp -d -t tandem-capacity-XXXXXX)}
mkdir -p "$OUT"

need_coturn
BIN="$OUT/tandem"
go build -o "$BIN" ./cmd/tandem

trap stop_coturn EXIT
SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
ARGS=(-steps "$STEPS" -step-duration "$STEP_DURATION" -timeout 15m)

for i in $(seq "$ROUNDS"); do
  timeout 1000 "$BIN" bench capacity "${ARGS[@]}" >"$OUT/tandem-$i.txt" 2>"$OUT/tandem-$i.log"
  port=$(free_port)
  start_coturn "$OUT/coturn-$i.coturn.log" "$port" --no-tls
  wait_listen tcp "$port"
  timeout 1000 "$BIN" bench capacity "${ARGS[@]}" -server "127.0.0.1:$port" -secret "$SECRET" -pid "$COTURN_PID" \
    >"$OUT/coturn-$i.txt" 2>"$OUT/coturn-$i.log"
  stop_coturn
  echo "round $i"
  echo "tandem:"; cat "$OUT/tandem-$i.txt"
  echo "coturn:"; cat "$OUT/coturn-$i.txt"
done
echo "capacity: outputs in $OUT"
