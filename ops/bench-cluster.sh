#!/usr/bin/env bash
# Scaling benchmark of TRAIN over the daemons (not a test): the same job with
# 1 worker x 2 threads and with 2 workers x 1 thread, same global batch, on
# one machine (ipc:// endpoints). Prints, per layout: training sequences/s
# (chunks trained / wall time inside rounds), rounds, bytes per round (Params
# down + Updates up), and time per round split into compute (the slowest
# worker's) and communication (the rest: packing, transfer, averaging); then
# the ratio of 2x1 to 1x2 throughput (issue 5 asks >= 90%) and, with
# --epochs, both runs' validation chunk accuracy (AdamW: within 2 points).
#   ops/bench-cluster.sh [--corpus brown|synthetic] [--preset tiny] [--seq 128]
#                        [--batch 32] [--sync-every 4] [--steps 40 | --epochs N]
#                        [--optimizer adamw|sgd] [--lr 1e-4] [--average grads|params]
#                        [--build DIR]
# brown needs ops/fetch-corpus.sh brown vocab (data/corpora). Runs under
# flock /tmp/hb-heavy.lock so it never overlaps another heavy run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=brown preset=tiny seq=128 batch=32 sync=4 steps=40 epochs=0 opt=adamw lr=1e-4 avg= build=$root/build
while (($#)); do
  case "$1" in
    --corpus) corpus=$2; shift ;; --preset) preset=$2; shift ;; --seq) seq=$2; shift ;;
    --batch) batch=$2; shift ;; --sync-every) sync=$2; shift ;; --steps) steps=$2; shift ;;
    --epochs) epochs=$2; steps=0; shift ;; --optimizer) opt=$2; shift ;; --lr) lr=$2; shift ;;
    --build) build=$2; shift ;; --average) avg=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench-cluster: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "${HB_BENCH_LOCKED:-}" ]]; then
  exec env HB_BENCH_LOCKED=1 flock /tmp/hb-heavy.lock "$0" --corpus "$corpus" --preset "$preset" --seq "$seq" \
    --batch "$batch" --sync-every "$sync" $( ((epochs)) && echo --epochs "$epochs" || echo --steps "$steps") \
    --optimizer "$opt" --lr "$lr" ${avg:+--average "$avg"} --build "$build"
fi
COORD=$build/coordinator/hierbert-coordinator WORKER=$build/worker/hierbert-worker CLI=$build/cli/hierbert
T=$(mktemp -d /tmp/hbbench.XXXXXX)
[[ -n "${HB_KEEP:-}" ]] && echo "bench-cluster: logs in $T (kept)"
export HIERBERT_CONF=/dev/null OMP_WAIT_POLICY=PASSIVE
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [[ -n "${HB_KEEP:-}" ]] || rm -rf "$T"; }
trap cleanup EXIT

data=()
case "$corpus" in
  brown)
    d=$root/data/corpora
    [[ -f $d/brown/train.jsonl && -f $d/vocab/vocab.txt ]] || { echo "bench-cluster: run ops/fetch-corpus.sh brown && ops/fetch-corpus.sh vocab first" >&2; exit 1; }
    data=(--train "$d/brown/train.jsonl" --val "$d/brown/val.jsonl" --vocab "$d/vocab/vocab.txt") ;;
  synthetic) data=(--synthetic 2000) ;;
  *) echo "bench-cluster: --corpus brown|synthetic" >&2; exit 2 ;;
esac
limit=(); ((steps)) && limit=(--max-steps "$steps") && epochs=1

run() { # name workers threads
  local n=$1 w=$2 th=$3 i
  local ep=(--work "ipc://$T/$n-w" --control "ipc://$T/$n-c" --status "ipc://$T/$n-s" --events "ipc://$T/$n-e")
  "$COORD" "${ep[@]}" --data-dir "$T/$n" --dataset-roots / --export-root / >"$T/$n.log" 2>&1 & pids+=($!)
  for i in $(seq "$w"); do "$WORKER" --work "ipc://$T/$n-w" --id "$n-$i" --threads "$th" >"$T/$n-w$i.log" 2>&1 & pids+=($!); done
  local job
  for i in $(seq 50); do "$CLI" list --control "ipc://$T/$n-c" --timeout 0.5 >/dev/null 2>&1 && break; sleep 0.1; done
  job=$("$CLI" submit --control "ipc://$T/$n-c" "${data[@]}" --preset "$preset" --seq "$seq" --batch "$batch" \
        --sync-every "$sync" --epochs "$epochs" "${limit[@]}" --optimizer "$opt" --lr "$lr" ${avg:+--average "$avg"} --min-workers "$w" --seed 1 2>>"$T/$n.log")
  while :; do
    s=$("$CLI" status "$job" --json --control "ipc://$T/$n-c")
    st=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["state"])' <<<"$s")
    [[ $st == DONE || $st == FAILED || $st == CANCELLED ]] && break
    sleep 1
  done
  [[ $st == DONE ]] || { echo "bench-cluster: $n: job $st"; tail "$T/$n.log"; exit 1; }
  echo "$s" >"$T/$n.json"
  python3 - "$n" "$w" "$th" "$T/$n.json" <<'PY'
import json, sys
n, w, th = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
j = json.load(open(sys.argv[4]))["jobs"][0]
r = max(j["train_rounds"], 1)
rate = j["chunks_done"] / j["train_s"] if j["train_s"] > 0 else 0
acc = [a for a in j["val_chunk_accuracy"] if a is not None]
print(f"{n:>4}: {w} worker(s) x {th} thread(s), {j.get('average', '?')} averaging: {rate:8.1f} seq/s  {j['chunks_done']} chunks in {j['train_s']:.1f} s, "
      f"{r} rounds of {j['total_steps']/r:.1f} steps; per round {j['train_bytes']/r/1e6:.1f} MB, "
      f"{j['train_s']/r*1000:.0f} ms = compute {j['train_compute_s']/r*1000:.0f} ms + comm "
      f"{(j['train_s']-j['train_compute_s'])/r*1000:.0f} ms; {j['parameters']} params; val chunk acc {acc}")
PY
}
echo "bench-cluster: corpus $corpus, preset $preset, L $seq, global batch $batch, sync every $sync, $opt lr $lr, $( ((steps)) && echo "$steps steps" || echo "$epochs epochs"), $(nproc) CPUs"
run 1x2 1 2
run 2x1 2 1
python3 - "$T/1x2.json" "$T/2x1.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["jobs"][0] for p in sys.argv[1:3])
ra, rb = (x["chunks_done"] / x["train_s"] for x in (a, b))
print(f"ratio 2x1 / 1x2 throughput: {rb / ra * 100:.1f}%")
aa = [x for x in a["val_chunk_accuracy"] if x is not None]; bb = [x for x in b["val_chunk_accuracy"] if x is not None]
if aa and bb:
    print(f"validation chunk accuracy, last epoch: 1x2 {aa[-1]:.4f}  2x1 {bb[-1]:.4f}  (difference {100*(bb[-1]-aa[-1]):+.2f} points)")
PY
