#!/usr/bin/env bash
# test_fuzz_smoke.sh - the CI run of the libFuzzer harnesses: builds them
# (clang, ASan + UBSan + coverage, in BUILD_DIR/fuzz: the first run of a
# fresh checkout compiles the libraries once more, later runs are
# incremental) and runs each for HB_FUZZ_SECONDS (3) seconds through
# ops/fuzz.sh, its fixed-crash inputs first: a crash, a sanitizer report or
# a hang fails the test. Needs clang (ops/install-deps.sh installs it);
# without it the test says so and is skipped (ctest: exit 77).
set -euo pipefail
B=$(cd "${1:?usage: test_fuzz_smoke.sh BUILD_DIR}" && pwd)
S=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang >/dev/null; then
  echo "SKIP - clang is not installed: the fuzz harnesses need it (ops/install-deps.sh)"
  exit 77
fi
out=$("$S/ops/fuzz.sh" --seconds "${HB_FUZZ_SECONDS:-3}" --build-dir "$B/fuzz" 2>&1) && rc=0 || rc=$?
echo "$out"
((rc == 0)) || { echo "FAIL - ops/fuzz.sh: rc $rc" >&2; exit 1; }
n=$(grep -c ' ok$' <<<"$out")
((n >= 11)) || { echo "FAIL - only $n harnesses ran" >&2; exit 1; }
echo "ok - $n harnesses fuzzed for ${HB_FUZZ_SECONDS:-3} s each, no crash"
