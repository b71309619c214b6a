#!/usr/bin/env bash
# bench/cluster.sh: `tandem bench signal` against one instance (rooms in
# memory), then against two instances sharing a Redis, with every pair split
# across them, so every message crosses Redis. Run from the repository root
# after `go build -o tandem ./cmd/tandem`; needs redis-server. Everything it
# starts listens on 127.0.0.1 and is stopped by PID at the end.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
BIN=${BIN:-./tandem}
ARGS=${ARGS:-"-pairs 1000 -rate 5000 -steps 2000,5000,10000,20000 -step-duration 3s -refine 1 -timeout 3m"}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --loglevel warning >/dev/null 2>&1 &
pids+=($!)
redis_url="redis://127.0.0.1:$redis_port/0"

start() { # start NAME EXTRA_FLAGS...: runs an instance, sets ${NAME}_url and ${NAME}_pid
  local name=$1; shift
  local port; port=$(free_port)
  # shellcheck disable=SC2046 # the flags are separate words
  "$BIN" $(server_flags) -addr "127.0.0.1:$port" -turn-addr "127.0.0.1:$(free_port)" "$@" 2>"/tmp/tandem-cluster-$name.log" &
  pids+=($!)
  printf -v "${name}_url" 'http://127.0.0.1:%s' "$port"
  printf -v "${name}_pid" '%s' "$!"
}
start single
start a -redis "$redis_url"
start b -redis "$redis_url"
sleep 1

echo "=== one instance, rooms in memory"
# shellcheck disable=SC2086
"$BIN" bench signal -url "$single_url" -pid "$single_pid" $ARGS
echo "=== two instances sharing Redis: the second client of every room joins through B"
# shellcheck disable=SC2086
"$BIN" bench signal -url "$a_url" -peer-url "$b_url" -pid "$a_pid" $ARGS
echo "=== Redis commands"
redis-cli -p "$redis_port" info commandstats | grep -E "cmdstat_(evalsha|eval|publish):"
