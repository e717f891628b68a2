#!/usr/bin/env bash
# test_fuzz_regressions.sh - every libFuzzer harness of tests/fuzz/, built as
# a plain program with this build's compiler (fuzz_replay.c's main), runs its
# committed seed corpus and the inputs of the crashes fuzzing found and that
# were fixed (tests/fuzz/regress/NAME): none may crash. Under
# ops/test.sh --sanitize the replays run with ASan + UBSan, which is what
# caught most of those crashes.
set -euo pipefail
B=$(cd "${1:?usage: test_fuzz_regressions.sh BUILD_DIR}" && pwd)
S=$(cd "$(dirname "$0")/.." && pwd)
export OMP_NUM_THREADS=1
n_h=0 n_reg=0
for seeds in "$S"/tests/fuzz/corpus/*/; do
  name=$(basename "$seeds")
  exe=$B/tests/fuzz/fuzz-${name//_/-}-replay
  [[ -x $exe ]] || { echo "FAIL - no replay program $exe for corpus $name" >&2; exit 1; }
  reg=$S/tests/fuzz/regress/$name
  out=$("$exe" "$seeds" "$reg" 2>&1) || { echo "$out" >&2; echo "FAIL - $name: an input crashed the harness" >&2; exit 1; }
  [[ -d $reg ]] && n_reg=$((n_reg + $(ls "$reg" | wc -l)))
  n_h=$((n_h + 1))
  echo "ok - $name: ${out##*: }"
done
((n_h >= 11)) || { echo "FAIL - only $n_h harnesses" >&2; exit 1; }
echo "ok - $n_h harnesses replayed their seeds and $n_reg fixed-crash inputs"
