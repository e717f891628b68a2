#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of every parser of untrusted input:
# builds the harnesses of tests/fuzz/ (clang, -DHB_FUZZ=ON: ASan + UBSan +
# coverage) in build-fuzz/, then runs each for S seconds from its committed
# seeds (tests/fuzz/corpus/NAME) plus what earlier runs found
# (build-fuzz/corpus/NAME, not committed) and the inputs of crashes fixed
# (tests/fuzz/regress/NAME, replayed first), and prints per harness the
# executions, executions per second, the coverage reached (libFuzzer's cov:
# edges, ft: features) and the corpus size. A crash leaves its input in
# build-fuzz/crashes/NAME/ and makes the script fail: fix it, then copy the
# input to tests/fuzz/regress/NAME/ (the normal suite replays it). One
# allocation above 512 MB (from an input of at most 8 KB) counts as a crash.
#   ops/fuzz.sh [--seconds S] [--only NAME] [--build-dir DIR]
#   (default 10 s each; the CI smoke run: tests/test_fuzz_smoke.sh, 3 s each)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
seconds=10 only="" dir=build-fuzz
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --only) only=$2; shift ;;
    --build-dir) dir=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (ops/install-deps.sh installs it)" >&2; exit 2; }
CC=clang cmake -S . -B "$dir" -DHB_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "${HB_BUILD_JOBS:-2}" --target hb_fuzz >"$dir/fuzz-build.log" 2>&1 ||
  { tail -n 30 "$dir/fuzz-build.log" >&2; echo "fuzz.sh: build failed ($dir/fuzz-build.log)" >&2; exit 1; }
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
failed=0
printf '%-16s %12s %9s %7s %7s %7s  %s\n' harness executions exec/s cov ft corpus result
for seeds in "$src"/tests/fuzz/corpus/*/; do
  name=$(basename "$seeds")
  [[ -n $only && $name != "$only" ]] && continue
  exe=$dir/tests/fuzz/fuzz-${name//_/-}
  [[ -x $exe ]] || { echo "fuzz.sh: no harness $exe for $seeds" >&2; failed=1; continue; }
  work=$dir/corpus/$name crashes=$dir/crashes/$name
  mkdir -p "$work" "$crashes"
  log=$dir/fuzz-$name.log
  rc=0
  regress=()
  [[ -d $src/tests/fuzz/regress/$name ]] && regress=("$src/tests/fuzz/regress/$name")
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "$seeds" "${regress[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if ((rc == 0)); then result=ok; else result="CRASH (rc $rc): $(ls -t "$crashes" | head -1) - see $log"; failed=1; fi
  printf '%-16s %12s %9s %7s %7s %7s  %s\n' "$name" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $failed
