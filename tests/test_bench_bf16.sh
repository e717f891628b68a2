#!/usr/bin/env bash
# test_bench_bf16.sh BUILD_DIR - `hierbert-bench bert --precision bf16`:
#   - with native bf16 forced off (HB_NO_BF16=1) the run is refused: exit 1,
#     nothing on stdout, one line on stderr that names the reason;
#   - a bad --precision is a usage error (exit 2);
#   - on a CPU with native bf16, a tiny run prints its JSON with
#     "precision": "bf16" and positive rates (a run, not a timing: no figure
#     is judged). Without native bf16 that part is skipped, saying why.
set -euo pipefail
build=$(cd "${1:?usage: test_bench_bf16.sh BUILD_DIR}" && pwd)
bench=$build/tests/hierbert-bench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
small=(--preset tiny --seq 16 --batch 2 --threads 1 --iters 1)

rc=0
HB_NO_BF16=1 "$bench" bert "${small[@]}" --precision bf16 --json > "$tmp/out" 2> "$tmp/err" || rc=$?
[[ $rc -eq 1 ]] || fail "forced-off bf16 exit $rc, expected 1"
[[ ! -s $tmp/out ]] || fail "forced-off bf16 printed results: $(cat "$tmp/out")"
[[ $(wc -l < "$tmp/err") -eq 1 ]] || fail "refusal is not one line: $(cat "$tmp/err")"
grep -q "bf16 refused: .*HB_NO_BF16" "$tmp/err" || fail "refusal does not say why: $(cat "$tmp/err")"
echo "ok - HB_NO_BF16=1: refused with exit 1 and one line: $(cat "$tmp/err")"

rc=0
"$bench" bert "${small[@]}" --precision fp16 > /dev/null 2> "$tmp/err" || rc=$?
[[ $rc -eq 2 ]] && grep -q "expected fp32 or bf16" "$tmp/err" || fail "--precision fp16: exit $rc, $(cat "$tmp/err")"
echo "ok - --precision fp16: usage error (exit 2) naming the choices"

if ! grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then
  echo "skipped: bf16 run (this CPU has neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo)"
  exit 0
fi
"$bench" bert "${small[@]}" --precision bf16 --json > "$tmp/out"
python3 - "$tmp/out" <<'PY' || fail "bf16 JSON: $(cat "$tmp/out")"
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["precision"] == "bf16", r
assert r["train_seq_per_s"] > 0 and r["fwd_seq_per_s"] > 0 and r["sgemm_gflops"] > 0, r
PY
echo "ok - a tiny bf16 run prints its JSON with \"precision\": \"bf16\" and positive rates"
