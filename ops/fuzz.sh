#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of every parser of untrusted input:
# builds the harnesses of tests/fuzz/ (clang, -DHB_FUZZ=ON: ASan + UBSan +
# coverage) in build-fuzz/, then runs each for S seconds (or exactly N
# executions) from its committed seeds (tests/fuzz/corpus/NAME) plus what
# earlier runs found (build-fuzz/corpus/NAME, not committed) and the inputs
# of crashes fixed (tests/fuzz/regress/NAME, replayed first), and prints per
# harness the executions, executions per second, the coverage reached
# (libFuzzer's cov: edges, ft: features), the corpus size, the peak RSS and
# the wall time. A crash leaves its input in build-fuzz/crashes/NAME/ and
# makes the script fail: fix it, then copy the input to
# tests/fuzz/regress/NAME/ (the normal suite replays it). One allocation
# above 512 MB (from an input of at most 8 KB) counts as a crash.
#   ops/fuzz.sh [--seconds S | --runs N] [--only NAME[,NAME...]] [--jobs J] [--build-dir DIR]
#   (default 10 s each; --only runs the named harnesses in that order;
#   --jobs runs J harnesses at once, one core each; the long run:
#   ops/fuzz.sh --runs 10000000 --jobs 2; the CI smoke run:
#   tests/test_fuzz_smoke.sh, 3 s each)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
seconds=10 runs="" only="" dir=build-fuzz jobs=1
while (($#)); do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --runs) runs=$2; shift ;;
    --only) only=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --build-dir) dir=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs wants a positive count" >&2; exit 2; }
[[ -z $runs || $runs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --runs wants a positive count" >&2; exit 2; }
if [[ -n $runs ]]; then limit=(-runs="$runs" -max_total_time=0); else limit=(-max_total_time="$seconds"); fi
names=()
if [[ -n $only ]]; then
  IFS=, read -ra names <<<"$only"
else
  for seeds in "$src"/tests/fuzz/corpus/*/; do names+=("$(basename "$seeds")"); done
fi
res=$dir/results
rm -rf "$res"
mkdir -p "$res"

# run_one NAME: fuzzes one harness, leaves its table row in $res/NAME (and
# $res/NAME.failed when it crashed or could not run)
run_one() {
  local name=$1 seeds=$src/tests/fuzz/corpus/$1
  local exe=$dir/tests/fuzz/fuzz-${name//_/-}
  if [[ ! -d $seeds || ! -x $exe ]]; then
    echo "fuzz.sh: no harness $exe for $seeds" >&2
    printf '%-16s %s\n' "$name" "missing" >"$res/$name"
    : >"$res/$name.failed"
    return
  fi
  local work=$dir/corpus/$name crashes=$dir/crashes/$name log=$dir/fuzz-$name.log rc=0 t0=$SECONDS
  mkdir -p "$work" "$crashes"
  local regress=()
  [[ -d $src/tests/fuzz/regress/$name ]] && regress=("$src/tests/fuzz/regress/$name")
  "$exe" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$work" "$seeds" "${regress[@]}" >"$log" 2>&1 || rc=$?
  local execs speed last cov ft corp rss result
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if ((rc == 0)); then
    result=ok
  else
    result="CRASH (rc $rc): $(ls -t "$crashes" | head -1) - see $log"
    : >"$res/$name.failed"
  fi
  printf '%-16s %12s %9s %7s %7s %7s %7s %7s  %s\n' "$name" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "${rss:-?}" "$((SECONDS - t0))" "$result" >"$res/$name"
}

printf '%-16s %12s %9s %7s %7s %7s %7s %7s  %s\n' harness executions exec/s cov ft corpus rss_mb secs result
running=0
for name in "${names[@]}"; do
  if ((jobs == 1)); then
    run_one "$name"
    cat "$res/$name"
    continue
  fi
  ((running < jobs)) || { wait -n || true; running=$((running - 1)); }
  run_one "$name" &
  running=$((running + 1))
done
wait
if ((jobs > 1)); then for name in "${names[@]}"; do cat "$res/$name"; done; fi
failed=0
for name in "${names[@]}"; do [[ -e $res/$name.failed ]] && failed=1; done
exit $failed
