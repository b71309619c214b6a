# bench/lib.sh: shared by the bench scripts (sourced, not run).

# server_flags prints the flags that lift the per-address and
# per-connection limits for Tandem servers that one machine's bench clients
# load: the ones `tandem bench` gives the servers it starts itself
# (bench.LimitFlags), from the binary $BIN.
server_flags() { "$BIN" bench flags; }

# free_port prints a port free on 127.0.0.1 for UDP and TCP, outside the
# relay range 49152-65535 and the ephemeral range.
free_port() {
  local p
  for p in $(shuf -i 20000-30000 -n 100); do
    if ! ss -Hlnu "sport = :$p" | grep -q . && ! ss -Hlnt "sport = :$p" | grep -q .; then
      echo "$p"
      return 0
    fi
  done
  echo "bench: no free port" >&2
  return 1
}
