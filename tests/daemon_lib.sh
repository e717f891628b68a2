# daemon_lib.sh - sourced by tests/test_daemon_*.sh and test_cluster_*.sh:
# (start daemons with `cmd &` directly, never through a shell function in the
# background: $! must be the daemon's pid for the EXIT trap to stop it)
# starts real hierbert daemons on ipc:// endpoints in a private temp dir,
# talks to them with the real CLI, and kills everything it started on exit
# (trap EXIT), whatever happens.
#   source "$(dirname "$0")/daemon_lib.sh" "$1"    # $1: the build directory
set -euo pipefail
B=$(cd "${1:?usage: test.sh BUILD_DIR}" && pwd)
COORD=$B/coordinator/hierbert-coordinator
WORKER=$B/worker/hierbert-worker
CLI=$B/cli/hierbert
T=$(mktemp -d /tmp/hbtest.XXXXXX)
export HIERBERT_CONF=$T/none.conf   # never read /etc/hierbert: every setting is a flag here
# ... but one: the tests submit datasets from $T, the source tree and the
# corpus cache, and export into $T. Path confinement (coordinator/confine.c)
# is tested with its own roots by test_daemon_confine.sh (flags win).
printf '[coordinator]\ndataset_roots = /\nexport_root = /\n' > "$HIERBERT_CONF"
export OMP_WAIT_POLICY=PASSIVE
declare -A PID=()

hb_cleanup() {
  local p
  for p in "${PID[@]}"; do kill -TERM "$p" 2>/dev/null || true; kill -CONT "$p" 2>/dev/null || true; done
  for p in "${PID[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if declare -F hb_extra_cleanup >/dev/null; then hb_extra_cleanup || true; fi
  if [[ -n "${HB_KEEP:-}" ]]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap hb_cleanup EXIT

ok() { echo "ok - $*"; }
fail() {
  echo "FAIL - $*" >&2
  for f in "$T"/*.log; do [[ -f $f ]] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }; done
  exit 1
}

# coordinator NAME [flags...]: endpoints ipc://$T/NAME-{w,c,s,e}, data $T/NAME-data
start_coord() {
  local n=$1; shift
  "$COORD" --work "ipc://$T/$n-w" --control "ipc://$T/$n-c" --status "ipc://$T/$n-s" --events "ipc://$T/$n-e" \
    --data-dir "$T/$n-data" "$@" >>"$T/$n.log" 2>&1 &
  PID[$n]=$!
  wait_coord "$n"
}
# wait_coord NAME: until coordinator NAME answers on ipc://$T/NAME-c (5 s)
wait_coord() {
  local n=$1
  for _ in $(seq 100); do
    "$CLI" list --control "ipc://$T/$n-c" --timeout 0.5 >/dev/null 2>&1 && return 0
    kill -0 "${PID[$n]}" 2>/dev/null || fail "coordinator $n exited at start"
    sleep 0.05
  done
  fail "coordinator $n not answering"
}

# worker ID COORD_NAME [flags...]
start_worker() {
  local id=$1 c=$2; shift 2
  "$WORKER" --work "ipc://$T/$c-w" --id "$id" --threads 1 "$@" >>"$T/$id.log" 2>&1 &
  PID[$id]=$!
}

stop() { # NAME [signal]
  local p=${PID[$1]}
  kill "-${2:-TERM}" "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  wait "$p" 2>/dev/null || true
  unset "PID[$1]"
}

hb() { local c=$1; shift; "$CLI" "$@" --control "ipc://$T/$c-c"; }

# status_json COORD [JOB]
status_json() { local c=$1; shift; "$CLI" status "$@" --json --control "ipc://$T/$c-c" --timeout 2; }

# json_get 'python expression on d' < json
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# wait_for SECONDS 'shell condition' message; HB_TIME_SCALE=K stretches every
# wait K times (ops/test.sh --sanitize: the ASan build computes ~5x slower)
wait_for() {
  local s=$(( $1 * ${HB_TIME_SCALE:-1} )) cond=$2 msg=$3 t0=$SECONDS
  while ! eval "$cond" >/dev/null 2>&1; do
    (( SECONDS - t0 > s )) && fail "timed out after ${s}s waiting for: $msg"
    sleep 0.1
  done
}

workers_live() { status_json "$1" | json_get 'len(d["workers"])'; }
job_state() { status_json "$1" "$2" | json_get 'd["jobs"][0]["state"]'; }

# store_check DATA_DIR JOB [N_DOCS]: every ingested document of JOB is in the
# store's emb database exactly once, with its ingested chunk count, split and
# label (`hierbert store dump`); N_DOCS: and there are exactly that many
store_check() {
  "$CLI" store dump "$1/store" --job "$2" > "$T/dump-$2.txt" || fail "store dump $1/store"
  python3 - "$T/dump-$2.txt" "${3:-0}" <<'EOF2' || fail "store contents ($1/store, job $2)"
import re, sys
docs, emb = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"(docs|emb)/(\S+)\s+(.*)", line)
    if not m: continue
    db, key, rest = m.groups()
    f = dict(kv.split(":", 1) for kv in rest.split() if ":" in kv)
    d = docs if db == "docs" else emb
    assert key not in d, f"{db} {key} twice"
    d[key] = (f.get("label"), f.get("split"), f.get("chunks"))
assert docs, "no documents in the dump"
want = int(sys.argv[2])
assert not want or len(docs) == want, f"{len(docs)} documents ingested, expected {want}"
missing, extra = set(docs) - set(emb), set(emb) - set(docs)
assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
for k in docs:
    assert docs[k] == emb[k], f"{k}: doc {docs[k]} emb {emb[k]}"
print(f"ok - store: all {len(emb)} documents embedded exactly once (chunks, split and label as ingested)")
EOF2
}

# big_jsonl FILE N SEED: N seeded documents of 60 words in 3 classes (an
# ingest that takes a while)
big_jsonl() {
    python3 - "$1" "$2" "$3" <<'PY'
import random, sys
r = random.Random(int(sys.argv[3]))
w = "mail user playing quick german hello rock world example brown fox lazy dog family jumps running".split()
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write('{"id": "b%d", "text": "%s", "label": "%s"}\n' % (i, " ".join(r.choice(w) for _ in range(60)), "xyz"[i % 3]))
PY
}
