#!/usr/bin/env bash
# Runs from the repository root; every process it starts is stopped by PID.
# Bench signal: one instance vs two instances sharing Redis, same parameters.
set -u
BIN=${BIN:-./tandem}  # go build -o tandem ./cmd/tandem
FLAGS="-log-level warn -max-conns-per-ip -1 -joins-per-ip-per-minute -1 -message-burst -1 -max-conns -1 -max-rooms -1 -turn-secret s"
redis-server --bind 127.0.0.1 --port 26399 --save "" --appendonly no --loglevel warning >/dev/null 2>&1 & RP=$!
sleep 0.5
$BIN $FLAGS -addr 127.0.0.1:18081 -turn-addr 127.0.0.1:13481 -redis redis://127.0.0.1:26399/0 2>/tmp/a.log & AP=$!
$BIN $FLAGS -addr 127.0.0.1:18082 -turn-addr 127.0.0.1:13482 -redis redis://127.0.0.1:26399/0 2>/tmp/b.log & BP=$!
$BIN $FLAGS -addr 127.0.0.1:18083 -turn-addr 127.0.0.1:13483 2>/tmp/c.log & CP=$!
sleep 1
ARGS="-pairs 1000 -rate 5000 -steps 2000,5000,10000,20000 -step-duration 3s -refine 1 -timeout 3m"
echo "=== one instance, rooms in memory"
$BIN bench signal -url http://127.0.0.1:18083 -pid $CP $ARGS 2>/tmp/bench-c.err
echo "=== two instances, Redis: every pair split across A and B"
$BIN bench signal -url http://127.0.0.1:18081 -peer-url http://127.0.0.1:18082 -pid $AP $ARGS 2>/tmp/bench-ab.err
kill $AP $BP $CP; wait $AP $BP $CP 2>/dev/null
redis-cli -p 26399 info commandstats | grep -E "evalsha|publish|cmdstat_eval" | head
kill $RP; wait $RP 2>/dev/null
