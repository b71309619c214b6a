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
