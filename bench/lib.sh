# bench/lib.sh: shared by the bench scripts (sourced, not run).

# SERVER_FLAGS lift the per-address and per-connection limits for Tandem
# servers that one machine's bench clients load (as bench.ServerFlags does
# for the servers `tandem bench` starts itself).
SERVER_FLAGS="-log-level warn -max-conns-per-ip -1 -joins-per-ip-per-minute -1 -message-burst -1 -max-conns -1 -max-rooms -1 -turn-secret bench"

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
