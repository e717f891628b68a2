#!/usr/bin/env bash
# Installs what is missing, builds hierbert and runs its test suite (ctest).
#   ops/test.sh               release-with-debug-info build in build/
#   ops/test.sh --sanitize    ASan + UBSan build in build-asan/
#   HB_LONG=1 ops/test.sh     also the long fault/fuzz runs (opt-in)
# Extra arguments after -- go to ctest (e.g. -- -R bert).
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
ctest_args=()
while (($#)); do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

ops/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
if ((sanitize)); then
  dir=build-asan
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DHB_SANITIZE=ON >/dev/null
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export HB_TIME_SCALE=${HB_TIME_SCALE:-4} # ASan computes ~5x slower: the daemon tests' waits stretch
else
  dir=build
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$dir" -j "$jobs"
# Tests share two cores with OpenBLAS and OpenMP: run them one at a time, with
# passive waiting so idle threads do not spin against each other.
export OMP_WAIT_POLICY=PASSIVE
cd "$dir"
ctest --output-on-failure --timeout 900 "${ctest_args[@]}"
