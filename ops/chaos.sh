#!/usr/bin/env bash
# ops/chaos.sh - the seeded chaos campaign (issue 14): real daemons, a real
# job, one fault a trial at a moment drawn from the trial's seed, then a
# checker over what survived.
#
#   ops/chaos.sh [--trials N] [--seed S] [--workers W] [--corpus small|synthetic|brown]
#                [--phases P1,P2,..] [--faults kill,stop] [--victims V1,..]
#                [--reduce coordinator|sharded] [--net] [--trial-seed X[,Y..]] [--build-dir DIR]
#                [--cache DIR] [--out DIR] [--keep] [--keep-slow S] [--help]
#
# Each trial starts a coordinator (heartbeat 100 ms, expiry 600 ms,
# checkpoint every 5 rounds), W workers (3) and the CLI on ipc:// endpoints
# in a private temp dir and submits one job (--corpus small: 240 seeded
# documents of 3 classes written by tests/chaos_check.py, the committed
# tests/data/vocab_small.txt, at most 3 chunks of L 32 each, tiny preset,
# batch 8, 2 epochs, AdamW with clipping, dropout on; --corpus brown:
# data/corpora/brown, L 64, at most 2 chunks a document).
# From the trial's seed (S*1000 + i, or --trial-seed X) it draws:
#   phase   INGEST, TRAIN, EVAL (the first epoch's validation round),
#           CHECKPOINT (a checkpoint round, at once), EMBED, HEAD, DONE (export)
#   moment  a fraction of the phase (its step; EMBED: of the fault-free
#           run's EMBED time from its state event; HEAD: head epochs, from its
#           events - `hierbert events`, as these last under a second here)
#   victim  a worker, the coordinator, both, or the CLI (INGEST: mid-submit;
#           DONE: mid-export)
#   fault   kill (-9; the coordinator is restarted at once, a worker after
#           1 s, as a supervisor would; the client submits or exports again
#           when its request was lost), or stop (SIGSTOP for 1.2 s, longer
#           than the expiry, then SIGCONT)
# --net (root: ip netns, tc): every daemon on its own host, a network
# namespace on a switch (a bridge in a namespace of its own; coordinator
# 10.78.0.1, worker i 10.78.0.(i+1)), workers and peers over TCP (the
# control, status and events endpoints stay ipc:// sockets in the trial's
# dir, so the CLI and the poller reach the coordinator whatever its link
# does), and two more faults (default faults kill,stop,partition,throttle):
#   partition  the victim's switch port down for 1.5 s (past the expiry;
#           its TCP connections stay open and resume), then up
#   throttle   the victim's link in both directions through tc tbf at 4 Mbit/s
#           for 3 s (a gradient of the tiny preset takes ~2 s through it:
#           a straggler, its heartbeats queued behind its gradient), then
#           the qdiscs removed
# (victim coordinator: its port, every worker cut off; both: its port and
# the worker's; the CLI is not a network victim: it talks over ipc://).
# The fault-free reference is the same run over ipc://: the transport must
# not change a bit.
# The checker, after the job: it reached DONE; every document is in the
# store exactly once with its chunk count, split and label; the step counter
# seen by a status poller (every 0.1 s) never went back but to a checkpoint
# after a coordinator restart or a sharded round's rollback (train_rollbacks
# grew: the rounds since the coordinator's last state run again), and ended
# at the total; the final checkpoint
# (parameters, moments, counters), the LSTM head, the result (every number
# but timings), every stored embedding and the exported directory are bit
# for bit those of a fault-free run of the same job and worker count (run
# once per configuration and cached in --cache, default
# build/chaos-cache); the status endpoint answered every poll while the
# coordinator was not down or stopped (within 5 s). Recovery: from the fault's end
# (SIGCONT for stop, the port up, the qdisc removed) until the job's progress passed
# where it stood at the fault; stall: ... passed where it stood at the fault's end
# (a throttled job crawls on, and may stand still after it: TCP's back-off).
# Prints one line a trial and a table per phase x fault: trials, passed,
# median recovery, longest stall. Exit 1 if any trial failed (its log in --out, kept).
# --keep keeps every trial's log and directory, --keep-slow S those of a
# passing trial that took S seconds or more (an outlier worth reading).
# --each N instead of --trials: N trials in every phase x fault cell (seed
# S*100000 + cell*1000 + j, the cell's phase and fault fixed; a trial of it
# is run again with --phases P --faults F --trial-seed X). --table F...
# prints the table of the trials.tsv files of earlier runs together.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
TRIALS=10 SEED=1 WORKERS=3 CORPUS=small BUILD=build CACHE= OUT= KEEP= KEEP_SLOW= ONE= REDUCE=coordinator NET= EACH=
PHASES=INGEST,TRAIN,EVAL,CHECKPOINT,EMBED,HEAD,DONE FAULTS= VICTIMS=worker,coordinator,both,cli
# the table per phase x fault of trials.tsv files (one or more runs)
table() {
python3 - "$@" <<'EOF'
import collections, statistics, sys
cells = collections.defaultdict(list)
for line in (l for p in sys.argv[1:] for l in open(p)):
    f = line.rstrip("\n").split("\t")
    tseed, phase, fault, victim, frac, verdict, rec, secs = f[:8]
    stall = int(f[9]) if len(f) > 9 else -1  # (runs before session 17 have none)
    cells[(phase, fault)].append((verdict == "pass", int(rec), f[8] if len(f) > 8 else "?", stall))
order = ["INGEST", "TRAIN", "EVAL", "CHECKPOINT", "EMBED", "HEAD", "DONE"]
print(f"{'phase':<11} {'fault':<9} {'trials':>6} {'passed':>6} {'median recovery':>16} {'max stall':>10}  state hit")
for (phase, fault) in sorted(cells, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1])):
    v = cells[(phase, fault)]
    recs = [r for ok, r, _, _ in v if r >= 0]
    stalls = [s for _, _, _, s in v if s >= 0]
    med = f"{statistics.median(recs) / 1000:.2f} s" if recs else "-"
    mst = f"{max(stalls) / 1000:.2f} s" if stalls else "-"
    hits = collections.Counter(h for _, _, h, _ in v)
    print(f"{phase:<11} {fault:<9} {len(v):>6} {sum(ok for ok, _, _, _ in v):>6} {med:>16} {mst:>10}  "
          + ", ".join(f"{h} {k}" for h, k in sorted(hits.items())))
EOF
}
while (($#)); do
  case "$1" in
    --trials) TRIALS=$2; shift ;;
    --each) EACH=$2; shift ;;
    --table) shift; table "$@"; exit ;;
    --seed) SEED=$2; shift ;;
    --workers) WORKERS=$2; shift ;;
    --corpus) CORPUS=$2; shift ;;
    --phases) PHASES=$2; shift ;;
    --faults) FAULTS=$2; shift ;;
    --victims) VICTIMS=$2; shift ;;
    --reduce) REDUCE=$2; shift ;;
    --net) NET=1 ;;
    --trial-seed) ONE=$2; shift ;;
    --build-dir) BUILD=$2; shift ;;
    --cache) CACHE=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    --keep-slow) KEEP_SLOW=$2; shift
      [[ $KEEP_SLOW =~ ^[0-9]+$ ]] || { echo "chaos.sh: --keep-slow $KEEP_SLOW: expected seconds" >&2; exit 2; } ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "chaos.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BUILD=$(cd "$BUILD" && pwd) || { echo "chaos.sh: no build directory" >&2; exit 2; }
for b in coordinator/hierbert-coordinator worker/hierbert-worker cli/hierbert; do
  [[ -x $BUILD/$b ]] || { echo "chaos.sh: $BUILD/$b not built" >&2; exit 2; }
done
CACHE=${CACHE:-$BUILD/chaos-cache}
if [[ -n $NET ]]; then
  FAULTS=${FAULTS:-kill,stop,partition,throttle}
  if ! e=$(ip netns add "hbchk$$" 2>&1); then
    echo "chaos.sh: --net needs root and network namespaces: $e" >&2
    exit 2
  fi
  ip netns del "hbchk$$"
  command -v tc >/dev/null || { echo "chaos.sh: --net needs tc (iproute2)" >&2; exit 2; }
fi
FAULTS=${FAULTS:-kill,stop}
[[ -n $NET || ! ,$FAULTS, =~ ,(partition|throttle), ]] || { echo "chaos.sh: partition and throttle need --net" >&2; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/hbchaos.XXXXXX)}
mkdir -p "$CACHE" "$OUT"
CHK="python3 $SRC/tests/chaos_check.py"

case $CORPUS in
  small)
    python3 "$SRC/tests/chaos_check.py" corpus "$CACHE/corpus-small"
    JOB=(--train "$CACHE/corpus-small/train.jsonl" --val "$CACHE/corpus-small/val.jsonl"
         --vocab "$SRC/tests/data/vocab_small.txt" --seq 32 --max-chunks 3 --batch 8 --epochs 2 --head-epochs 60) ;;
  synthetic) JOB=(--synthetic 240 --seq 32 --batch 8 --epochs 2) ;; # (no vocabulary: DONE's export is skipped)
  brown)
    [[ -f $SRC/data/corpora/brown/train.jsonl ]] || { echo "chaos.sh: no brown corpus (ops/fetch-corpus.sh brown)" >&2; exit 2; }
    JOB=(--train "$SRC/data/corpora/brown/train.jsonl" --val "$SRC/data/corpora/brown/val.jsonl"
         --vocab "$SRC/data/corpora/vocab/vocab.txt" --seq 64 --max-chunks 2 --batch 16 --epochs 2) ;;
  *) echo "chaos.sh: --corpus small, synthetic or brown" >&2; exit 2 ;;
esac
JOB+=(--optimizer adamw --lr 1e-3 --clip-norm 1 --seed 7 --min-workers "$WORKERS" --reduce "$REDUCE")
COORD_FLAGS=(--heartbeat-ms 100 --expiry-ms 600 --checkpoint-every 5 --checkpoint-min-s 0)
STOP_S=1.2 PART_S=1.5 THROTTLE_S=3 THROTTLE_RATE=4mbit

# the configuration's key: the binaries, the checker, the job and the worker count
KEY=$( (cat "$BUILD/coordinator/hierbert-coordinator" "$BUILD/worker/hierbert-worker" "$SRC/tests/chaos_check.py"; echo "${JOB[*]} $WORKERS") |
       sha256sum | cut -c1-16)
REF=$CACHE/$KEY

# draw NAME... from the trial seed: one word of each comma list, then a fraction
draw() { # seed list...
  python3 - "$@" <<'EOF'
import hashlib, sys
seed = sys.argv[1]
def h(k):
    return int(hashlib.sha256(f"{seed}:{k}".encode()).hexdigest()[:12], 16)
out = []
for k, lst in enumerate(sys.argv[2:]):
    words = lst.split(",")
    out.append(words[h(k) % len(words)])
out.append("%.3f" % ((h("frac") % 1000) / 1000.0))
print(" ".join(out))
EOF
}

# ------------------------------------------------------------ the net layout
# (--net; in the trial's subshell, after daemon_lib.sh: the switch, one host
# a daemon, and start_coord/start_worker launching into them)
net_layout() {
  NP=hc$BASHPID
  hb_extra_cleanup() {
    local ns
    for ns in $(ip netns list | awk '{print $1}' | grep "^$NP-"); do ip netns del "$ns" 2>/dev/null || true; done
  }
  ip netns add "$NP-sw" || fail "ip netns add"
  ip -n "$NP-sw" link add br0 type bridge
  ip -n "$NP-sw" link set br0 up
  local i
  for i in $(seq 0 "$WORKERS"); do
    ip netns add "$NP-h$i"
    ip link add "$NP-e$i" type veth peer name "$NP-p$i"
    ip link set "$NP-e$i" netns "$NP-h$i"
    ip link set "$NP-p$i" netns "$NP-sw"
    ip -n "$NP-h$i" addr add "10.78.0.$((i + 1))/24" dev "$NP-e$i"
    ip -n "$NP-h$i" link set "$NP-e$i" up
    ip -n "$NP-h$i" link set lo up
    ip -n "$NP-sw" link set "$NP-p$i" master br0
    ip -n "$NP-sw" link set "$NP-p$i" up
  done
  sleep 0.5 # (veth carrier)
  # `ip netns exec` execs the daemon: $! is its pid
  start_coord() {
    local n=$1; shift
    ip netns exec "$NP-h0" "$COORD" --work tcp://10.78.0.1:5555 --control "ipc://$T/$n-c" --status "ipc://$T/$n-s" \
      --events "ipc://$T/$n-e" --data-dir "$T/$n-data" "$@" >>"$T/$n.log" 2>&1 &
    PID[$n]=$!
    wait_coord "$n"
  }
  start_worker() { # ID (c-wI: host I) COORD_NAME [flags...]
    local id=$1; shift 2
    ip netns exec "$NP-h${id##*-w}" "$WORKER" --work tcp://10.78.0.1:5555 --id "$id" --threads 1 "$@" >>"$T/$id.log" 2>&1 &
    PID[$id]=$!
  }
}

# ---------------------------------------------------------------------- trial
# (run in a subshell that sourced daemon_lib.sh - at its top level: the
# PID table must not be local to a function - whose trap stops the
# daemons; `fail` ends it)
trial() { # tseed phase victim fault frac worker (the reference: ref none none none 0 1)
  local tseed=$1 phase=$2 victim=$3 fault=$4 frac=$5 wk=$6
  local n=c job=
  [[ -z $NET ]] || net_layout
  start_coord $n "${COORD_FLAGS[@]}"
  for i in $(seq "$WORKERS"); do start_worker "$n-w$i" $n --heartbeat-ms 100; done
  # the status poller: "ms rc latency_ms json" a line, every 0.1 s; a poll
  # counts as answered within 5 s (2 shared cores running other work at a
  # higher priority than this nice 19 campaign stretch a 10 ms answer to seconds)
  python3 - "$CLI" "ipc://$T/$n-c" "$T/status.txt" "$T/poll.stop" <<'EOF' &
import json, os, subprocess, sys, time
cli, ep, out, stop = sys.argv[1:5]
with open(out, "w") as f:
    while not os.path.exists(stop):
        t = int(time.time() * 1000)
        try:
            p = subprocess.run([cli, "status", "--json", "--control", ep, "--timeout", "5"], capture_output=True,
                               text=True, timeout=8)
            rc, txt = p.returncode, p.stdout.replace("\n", " ")
        except subprocess.TimeoutExpired:
            rc, txt = 124, ""
        f.write(f"{t} {rc} {int(time.time() * 1000) - t} {txt}\n")
        f.flush()
        time.sleep(0.1)
EOF
  PID[poller]=$!
  now_ms() { date +%s%3N; }
  st() { status_json $n 2>/dev/null || echo '{}'; }
  jget() { st | json_get "$1" 2>/dev/null || echo "${2:-}"; }
  # the job's status entry (first job not FAILED)
  J='[x for x in d.get("jobs", []) if x["state"] != "FAILED"][0]'
  local t_down=0 t_up=0 t_fault=0 t_end=0 note=
  submit() { hb $n submit "${JOB[@]}" > "$T/submit.out" 2>>"$T/submit.err"; }
  victims_of() {
    case $victim in
      worker) echo "$n-w$wk" ;;
      coordinator) echo $n ;;
      both) echo "$n $n-w$wk" ;;
      cli) echo cli ;;
    esac
  }
  inject() { # the fault on the victims, and the supervisor's restarts
    local vs v
    vs=$(victims_of)
    t_fault=$(now_ms) # (where the job stood: the poller's last answer before it, read afterwards)
    if [[ $fault == kill ]]; then
      for v in $vs; do
        [[ -n ${PID[$v]:-} ]] || continue
        kill -KILL "${PID[$v]}" 2>/dev/null || true
        wait "${PID[$v]}" 2>/dev/null || true
        unset "PID[$v]"
      done
      t_end=$(now_ms)
      if [[ " $vs " == *" $n "* ]]; then
        t_down=$t_fault
        start_coord $n "${COORD_FLAGS[@]}"
        t_up=$(now_ms)
      fi
      for v in $vs; do
        [[ $v == "$n-w"* ]] || continue
        sleep 1
        start_worker "$v" $n --heartbeat-ms 100
      done
    elif [[ $fault == partition || $fault == throttle ]]; then
      local hosts=() i
      for v in $vs; do [[ $v == "$n" ]] && hosts+=(0) || hosts+=("${v##*-w}"); done
      if [[ $fault == partition ]]; then
        for i in "${hosts[@]}"; do ip -n "$NP-sw" link set "$NP-p$i" down || fail "partition: port $i down"; done
        sleep $PART_S
        for i in "${hosts[@]}"; do ip -n "$NP-sw" link set "$NP-p$i" up || fail "partition: port $i up"; done
      else # both directions: the host's egress and the switch port's egress toward it
        for i in "${hosts[@]}"; do
          ip netns exec "$NP-h$i" tc qdisc add dev "$NP-e$i" root tbf rate $THROTTLE_RATE burst 32kb latency 400ms &&
            ip netns exec "$NP-sw" tc qdisc add dev "$NP-p$i" root tbf rate $THROTTLE_RATE burst 32kb latency 400ms ||
            fail "throttle: tc on host $i"
        done
        sleep $THROTTLE_S
        for i in "${hosts[@]}"; do
          ip netns exec "$NP-h$i" tc qdisc del dev "$NP-e$i" root && ip netns exec "$NP-sw" tc qdisc del dev "$NP-p$i" root ||
            fail "throttle: removing the qdiscs of host $i"
        done
      fi
      t_end=$(now_ms)
    else
      for v in $vs; do [[ -n ${PID[$v]:-} ]] && kill -STOP "${PID[$v]}"; done
      [[ " $vs " == *" $n "* ]] && t_down=$t_fault
      sleep $STOP_S
      for v in $vs; do [[ -n ${PID[$v]:-} ]] && kill -CONT "${PID[$v]}"; done
      t_end=$(now_ms)
      [[ " $vs " == *" $n "* ]] && t_up=$t_end
    fi
  }
  # jcond 'python condition on x, the job's status entry': 0 when it holds
  jcond() {
    st | python3 -c "import json, sys
d = json.load(sys.stdin)
J = [x for x in d.get('jobs', []) if x['state'] != 'FAILED']
x = J[0] if J else None
sys.exit(0 if x is not None and ($1) else 1)" 2>/dev/null
  }
  wait_cond() { # seconds 'condition' what
    local t0=$SECONDS
    until jcond "$2"; do
      (( SECONDS - t0 > $1 * ${HB_TIME_SCALE:-1} )) && fail "timed out after $1 s waiting for: $3"
      sleep 0.02
    done
  }
  # the moment in phase $1: its condition, or the job already past the phase
  # (EMBED and HEAD of this job last well under a second: a poll can miss
  # them; the trial line says which state the fault hit)
  wait_state() {
    local R="['QUEUED', 'INGEST', 'TRAIN', 'EMBED', 'HEAD', 'DONE']"
    wait_cond 300 "(x['state'] == '$1' and (${2:-True})) or (x['state'] in $R and $R.index(x['state']) > $R.index('$1'))" \
      "$1 (${2:-})"
  }
  # the moment in phase $1 from the job's event stream (`hierbert events`:
  # EMBED and HEAD of this job last well under a second, too short for
  # polling): the first event that meets the condition, or the job past the
  # phase; then $3 s more
  wait_event() {
    local R="['QUEUED', 'INGEST', 'TRAIN', 'EMBED', 'HEAD', 'DONE']" ev
    # (a process substitution, its pid in events.pid (not $!: the poller's): python's match ends the wait at once - the
    # CLI would only end at the next event, on SIGPIPE; it is killed then)
    python3 -c "import json, sys
for line in sys.stdin:
    x = json.loads(line)
    if x.get('state') in $R and ((x['state'] == '$1' and ($2)) or $R.index(x['state']) > $R.index('$1')):
        open('$T/event.seen', 'w').close()
        break" < <(echo "$BASHPID" > "$T/events.pid"; exec timeout $(( 300 * ${HB_TIME_SCALE:-1} )) "$CLI" events "$job" --events "ipc://$T/$n-e" \
                 --control "ipc://$T/$n-c" 2>>"$T/events.err") || true
    ev=$(cat "$T/events.pid" 2>/dev/null)
    [[ -n $ev ]] && kill "$ev" 2>/dev/null
    [[ -f $T/event.seen ]] || fail "no event of job $job showed $1 ($2): $(tail -1 "$T/events.err")"
    rm -f "$T/event.seen"
    sleep "$3"
  }
  local total spe
  if [[ $phase == INGEST ]]; then
    # the submit and the fault race: a victim in the first 0.3 s of the request
    local delay; delay=$(python3 -c "print($frac * 0.3)")
    if [[ $victim == cli ]]; then
      hb $n submit "${JOB[@]}" > "$T/submit.out" 2>>"$T/submit.err" &
      PID[cli]=$!
      sleep "$delay"
      inject
      wait "${PID[cli]:-0}" 2>/dev/null || true
    else
      hb $n submit "${JOB[@]}" > "$T/submit.out" 2>>"$T/submit.err" &
      local sp=$!
      sleep "$delay"
      inject
      wait $sp 2>/dev/null || true
    fi
    unset "PID[cli]"
    # the client's part: a request lost (no job, or a job the restart dropped) is made again
    wait_for 30 "hb $n list >/dev/null 2>&1" "the coordinator answering"
    if ! jcond True; then
      note="submitted again"
      submit || fail "the second submit failed: $(cat "$T/submit.err")"
    fi
  else
    submit || fail "submit: $(cat "$T/submit.err")"
  fi
  job=$(jget "$J[\"id\"]")
  [[ -n $job ]] || fail "no job"
  # (the step count is known once INGEST has read the corpus: 0 before)
  wait_cond 120 "x.get('total_steps', 0) > 0" "job $job's step count"
  total=$(jget "$J[\"total_steps\"]" 0)
  spe=$(( total / 2 ))
  case $phase in
    INGEST) ;;
    TRAIN)
      local at; at=$(python3 -c "print(1 + int($frac * ($total - 2)))")
      wait_state TRAIN "x['step'] >= $at"; inject ;;
    EVAL)
      wait_state TRAIN "x['step'] >= $spe - 1"
      wait_cond 60 "x['step'] >= $spe or x['state'] != 'TRAIN'" "the first epoch's last step"
      inject ;;
    CHECKPOINT)
      local at; at=$(python3 -c "print(5 * (1 + int($frac * ($total // 5 - 1))))")
      wait_state TRAIN "x['step'] >= $at"; inject ;;
    EMBED) # (its state event, then frac of the fault-free run's EMBED time)
      wait_event EMBED True "$(python3 -c "print(round($frac * $EMBED_S, 3))")"; inject ;;
    HEAD) # (its head_epoch events carry the progress)
      wait_event HEAD "x.get('progress', 0) >= $frac" 0; inject ;;
    DONE) ;;
  esac
  wait_cond 300 "x['state'] == 'DONE'" "job $job DONE"
  # export (DONE: the fault lands in it)
  if [[ $phase == DONE ]]; then
    local delay; delay=$(python3 -c "print($frac * 0.05)")
    hb $n export "$job" "$T/export" > "$T/export.out" 2>&1 &
    PID[cli]=$!
    sleep "$delay"
    inject
    wait "${PID[cli]:-0}" 2>/dev/null || true
    unset "PID[cli]"
    [[ -f $T/export/head.safetensors && -f $T/export/model.safetensors ]] || {
      note="exported again"
      wait_for 30 "hb $n list >/dev/null 2>&1" "the coordinator answering"
      hb $n export "$job" "$T/export" > "$T/export.out" 2>&1 || fail "export again: $(cat "$T/export.out")"
    }
  else
    hb $n export "$job" "$T/export" > "$T/export.out" 2>&1 || fail "export: $(cat "$T/export.out")"
  fi
  local t_done; t_done=$(now_ms)
  touch "$T/poll.stop"
  sleep 0.3
  # ---- the checker
  hb $n result "$job" --json > "$T/result.json" 2>>"$T/$n.log" || fail "result"
  "$CLI" store dump "$T/$n-data/store" --job "$job" --values > "$T/dump.txt" 2>>"$T/$n.log" || fail "store dump"
  store_check "$T/$n-data" "$job" > "$T/store-check.txt" || fail "store check"
  $CHK digest "$T/$n-data" "$job" "$T/result.json" "$T/dump.txt" > "$T/digest.json" || fail "digest"
  python3 - "$T/export" >> "$T/digest.json" <<'EOF'
import hashlib, os, sys
d = sys.argv[1]
print(hashlib.sha256(b"".join(hashlib.sha256(open(os.path.join(d, f), "rb").read()).digest() + f.encode()
                              for f in sorted(os.listdir(d)))).hexdigest())
EOF
  # the status endpoint: every poll answered but while the coordinator was down or stopped
  python3 - "$T/status.txt" "$t_down" "$t_up" "$total" > "$T/status-check.txt" <<'EOF' || fail "status endpoint: $(cat "$T/status-check.txt")"
import json, sys
log, t_down, t_up, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
polls = bad = 0
steps, last, lat, last_rb = [], None, [], 0
for line in open(log):
    parts = line.split(" ", 3)
    if len(parts) < 3:
        continue
    t, rc = int(parts[0]), int(parts[1])
    ans = t + int(parts[2])  # when it was answered (or given up)
    polls += 1
    down = t_down and ans >= t_down and t <= t_up + 1500  # the poll overlapped the coordinator's down time
    if rc != 0:
        if not down:
            bad += 1
            print(f"poll at {t} failed (rc {rc}) outside the coordinator's down time")
        continue
    try:
        d = json.loads(parts[3])
    except (ValueError, IndexError):
        bad += 1
        continue
    lat.append(int(parts[2]))
    for j in d.get("jobs", []):
        if j["state"] == "FAILED" or "step" not in j:
            continue
        s, rb = j["step"], j.get("train_rollbacks", 0)
        # back only to a state the coordinator held: after its restart (its
        # checkpoint), or a sharded round rolled back (train_rollbacks grew)
        if last is not None and s < last and not (t_down and ans >= t_down) and not rb > last_rb:
            bad += 1
            print(f"step went back {last} -> {s} at {t} without a coordinator restart or a rollback")
        steps.append(s)
        last, last_rb = s, rb
if steps and steps[-1] != total:
    bad += 1
    print(f"last step seen {steps[-1]}, the job has {total}")
lat.sort()
print(f"{polls} polls, steps {min(steps) if steps else '-'}..{max(steps) if steps else '-'}, {bad} problems; "
      f"answers in {lat[len(lat) // 2] if lat else '-'} ms median, {lat[-1] if lat else '-'} ms max")
sys.exit(1 if bad else 0)
EOF
  # recovery: the first poll after the fault's end where the job stood further than at the fault;
  # stall: ... further than at the fault's end
  local rec=-1
  if [[ $t_end != 0 ]]; then
    rec=$(python3 - "$T/status.txt" "$t_end" "$t_fault" "$t_done" "$phase" <<'EOF'
import json, sys
log, t_end, t_fault, t_done = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
names = ["QUEUED", "INGEST", "TRAIN", "EMBED", "HEAD", "DONE"]
def where(d):
    for x in d.get("jobs", []):
        if x["state"] != "FAILED":
            return (names.index(x["state"]) if x["state"] in names else -1, x.get("step", 0),
                    x.get("embed", {}).get("docs_stored", 0), round(x.get("progress", 0), 4))
    return (-1, 0, 0, 0)
b, e, after = (-1, 0, 0, 0), (-1, 0, 0, 0), []
for line in open(log):
    parts = line.split(" ", 3)
    if len(parts) < 4 or parts[1] != "0":
        continue
    t, ans = int(parts[0]), int(parts[0]) + int(parts[2])
    p = where(json.loads(parts[3]))
    if ans < t_fault:
        b = p  # the last answer before the fault
    if ans < t_end:
        e = p  # ... and before its end (a throttled job crawls on)
    elif t >= t_end:
        after.append((ans, p))
hit = names[b[0]] if b[0] >= 0 else "before-submit"
if sys.argv[5] == "DONE":  # the export's end
    print(t_done - t_end, hit, t_done - t_end)
    sys.exit()
def first(past):
    return next((ans - t_end for ans, p in after if p > past), t_done - t_end)
# recovery: past where it stood at the fault; stall: past where it stood at
# the fault's end (a job that moved on through a throttle and then stood
# still after it - TCP's retransmission back-off - shows a short recovery
# and a long stall)
print(first(b), hit, first(max(b, e)))
EOF
)
  fi
  echo "RECOVERY $rec" # (ms, the state the job was in at the fault, the stall in ms)
  echo "NOTE ${note:--}"
  ok "trial done: job $job"
}

run_one() { # tseed [phases faults] -> one line, RESULT in $OUT/trials.tsv
  local tseed=$1 phase victim fault wk frac
  read -r phase victim fault wk frac <<<"$(draw "$tseed" "${2:-$PHASES}" "$VICTIMS" "${3:-$FAULTS}" "$(seq -s, "$WORKERS")")"
  # the CLI is a victim only where it has a request in flight
  # (and it is no network victim: its requests go over ipc://)
  if [[ $victim == cli && ( ($phase != INGEST && $phase != DONE) || $fault == partition || $fault == throttle ) ]]; then
    victim=worker
  fi
  local log=$OUT/trial-$tseed.log t0=$SECONDS rc
  ( export HB_KEEP=1; source "$SRC/tests/daemon_lib.sh" "$BUILD"; trial "$tseed" "$phase" "$victim" "$fault" "$frac" "$wk" ) > "$log" 2>&1
  rc=$?
  local dir; dir=$(grep -o 'kept /tmp/hbtest[^ ]*' "$log" | tail -1 | cut -d' ' -f2)
  local verdict=pass why=""
  local lat; lat=$(grep -o 'answers in .*' "$dir/status-check.txt" 2>/dev/null | head -1)
  if (( rc != 0 )); then
    verdict=FAIL
    why=$(grep -m1 '^FAIL' "$log" | cut -c1-160)
  elif [[ -f $dir/digest.json ]]; then
    if ! why=$(python3 - "$REF/digest.json" "$dir/digest.json" <<'EOF'
import json, sys
ra, rb = (open(p).read().split("\n") for p in sys.argv[1:3])
a, b = json.loads(ra[0]), json.loads(rb[0])
a["export"], b["export"] = ra[1], rb[1]
bad = [k for k in sorted(a) if k not in ("emb_lines",) and a.get(k) != b.get(k)]
print(("differs from the fault-free run: " + ", ".join(bad)) if bad else "")
sys.exit(1 if bad else 0)
EOF
); then verdict=FAIL; fi
  else
    verdict=FAIL why="no digest"
  fi
  local rec hit stall; read -r _ rec hit stall <<<"$(grep -m1 '^RECOVERY' "$log")"; rec=${rec:--1} stall=${stall:--1}
  local note; note=$(grep -m1 '^NOTE' "$log" | cut -d' ' -f2-)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tseed" "$phase" "$fault" "$victim" "$frac" "$verdict" "$rec" \
    "$((SECONDS - t0))" "${hit:-?}" "$stall" >> "$OUT/trials.tsv"
  printf 'trial %-8s %-10s %-9s %-11s at %.2f: %-4s recover %6s ms stall %6s ms %3ss  %s; status %s%s\n' "$tseed" \
    "$phase" "$fault" "$victim" "$frac" "$verdict" "$rec" "$stall" "$((SECONDS - t0))" "${note:--}; hit ${hit:-?}" \
    "${lat:-?}" "${why:+  ($why)}"
  if [[ $verdict == pass && -z $KEEP ]]; then
    if [[ -n $KEEP_SLOW ]] && ((SECONDS - t0 >= KEEP_SLOW)); then
      echo "  (a slow pass, kept: $log and $dir)"
    else
      rm -rf "$dir"
      rm -f "$log"
    fi
  fi
  [[ $verdict == pass ]]
}

# ---------------------------------------------------------------- reference
if [[ ! -f $REF/digest.json ]]; then
  echo "reference: a fault-free run ($WORKERS workers, $CORPUS, reduce $REDUCE, over ipc://) -> $REF"
  ( export HB_KEEP=1; source "$SRC/tests/daemon_lib.sh" "$BUILD"; NET=; trial ref none none none 0 1 ) > "$OUT/reference.log" 2>&1 ||
    { echo "chaos.sh: the reference run failed: $OUT/reference.log" >&2; exit 1; }
  d=$(grep -o 'kept /tmp/hbtest[^ ]*' "$OUT/reference.log" | tail -1 | cut -d' ' -f2)
  [[ -f $d/digest.json ]] || { echo "chaos.sh: the reference run left no digest ($OUT/reference.log)" >&2; exit 1; }
  mkdir -p "$REF"
  cp "$d/digest.json" "$REF/digest.json"
  # (how long its EMBED took: an EMBED trial's moment is a fraction of it)
  grep -o 'chunks embedded in [0-9.]* s' "$d/c.log" | grep -o '[0-9.]*' | tail -1 > "$REF/embed_s"
  rm -rf "$d"
fi
EMBED_S=$(cat "$REF/embed_s" 2>/dev/null)
EMBED_S=${EMBED_S:-0.1}

: > "$OUT/trials.tsv"
failed=0
if [[ -n $ONE ]]; then
  for x in ${ONE//,/ }; do run_one "$x" || failed=1; done
else
  if [[ -n $EACH ]]; then # stratified: EACH trials a phase x fault cell, seeds S*100000 + cell*1000 + j
    c=0
    for ph in ${PHASES//,/ }; do
      for fa in ${FAULTS//,/ }; do
        c=$((c + 1))
        for j in $(seq "$EACH"); do run_one $((SEED * 100000 + c * 1000 + j)) "$ph" "$fa" || failed=1; done
      done
    done
  else
    for i in $(seq "$TRIALS"); do run_one $((SEED * 1000 + i)) || failed=1; done
  fi
fi
table "$OUT/trials.tsv"
echo "logs: $OUT"
exit $failed
