#!/usr/bin/env bash
# Tandem's bundled TURN against Debian's coturn, on this machine, in one run,
# with two load clients: Tandem's own (`tandem bench turn`) and coturn's
# (`turnutils_uclient`, with `turnutils_peer` as the echo peer). Each client
# drives each server in turn, with the same clients, rate and datagram
# size, and the ratio of every pair is printed; the two clients must agree.
#
#   bench/compare.sh [PAIRS]     PAIRS defaults to 3
#
# Environment: CLIENTS (50), RATE (1000 datagrams/s per client), SIZE
# (1200 bytes), DURATION (10s), TRANSPORT (udp, tcp or tls: how Tandem's
# client reaches the servers; with tls, Tandem on its web port and coturn on
# its tls-listening-port, each with a self-signed certificate; coturn's
# client always uses UDP), CLIENTS_TOOL (tandem, uclient or both: which
# load clients to run; default both), TANDEM_FLAGS (extra flags for
# Tandem's server), OUT (a directory for the raw outputs; default a
# temporary one).
# The default load, 100,000 relayed packets/s, is within both servers'
# reach on a 2-core machine and compares their CPU; CLIENTS=100 (200,000
# offered) is past both, and compares the rates they reach.
#
# Pair i runs, in this order and skipping the clients not selected:
# Tandem with its own client, coturn with Tandem's client, Tandem with
# uclient, coturn with uclient. One table per client gives, for each pair
# and server, the relayed packets/s, the µs of server CPU per relayed
# packet and the loss %, and the ratios tandem/coturn of the rates and of
# the CPU; the median CPU ratio over the pairs follows each table.
#
# Tandem's client reports all three numbers itself. uclient allocates all
# its clients, then starts each one's sending at a random moment 1 to 6 s
# later, RATE datagrams/s (-z 1000/RATE ms, so RATE must divide 1000 to be
# exact, and be at most 1000), each echoed by the peer on 127.0.0.2. The
# script has every client send for DURATION + 5 s, so that all of them
# send together for DURATION, and measures only that full-load phase: it
# samples every 0.1 s the server's CPU ticks (/proc/PID/stat) and the
# system's received UDP datagrams (InDatagrams in /proc/net/snmp), and
# keeps the intervals in which datagrams arrive at no less than 85% of
# the run's 90th-percentile rate. Every echoed message is 4 datagrams
# received (client->server, server->peer, peer->server, server->client)
# and 2 packets relayed, so over the kept intervals: relayed packets =
# datagrams/2, packets/s = relayed / their time, µs per packet = CPU
# time / relayed. Loss is uclient's "Total lost packets", over the whole
# run. Because the datagram count is system-wide, nothing else on the
# machine may send UDP during the run.
#
# Installs coturn with apt-get if it is missing. coturn runs on 127.0.0.1
# with TURN REST credentials (--use-auth-secret) and loopback peers allowed,
# on a free port; it is started for each of its runs and stopped by its PID.
# Tandem is this repository's build, started by `tandem bench turn` itself
# for Tandem's client, and by this script (with `tandem bench flags`, and
# 24 h credentials allowed, as coturn's tools mint them) for uclient. Every
# process the script starts is stopped by its PID when it exits.
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
CLIENTS_TOOL=${CLIENTS_TOOL:-both}
OUT=${OUT:-$(mktemp -d -t tandem-compare-XXXXXX)}
mkdir -p "$OUT"

case $CLIENTS_TOOL in
  tandem) TOOLS=(tandem) ;;
  uclient) TOOLS=(uclient) ;;
  both) TOOLS=(tandem uclient) ;;
  *) echo "compare: CLIENTS_TOOL must be tandem, uclient or both" >&2; exit 2 ;;
esac
uses() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

# seconds DURATION prints a Go-style duration (10s, 1m30s, 500ms) in seconds.
seconds() {
  awk -v d="$1" 'BEGIN {
    unit["h"] = 3600; unit["m"] = 60; unit["s"] = 1; unit["ms"] = 0.001
    while (match(d, /^[0-9.]+(ms|h|m|s)/)) {
      v = substr(d, 1, RLENGTH); u = v; sub(/^[0-9.]+/, "", u)
      t += (v + 0) * unit[u]; d = substr(d, RLENGTH + 1)
    }
    if (d != "" || t <= 0) exit 1
    print t
  }'
}

if uses uclient; then
  if [ "$RATE" -lt 1 ] || [ "$RATE" -gt 1000 ]; then
    echo "compare: uclient needs RATE between 1 and 1000" >&2
    exit 2
  fi
  INTERVAL_MS=$((1000 / RATE))
  if [ $((1000 % RATE)) -ne 0 ]; then
    echo "compare: RATE $RATE does not divide 1000; uclient sends every $INTERVAL_MS ms" >&2
  fi
  DURATION_S=$(seconds "$DURATION") || { echo "compare: bad DURATION $DURATION" >&2; exit 2; }
  MESSAGES=$(awk -v r="$RATE" -v d="$DURATION_S" 'BEGIN {printf "%d", r * (d + 5)}')
fi


need_coturn
BIN="$OUT/tandem"
go build -o "$BIN" ./cmd/tandem

# Every process started here, stopped by its PID on the way out (also on
# an error or Ctrl-C). Clients run in the background and are waited for,
# so that a signal reaches the script at once.
COTURN_PID="" TANDEM_PID="" PEER_PID="" SAMPLER_PID="" CLIENT_PID=""
stop_tandem() { stop "$TANDEM_PID"; TANDEM_PID=""; }
cleanup() {
  stop "$CLIENT_PID"
  stop "$SAMPLER_PID"
  stop_coturn
  stop_tandem
  stop "$PEER_PID"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# client CMD...: runs a load client in the background and waits for it.
client() {
  "$@" &
  CLIENT_PID=$!
  local rc=0
  wait "$CLIENT_PID" || rc=$?
  CLIENT_PID=""
  return "$rc"
}

SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
BENCH_ARGS=(-clients "$CLIENTS" -rate "$RATE" -size "$SIZE" -duration "$DURATION" -transport "$TRANSPORT" -timeout 4m)
if [ "$TRANSPORT" = tls ] && uses tandem; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$OUT/coturn-key.pem" -out "$OUT/coturn-cert.pem" 2>/dev/null
fi

run_tandem() { # $1 = output file
  client timeout 300 "$BIN" bench turn "${BENCH_ARGS[@]}" -server-flags "${TANDEM_FLAGS:-}" >"$1" 2>"$1.log"
}

run_coturn() { # $1 = output file
  local port tls_args=(--no-tls) target
  port=$(free_port)
  target=$port
  if [ "$TRANSPORT" = tls ]; then
    target=$(free_port)
    tls_args=(--tls-listening-port="$target" --cert="$OUT/coturn-cert.pem" --pkey="$OUT/coturn-key.pem")
  fi
  start_coturn "$1.coturn.log" "$port" "${tls_args[@]}"
  wait_listen tcp "$target"
  client timeout 300 "$BIN" bench turn "${BENCH_ARGS[@]}" -server "127.0.0.1:$target" -secret "$SECRET" -pid "$COTURN_PID" >"$1" 2>"$1.log"
  stop_coturn
}

# field FILE: relayed packets/s, µs of server CPU per packet, loss %, from
# Tandem's client.
field() {
  awk '/^relayed/ {pps=$2} /^server CPU/ {cpu=$5} /^datagrams/ {gsub("%","",$7); loss=$7} END {print pps, cpu, loss}' "$1"
}

# The echo peer for uclient, on 127.0.0.2 (it listens on PEER_PORT and
# PEER_PORT+1).
if uses uclient; then
  PEER_PORT=$(free_port 2)
  turnutils_peer -L 127.0.0.2 -p "$PEER_PORT" >"$OUT/peer.log" 2>&1 &
  PEER_PID=$!
  wait_listen udp "$PEER_PORT"
fi

# sample PID: every 0.1 s, the time, PID's CPU ticks (user + system) and
# the system's received UDP datagrams, until killed or PID exits.
sample() {
  local st udp n
  while read -r -a st <"/proc/$1/stat"; do
    n=0
    while read -r -a udp; do
      if [ "${udp[0]}" = Udp: ]; then
        n=$((n + 1))
        [ "$n" = 2 ] && break
      fi
    done </proc/net/snmp
    echo "$(date +%s.%N) $((st[13] + st[14])) ${udp[1]}"
    sleep 0.1
  done 2>/dev/null
}

# uclient SERVER_PID PORT OUTPUT: drives the server on 127.0.0.1:PORT with
# uclient while sampling it; writes to OUTPUT the relayed packets/s, µs of
# server CPU per packet and loss % (raw samples in OUTPUT.samples, client
# output in OUTPUT.log).
uclient() {
  local pid=$1 port=$2 out=$3
  sample "$pid" >"$out.samples" &
  SAMPLER_PID=$!
  client timeout $((300 + ${DURATION_S%.*})) turnutils_uclient -m "$CLIENTS" -n "$MESSAGES" -z "$INTERVAL_MS" \
    -l "$SIZE" -c -e 127.0.0.2 -r "$PEER_PORT" -u user -W "$SECRET" -p "$port" 127.0.0.1 >"$out.log" 2>&1 || {
    echo "compare: uclient failed, see $out.log" >&2
    return 1
  }
  stop "$SAMPLER_PID"
  SAMPLER_PID=""
  local loss
  loss=$(awk '/Total lost packets/ {s=$0; sub(/.*Total lost packets [0-9]+ \(/, "", s); sub(/%.*/, "", s); l=s+0} END {printf "%.2f", l}' "$out.log")
  # Interval rates; the full-load ones are those at >= 85% of the 90th
  # percentile of the intervals with traffic (more than 1% of the offered).
  awk -v offered=$((CLIENTS * RATE * 4)) -v loss="$loss" '
    NR > 1 && $1 > t {
      dt = $1 - t; dd = $3 - d
      if (dd > 0.01 * offered * dt) { n++; DT[n] = dt; DD[n] = dd; TK[n] = $2 - c; R[n] = dd / dt; S[n] = R[n] }
    }
    { t = $1; c = $2; d = $3 }
    END {
      if (n == 0) { print 0, 0, loss; exit }
      for (i = 2; i <= n; i++) for (j = i; j > 1 && S[j - 1] > S[j]; j--) { x = S[j]; S[j] = S[j - 1]; S[j - 1] = x }
      cut = 0.85 * S[int(0.9 * (n - 1)) + 1]
      for (i = 1; i <= n; i++) if (R[i] >= cut) { T += DT[i]; ticks += TK[i]; dgrams += DD[i] }
      relayed = dgrams / 2
      printf "%.0f %.1f %s\n", relayed / T, ticks * 10000 / relayed, loss
    }' "$out.samples" >"$out"
}

run_tandem_uclient() { # $1 = output file
  local http port flags
  http=$(free_port)
  port=$(free_port)
  read -r -a flags <<<"$(server_flags) ${TANDEM_FLAGS:-}"
  "$BIN" "${flags[@]}" -addr "127.0.0.1:$http" -turn-addr "127.0.0.1:$port" -turn-secret "$SECRET" \
    -turn-allow-peers 127.0.0.2/32 -turn-credential-ttl 24h -turn-public-ip 127.0.0.1 >"$1.server.log" 2>&1 &
  TANDEM_PID=$!
  wait_listen udp "$port"
  uclient "$TANDEM_PID" "$port" "$1"
  stop_tandem
}

run_coturn_uclient() { # $1 = output file
  local port
  port=$(free_port)
  start_coturn "$1.coturn.log" "$port" --no-tls
  wait_listen udp "$port"
  uclient "$COTURN_PID" "$port" "$1"
  stop_coturn
}

echo "compare: $PAIRS pairs, $CLIENTS clients x $RATE datagrams/s x $SIZE bytes for $DURATION" \
  "(Tandem's client over $TRANSPORT, uclient over udp), clients: ${TOOLS[*]}; outputs in $OUT"
declare -A ROWS RATIOS
for i in $(seq "$PAIRS"); do
  for tool in "${TOOLS[@]}"; do
    if [ "$tool" = tandem ]; then
      run_tandem "$OUT/tandem-$i.txt"
      sleep 1
      run_coturn "$OUT/coturn-$i.txt"
      sleep 1
      read -r tp tc tl <<<"$(field "$OUT/tandem-$i.txt")"
      read -r cp cc cl <<<"$(field "$OUT/coturn-$i.txt")"
    else
      run_tandem_uclient "$OUT/tandem-uclient-$i.txt"
      sleep 1
      run_coturn_uclient "$OUT/coturn-uclient-$i.txt"
      sleep 1
      read -r tp tc tl <"$OUT/tandem-uclient-$i.txt"
      read -r cp cc cl <"$OUT/coturn-uclient-$i.txt"
    fi
    read -r rr cr <<<"$(awk -v a="$tp" -v b="$cp" -v x="$tc" -v y="$cc" 'BEGIN {
      printf "%s %s\n", (b > 0 ? sprintf("%.2f", a/b) : "-"), (y > 0 ? sprintf("%.2f", x/y) : "-")}')"
    row=$(printf '%-5s %-28s %-28s %s, %s' "$i" "$tp $tc $tl" "$cp $cc $cl" "$rr" "$cr")
    echo "compare: $tool client: $row" >&2
    ROWS[$tool]+=$row$'\n'
    RATIOS[$tool]+="$cr"$'\n'
  done
done

for tool in "${TOOLS[@]}"; do
  echo
  if [ "$tool" = tandem ]; then echo "Tandem's client (tandem bench turn, $TRANSPORT):"; else echo "coturn's client (turnutils_uclient, udp):"; fi
  printf '%-5s %-28s %-28s %s\n' pair "tandem pkt/s µs/pkt loss%" "coturn pkt/s µs/pkt loss%" "rate ratio, CPU ratio (tandem/coturn)"
  printf '%s' "${ROWS[$tool]}"
  median=$(printf '%s' "${RATIOS[$tool]}" | grep -v '^-$' | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  echo "median CPU ratio (tandem/coturn): $median"
done
