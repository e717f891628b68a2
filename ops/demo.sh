#!/usr/bin/env bash
# The main command. Until the daemons exist, it benchmarks the encoder
# against PyTorch: hierbert's C encoder and the same model in PyTorch 1.13,
# preset mini, 128 tokens, batch 16, 2 threads, training (forward + backward +
# AdamW) and forward-only sequences per second. Real work, nothing simulated.
#   ops/demo.sh [--rounds R] [--preset P] [--seq L] [--batch B] [--threads T] [--iters N]
# (the comparison itself is ops/bench-encoder.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--rounds 1 --preset mini --seq 128 --batch 16 --threads 2 --iters 10)
if (($#)); then args=("$@"); fi
case "${1:-}" in -h|--help) sed -n '2,7p' "$0"; exit 0 ;; esac

ops/install-deps.sh --reference
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target hierbert-bench >/dev/null
export OMP_WAIT_POLICY=PASSIVE

echo "demo: until the daemons exist, the main command benchmarks the encoder against PyTorch."
ops/bench-encoder.sh "${args[@]}"
