#!/usr/bin/env bash
# Encoder benchmark, hierbert vs PyTorch, in one run under one lock:
# R rounds, each running `hierbert-bench bert` then tests/reference/
# bench_torch.py with the same flags; prints every round's JSON and a table of
# the per-key medians over rounds with the ratios (hierbert / PyTorch).
#   ops/bench-encoder.sh [--rounds R] --preset P --seq L --batch B --threads T [--iters N]
# Needs a build in build/ (ops/demo.sh makes one) and python3-torch
# (ops/install-deps.sh --reference). Other heavy jobs wait on /tmp/hb-heavy.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=1
args=()
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
export OMP_WAIT_POLICY=PASSIVE
out=$(mktemp)
trap 'rm -f "$out"' EXIT
flock /tmp/hb-heavy.lock bash -c '
  for ((r = 1; r <= $1; r++)); do
    shift_args=("${@:3}")
    echo "ours  $(build/tests/hierbert-bench bert "${shift_args[@]}" --json)"
    echo "torch $(/usr/bin/python3 tests/reference/bench_torch.py "${shift_args[@]}" --json)"
  done' _ "$rounds" _ "${args[@]}" | tee "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {"ours": [], "torch": []}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    runs[who].append(json.loads(js))
a0 = runs["ours"][0]
print(f"\nencoder benchmark: preset {a0['preset']}, seq {a0['seq']}, batch {a0['batch']}, {a0['threads']} threads, "
      f"{len(runs['ours'])} round(s); per round the fastest step (and the median step), median over rounds")
print(f"{'':26}{'hierbert':>11}{'PyTorch':>11}{'ratio':>8}")
for k, label in [("train_seq_per_s", "training seq/s"), ("fwd_seq_per_s", "forward seq/s"),
                 ("train_gflops", "training GFLOP/s"), ("fwd_gflops", "forward GFLOP/s"),
                 ("sgemm_gflops", "sgemm GFLOP/s"), ("peak_rss_mb", "peak RSS MB"),
                 ("train_seq_per_s_median", "training seq/s, median"), ("fwd_seq_per_s_median", "forward seq/s, median")]:
    a = statistics.median(r[k] for r in runs["ours"])
    b = statistics.median(r[k] for r in runs["torch"])
    print(f"{label:26}{a:11.2f}{b:11.2f}{a / b:8.2f}")
tr = statistics.median(r["train_gflops"] / r["sgemm_gflops"] for r in runs["ours"])
print(f"hierbert training at {100 * tr:.0f}% of its measured sgemm GFLOP/s "
      f"(executed FLOPs are {100 * a0['executed_flop_ratio']:.0f}% of the formula's)")
PY
