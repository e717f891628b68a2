# ops/local-cluster.sh - sourced by ops/demo.sh and ops/bench-embed.sh: a
# coordinator and W workers of T threads on ipc:// sockets in the temp dir
# $T, binaries from $B; appends their pids to the caller's pids array and
# sets C (the CLI's --control flag) and DASHBOARD (the coordinator's HTTP
# port on loopback: 9464 when free, else any free port). Logs:
# $T/coordinator.log, $T/worker<i>.log.
# The coordinator reads datasets beneath $PWD/data (data/corpora) and $T, and
# exports beneath $T (HB_DATASET_ROOTS, HB_EXPORT_ROOT override).
#   local_cluster_start W T
local_cluster_start() {
  local w=$1 t=$2 i
  C="--control ipc://$T/c"
  local port
  port=$(python3 -c 'import socket
s = socket.socket()
try: s.bind(("127.0.0.1", 9464))
except OSError: s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
  DASHBOARD="http://127.0.0.1:$port/"
  "$B/coordinator/hierbert-coordinator" --work "ipc://$T/w" --control "ipc://$T/c" --status "ipc://$T/s" \
    --events "ipc://$T/e" --data-dir "$T/data" --metrics "127.0.0.1:$port" \
    --dataset-roots "${HB_DATASET_ROOTS:-$PWD/data:$T}" --export-root "${HB_EXPORT_ROOT:-$T}" >"$T/coordinator.log" 2>&1 &
  pids+=($!)
  for i in $(seq "$w"); do
    "$B/worker/hierbert-worker" --work "ipc://$T/w" --id "worker$i" --threads "$t" >"$T/worker$i.log" 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 100); do "$B/cli/hierbert" list $C --timeout 0.5 >/dev/null 2>&1 && break; sleep 0.1; done
}
