# bench/lib.sh: shared by the bench scripts (sourced, not run).

# server_flags prints the flags that lift the per-address and
# per-connection limits for Tandem servers that one machine's bench clients
# load: the ones `tandem bench` gives the servers it starts itself
# (bench.LimitFlags), from the binary $BIN.
server_flags() { "$BIN" bench flags; }

# free_port [N] prints a port P such that P .. P+N-1 (N defaults to 1) are
# free for UDP and TCP on every address, outside the relay range
# 49152-65535 and the ephemeral range.
free_port() {
  local p q n=${1:-1}
  for p in $(shuf -i 20000-30000 -n 100); do
    for ((q = p; q < p + n; q++)); do
      if ss -Hlnu "sport = :$q" | grep -q . || ss -Hlnt "sport = :$q" | grep -q .; then
        continue 2
      fi
    done
    echo "$p"
    return 0
  done
  echo "bench: no free port" >&2
  return 1
}

# need_coturn installs Debian's coturn when turnserver is missing.
need_coturn() {
  command -v turnserver >/dev/null 2>&1 && return 0
  echo "bench: installing coturn" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >/dev/null
}

# stop PID: stops a process this script started, if it still runs.
stop() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# start_coturn LOG PORT [ARGS...]: starts coturn on 127.0.0.1:PORT with
# TURN REST credentials of $SECRET and loopback peers allowed, relays on
# 49152-65535, and sets COTURN_PID; ARGS are more flags (--no-tls, or a
# TLS port and certificate). stop_coturn stops it.
start_coturn() {
  local log=$1 port=$2
  shift 2
  turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$port" \
    --use-auth-secret --static-auth-secret="$SECRET" --realm=tandem "$@" \
    --no-dtls --no-cli --allow-loopback-peers --no-tcp-relay \
    --min-port=49152 --max-port=65535 --log-file=stdout --no-stdout-log >"$log" 2>&1 &
  COTURN_PID=$!
}
stop_coturn() { stop "${COTURN_PID:-}"; COTURN_PID=""; }

# wait_listen tcp|udp PORT: waits up to 10 s for something to listen there.
wait_listen() {
  local flag=-Hlnt
  [ "$1" = udp ] && flag=-Hlnu
  for _ in $(seq 100); do
    ss "$flag" "sport = :$2" | grep -q . && return 0
    sleep 0.1
  done
  echo "bench: nothing listens on $1 port $2" >&2
  return 1
}
