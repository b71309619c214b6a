#!/usr/bin/env bash
# Tandem's bundled TURN against Debian's coturn, on this machine, in one run:
# `tandem bench turn` drives each in turn (A B A B ...), with the same
# clients, rate and datagram size, and the ratio of every pair is printed.
#
#   bench/compare.sh [PAIRS]     PAIRS defaults to 3
#
# Environment: CLIENTS (50), RATE (1000 datagrams/s per client), SIZE
# (1200 bytes), DURATION (10s), TRANSPORT (udp, tcp or tls: how the clients
# reach the servers; with tls, Tandem on its web port and coturn on its
# tls-listening-port, each with a self-signed certificate), TANDEM_FLAGS
# (extra flags for Tandem's server), OUT (a directory for the raw outputs;
# default a temporary one).
# The default load, 100,000 relayed packets/s, is within both servers'
# reach on a 2-core machine and compares their CPU; CLIENTS=100 (200,000
# offered) is past both, and compares the rates they reach.
#
# Installs coturn with apt-get if it is missing. coturn runs on 127.0.0.1
# with TURN REST credentials (--use-auth-secret) and loopback peers allowed,
# on a free port; it is started for each of its runs and stopped by its PID.
# Tandem is this repository's build, started by `tandem bench turn` itself.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

PAIRS=${1:-3}
CLIENTS=${CLIENTS:-50}
RATE=${RATE:-1000}
SIZE=${SIZE:-1200}
DURATION=${DURATION:-10s}
TRANSPORT=${TRANSPORT:-udp}
OUT=${OUT:-$(mktemp -d -t tandem-compare-XXXXXX)}
mkdir -p "$OUT"

if ! command -v turnserver >/dev/null 2>&1; then
  echo "compare: installing coturn" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null
fi

BIN="$OUT/tandem"
go build -o "$BIN" ./cmd/tandem

COTURN_PID=""
stop_coturn() {
  if [ -n "$COTURN_PID" ] && kill -0 "$COTURN_PID" 2>/dev/null; then
    kill "$COTURN_PID"
    wait "$COTURN_PID" 2>/dev/null || true
  fi
  COTURN_PID=""
}
trap stop_coturn EXIT

SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
BENCH_ARGS=(-clients "$CLIENTS" -rate "$RATE" -size "$SIZE" -duration "$DURATION" -transport "$TRANSPORT" -timeout 4m)
if [ "$TRANSPORT" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$OUT/coturn-key.pem" -out "$OUT/coturn-cert.pem" 2>/dev/null
fi

run_tandem() { # $1 = output file
  timeout 300 "$BIN" bench turn "${BENCH_ARGS[@]}" -server-flags "${TANDEM_FLAGS:-}" >"$1" 2>"$1.log"
}

run_coturn() { # $1 = output file
  local port tls_args=(--no-tls) target
  port=$(free_port)
  target=$port
  if [ "$TRANSPORT" = tls ]; then
    target=$(free_port)
    tls_args=(--tls-listening-port="$target" --cert="$OUT/coturn-cert.pem" --pkey="$OUT/coturn-key.pem")
  fi
  turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$port" \
    --use-auth-secret --static-auth-secret="$SECRET" --realm=tandem "${tls_args[@]}" \
    --no-dtls --no-cli --allow-loopback-peers --no-tcp-relay \
    --min-port=49152 --max-port=65535 --log-file=stdout --no-stdout-log >"$1.coturn.log" 2>&1 &
  COTURN_PID=$!
  for _ in $(seq 50); do ss -Hlnt "sport = :$target" | grep -q . && break; sleep 0.1; done
  timeout 300 "$BIN" bench turn "${BENCH_ARGS[@]}" -server "127.0.0.1:$target" -secret "$SECRET" -pid "$COTURN_PID" >"$1" 2>"$1.log"
  stop_coturn
}

# field FILE: relayed packets/s, µs of server CPU per packet, loss %.
field() {
  awk '/^relayed/ {pps=$2} /^server CPU/ {cpu=$5} /^datagrams/ {gsub("%","",$7); loss=$7} END {print pps, cpu, loss}' "$1"
}

echo "compare: $PAIRS pairs, $CLIENTS clients x $RATE datagrams/s x $SIZE bytes over $TRANSPORT for $DURATION; outputs in $OUT"
printf '%-5s %-28s %-28s %s\n' pair "tandem pkt/s µs/pkt loss%" "coturn pkt/s µs/pkt loss%" "rate ratio, CPU ratio (tandem/coturn)"
for i in $(seq "$PAIRS"); do
  run_tandem "$OUT/tandem-$i.txt"
  sleep 1
  run_coturn "$OUT/coturn-$i.txt"
  sleep 1
  read -r tp tc tl <<<"$(field "$OUT/tandem-$i.txt")"
  read -r cp cc cl <<<"$(field "$OUT/coturn-$i.txt")"
  ratio=$(awk -v a="$tp" -v b="$cp" -v x="$tc" -v y="$cc" 'BEGIN {printf "%.2f, %.2f", a/b, x/y}')
  printf '%-5s %-28s %-28s %s\n' "$i" "$tp $tc $tl" "$cp $cc $cl" "$ratio"
done
