#!/usr/bin/env bash
# Load on the coordinator's read-only endpoints while a job trains (issue 14,
# part 3; opt-in: the short CI version is tests/test_load_status.sh).
# Runs the same synthetic job twice on real daemons (ipc, loopback HTTP):
# unpolled, then with N status-REP pollers and M /metrics scrapers (each at
# most R requests a second; 0: as fast as answered) and K slow
# HTTP clients (half a request, or a whole one never read), E events
# subscribers that read every event and Z that never read, and C hostile
# control clients (garbage, empty and oversized frames, Lists), for the
# whole job (tests/tools/hb_load.c). Prints TRAIN throughput of both runs (chunks
# per TRAIN second, from the job's status) and their ratio, the load's
# answers, errors and latencies, and the coordinator's RSS (min/max, 1 s
# samples) under load, and what the stalled subscribers were left holding.
# --pairs P runs P such pairs, in the order unpolled-polled, polled-unpolled,
# ... (drift on a shared machine cancels), and prints every pair's ratio,
# their median, and the noise floor: the unpolled runs' own spread (max/min
# of P runs that differ in nothing) - a ratio inside it is no difference.
#   ops/load.sh [--status-clients N] [--http-clients M] [--rate R] [--slow K] [--event-clients E]
#               [--event-stalled Z] [--control-clients C] [--docs D] [--epochs E] [--workers W] [--pairs P]
#   (defaults 16, 8, 10/s, 200, 8, 64, 2, 1200 documents, 3 epochs, 2 workers, 1 pair; build/ must be built)
set -euo pipefail
cd "$(dirname "$0")/.."
ns=16 nh=8 rate=10 nslow=200 ne=8 nz=64 nc=2 docs=1200 epochs=3 nw=2 pairs=1
while (($#)); do
  case "$1" in
    --status-clients) ns=$2; shift ;; --http-clients) nh=$2; shift ;; --slow) nslow=$2; shift ;;
    --rate) rate=$2; shift ;; --event-clients) ne=$2; shift ;; --event-stalled) nz=$2; shift ;;
    --control-clients) nc=$2; shift ;;
    --docs) docs=$2; shift ;; --epochs) epochs=$2; shift ;; --workers) nw=$2; shift ;;
    --pairs) pairs=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "load.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
source tests/daemon_lib.sh build
LOAD=$B/tests/hb-load
[[ -x $LOAD ]] || { echo "load.sh: build first (cmake --build build)" >&2; exit 2; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# run NAME LOADED: one job; writes "chunks_per_train_s train_s" to $T/NAME.rate, and $T/NAME.load.json, $T/NAME.rss
run() {
  local n=$1 loaded=$2 i job lp=""
  start_coord "$n" --metrics "127.0.0.1:$PORT" --heartbeat-ms 200
  for i in $(seq "$nw"); do start_worker "$n-w$i" "$n" --heartbeat-ms 200; done
  wait_for 20 '[[ $(workers_live '"$n"') == '"$nw"' ]]' "$nw workers"
  job=$(hb "$n" submit --synthetic "$docs" --seq 64 --batch 16 --epochs "$epochs" --lr 1e-3 --min-workers "$nw" \
        --seed 1 2>>"$T/$n.log") || fail "submit"
  wait_for 60 '[[ $(job_state '"$n"' '"$job"') =~ TRAIN|EMBED|HEAD|DONE ]]' "job $job in TRAIN (or past it: a tiny job)"
  if ((loaded)); then
    /usr/bin/time -f "%U %S" -o "$T/$n.load.cpu" "$LOAD" --status "ipc://$T/$n-s" --status-clients "$ns" --http "127.0.0.1:$PORT" --http-clients "$nh" \
      --slow "$nslow" --rate "$rate" --events "ipc://$T/$n-e" --event-clients "$ne" --event-stalled "$nz" \
      --control "ipc://$T/$n-c" --control-clients "$nc" --seconds "$LOAD_SECONDS" > "$T/$n.load.json" &
    lp=$!
  fi
  : > "$T/$n.rss"
  while [[ ! $(job_state "$n" "$job") =~ DONE|FAILED ]]; do
    ps -o rss= -p "${PID[$n]}" >> "$T/$n.rss"; sleep 1
  done
  # the coordinator's CPU seconds (user + system) over the whole job
  awk '{print ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/${PID[$n]}/stat" > "$T/$n.cpu"
  [[ -n $lp ]] && wait "$lp"
  [[ $(job_state "$n" "$job") == DONE ]] || fail "job $job: $(status_json "$n" "$job")"
  status_json "$n" "$job" | json_get '"%.2f %.1f" % (d["jobs"][0]["chunks_done"] / d["jobs"][0]["train_s"], d["jobs"][0]["train_s"])' > "$T/$n.rate"
  for i in $(seq "$nw"); do stop "$n-w$i"; done
  stop "$n"
}
[[ $pairs =~ ^[1-9][0-9]*$ ]] || { echo "load.sh: --pairs $pairs: expected a count >= 1" >&2; exit 2; }
LOAD_SECONDS=0
quiet() { # pair P: the unpolled run
  run "quiet$1" 0
  read -r rate0 t0 < "$T/quiet$1.rate"
  echo "pair $1 unpolled: $rate0 chunks per TRAIN second (TRAIN $t0 s)"
  # the load lasts the whole job (the first unpolled run's TRAIN sets it)
  ((LOAD_SECONDS)) || LOAD_SECONDS=$(python3 -c "print(int($t0 * 1.5) + 10)")
}
polled() {
  run "polled$1" 1
  read -r rate1 t1 < "$T/polled$1.rate"
  echo "pair $1 polled:   $rate1 chunks per TRAIN second (TRAIN $t1 s) under $ns status pollers and $nh /metrics scrapers at ${rate}/s each, $nslow slow HTTP clients, $ne events subscribers and $nz stalled ones, $nc hostile control clients for $LOAD_SECONDS s"
}
for p in $(seq "$pairs"); do
  if ((p % 2)); then quiet "$p"; polled "$p"; else polled "$p"; quiet "$p"; fi
done
if ((pairs > 1)); then
  python3 - "$T" "$pairs" <<'EOF2'
import statistics, sys
t, n = sys.argv[1], int(sys.argv[2])
q = [float(open(f"{t}/quiet{p}.rate").read().split()[0]) for p in range(1, n + 1)]
l = [float(open(f"{t}/polled{p}.rate").read().split()[0]) for p in range(1, n + 1)]
r = [b / a for a, b in zip(q, l)]
print("pairs polled/unpolled: " + " ".join(f"{x:.3f}" for x in r) + f"; median {statistics.median(r):.3f}")
print(f"noise floor: the {n} unpolled runs span {min(q):.1f} .. {max(q):.1f} chunks/s (max/min {max(q) / min(q):.3f}); "
      f"the polled ones {min(l):.1f} .. {max(l):.1f}; median polled / median unpolled "
      f"{statistics.median(l) / statistics.median(q):.3f}")
EOF2
fi
echo "the last pair in detail:"
p=$pairs
read -r rate0 t0 < "$T/quiet$p.rate"
read -r rate1 t1 < "$T/polled$p.rate"
python3 - "$rate0" "$rate1" "$T/polled$p.load.json" "$T/polled$p.rss" "$T/quiet$p.cpu" "$T/polled$p.cpu" \
  "$T/polled$p.load.cpu" "$T/quiet$p.rss" <<'EOF2'
import json, sys
r0, r1 = float(sys.argv[1]), float(sys.argv[2])
c0, c1 = float(open(sys.argv[5]).read()), float(open(sys.argv[6]).read())
lc = sum(float(x) for x in open(sys.argv[7]).read().split()[-2:])
d = json.load(open(sys.argv[3]))
rss = [int(x) / 1024 for x in open(sys.argv[4]).read().split()]
rss0 = [int(x) / 1024 for x in open(sys.argv[8]).read().split()]
print(f"throughput polled/unpolled: {r1 / r0:.3f}")
print(f"CPU seconds: coordinator {c0:.1f} unpolled, {c1:.1f} polled; the load clients {lc:.1f} (on the same cores)")
for k in ("status", "http", "control"):
    s = d[k]
    print(f"{k:7s} {s['clients']} clients: {s['requests']} answers ({s['per_s']}/s), {s['errors']} errors, "
          f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, max {s['max_ms']} ms")
print(f"slow    {d['slow']['opened']} connections held, {d['slow']['still_open_at_end']} still open at the end")
e, z = d["events"], d["stalled"]
print(f"events  {e['clients']} subscribers: {e['min_per_client']}..{e['max_per_client']} events each ({e['per_s']}/s in all), "
      f"{e['gaps']} missing by seq, {e['bad']} malformed; {z['subscribers']} stalled ones held at most {z['held_max']} "
      f"events ({z['held_mean_bytes'] / 1024:.0f} KB each on average) when the run ended")
print(f"coordinator RSS under load: {min(rss):.1f} .. {max(rss):.1f} MB over {len(rss)} samples "
      f"(unpolled: {min(rss0):.1f} .. {max(rss0):.1f} MB over {len(rss0)})")
EOF2
