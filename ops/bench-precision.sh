#!/usr/bin/env bash
# bf16 against fp32, hierbert and PyTorch, in one run under one lock: R
# rounds, each running `hierbert-bench bert` in fp32 and in bf16, then
# tests/reference/bench_torch.py in fp32 and under autocast(bf16), all with
# the same flags; prints every JSON line and a table of the per-key medians
# over rounds with the ratios issue 12 asks for (bf16 / fp32, ours / PyTorch's).
#   ops/bench-precision.sh [--rounds R] --preset P --seq L --batch B --threads T [--iters N] [--no-torch]
# Needs a build in build/ and, unless --no-torch, python3-torch
# (ops/install-deps.sh --reference). Other heavy jobs wait on /tmp/hb-heavy.lock.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=1
torch=1
args=()
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift ;;
    --no-torch) torch=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
export OMP_WAIT_POLICY=PASSIVE
out=$(mktemp)
trap 'rm -f "$out"' EXIT
flock /tmp/hb-heavy.lock bash -c '
  rounds=$1 torch=$2; shift 2
  for ((r = 1; r <= rounds; r++)); do
    for p in fp32 bf16; do
      echo "ours_$p $(build/tests/hierbert-bench bert "$@" --precision $p --json)"
    done
    if ((torch)); then
      for p in fp32 bf16; do
        echo "torch_$p $(OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tests/reference/bench_torch.py "$@" --precision $p --json)"
      done
    fi
  done' _ "$rounds" "$torch" "${args[@]}" | tee "$out"
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    runs.setdefault(who, []).append(json.loads(js))
cols = [c for c in ("ours_fp32", "ours_bf16", "torch_fp32", "torch_bf16") if c in runs]
med = {c: {k: statistics.median(r[k] for r in runs[c]) for k in runs[c][0] if isinstance(runs[c][0][k], float)}
       for c in cols}
a0 = runs["ours_fp32"][0]
print(f"\nprecision benchmark: preset {a0['preset']}, seq {a0['seq']}, batch {a0['batch']}, {a0['threads']} threads, "
      f"{len(runs['ours_fp32'])} round(s); per round the fastest step (median step in the last rows), median over rounds")
print(f"{'':24}" + "".join(f"{c:>12}" for c in cols) + f"{'bf16/fp32':>11}" + (f"{'ours/torch bf16':>17}" if "torch_bf16" in med else ""))
for k, label in [("train_seq_per_s", "training seq/s"), ("fwd_seq_per_s", "forward seq/s"),
                 ("train_gflops", "training GFLOP/s"), ("sgemm_gflops", "GEMM GFLOP/s"), ("peak_rss_mb", "peak RSS MB"),
                 ("train_seq_per_s_median", "training, median step"), ("fwd_seq_per_s_median", "forward, median step")]:
    row = f"{label:24}" + "".join(f"{med[c][k]:12.2f}" for c in cols)
    row += f"{med['ours_bf16'][k] / med['ours_fp32'][k]:11.2f}"
    if "torch_bf16" in med:
        row += f"{med['ours_bf16'][k] / med['torch_bf16'][k]:17.2f}"
    print(row)
PY
