#!/usr/bin/env bash
# ops/bench-memory.sh - peak RSS (VmHWM) of each worker through a short
# TRAIN, for 1, 2 and 4 workers (issue 11: under sharded reduction a worker
# holds the AdamW moments of its own shard only). A job of the given preset
# (default base: 110M parameters with the bert-base-uncased vocabulary of
# brown; --corpus synthetic: a 256-token vocabulary) on ipc sockets, L 32,
# global batch 8, a few steps; prints one line per layout and reduction.
#   ops/bench-memory.sh [--preset base] [--corpus brown|synthetic] [--steps 3] [--workers "1 2 4"]
#                       [--reduce "sharded coordinator"]
# Runs under flock /tmp/hb-heavy.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=base steps=3 layouts="1 2 4" reduces="sharded coordinator" build=$root/build corpus=brown
args=("$@")
while (($#)); do
  case "$1" in
    --preset) preset=$2; shift ;; --steps) steps=$2; shift ;; --workers) layouts=$2; shift ;;
    --reduce) reduces=$2; shift ;; --build) build=$2; shift ;; --corpus) corpus=$2; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench-memory: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "${HB_BENCH_LOCKED:-}" ]]; then exec env HB_BENCH_LOCKED=1 flock /tmp/hb-heavy.lock "$0" "${args[@]}"; fi
COORD=$build/coordinator/hierbert-coordinator WORKER=$build/worker/hierbert-worker CLI=$build/cli/hierbert
T=$(mktemp -d /tmp/hbmem.XXXXXX)
export HIERBERT_CONF=/dev/null OMP_WAIT_POLICY=PASSIVE
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
case "$corpus" in
  brown)
    d=$root/data/corpora
    [[ -f $d/brown/train.jsonl && -f $d/vocab/vocab.txt ]] \
      || { echo "bench-memory: run ops/fetch-corpus.sh brown && ops/fetch-corpus.sh vocab first" >&2; exit 1; }
    data=(--train "$d/brown/train.jsonl" --val "$d/brown/val.jsonl" --vocab "$d/vocab/vocab.txt") ;;
  synthetic) data=(--synthetic 200) ;;
  *) echo "bench-memory: --corpus brown|synthetic" >&2; exit 2 ;;
esac
hwm() { awk '/VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

for red in $reduces; do
  for W in $layouts; do
    n=$red-$W
    "$COORD" --work "ipc://$T/$n-w" --control "ipc://$T/$n-c" --status "ipc://$T/$n-s" --events "ipc://$T/$n-e" \
      --data-dir "$T/$n" --dataset-roots / --export-root / >"$T/$n.log" 2>&1 &
    cpid=$!
    wp=()
    for i in $(seq "$W"); do
      "$WORKER" --work "ipc://$T/$n-w" --id "w$i" --threads 1 >"$T/$n-w$i.log" 2>&1 &
      wp+=($!)
    done
    pids=("$cpid" "${wp[@]}")
    for _ in $(seq 100); do "$CLI" list --control "ipc://$T/$n-c" --timeout 0.5 >/dev/null 2>&1 && break; sleep 0.1; done
    job=$("$CLI" submit --control "ipc://$T/$n-c" "${data[@]}" --preset "$preset" --seq 32 --batch 8 --epochs 1 --max-chunks 2 \
          --max-steps "$steps" --reduce "$red" --min-workers "$W" 2>>"$T/$n.log")
    while :; do
      # (the coordinator builds a bert-base model on its loop: a status may wait)
      st=$("$CLI" status "$job" --json --control "ipc://$T/$n-c" --timeout 30 2>/dev/null |
           python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["state"])' 2>/dev/null || echo TRAIN)
      [[ $st == TRAIN || $st == QUEUED || $st == INGEST ]] || break
      sleep 1
    done
    peaks=()
    for p in "${wp[@]}"; do peaks+=("$(hwm "$p")"); done
    chwm=$(hwm "$cpid")
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    python3 - "$red" "$W" "$preset" "$chwm" "${peaks[@]}" <<'PY'
import sys
red, W, preset, c = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ws = [int(x) / 1024 for x in sys.argv[5:]]
print(f"{preset} {red:>11}, {W} worker(s): worker peak RSS {' / '.join(f'{x:.0f}' for x in ws)} MB "
      f"(max {max(ws):.0f}); coordinator {c / 1024:.0f} MB")
PY
  done
done
