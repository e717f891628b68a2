#!/usr/bin/env bash
# A bf16 job (submit --precision bf16) through real daemons: it never runs on
# a worker without native bf16.
#   - a worker started with HB_NO_BF16=1 says so in its Hello; the job waits:
#     no step is taken, no task is sent to that worker, and status says why
#     in the job's "note" (naming the worker) and "precision" is "bf16";
#   - a bad --precision is refused by the CLI (exit 2);
#   - where this CPU has native bf16: a second worker (native) joins, the job
#     runs to DONE on it alone, its log says it built the encoder with bf16
#     products, and the forced-off worker never built one. Without native bf16
#     that part is skipped, saying why.
source "$(dirname "$0")/daemon_lib.sh" "$1"

start_coord c --heartbeat-ms 200 --expiry-ms 3000
HB_NO_BF16=1 start_worker w0 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "worker w0"

rc=0
hb c submit --synthetic 40 --seq 16 --batch 8 --precision fp16 >/dev/null 2>"$T/sub.err" || rc=$?
[[ $rc -eq 2 ]] && grep -q "fp32 or bf16" "$T/sub.err" || fail "--precision fp16: exit $rc, $(cat "$T/sub.err")"
ok "submit --precision fp16 refused (exit 2): $(head -1 "$T/sub.err")"

job=$(hb c submit --synthetic 40 --seq 16 --batch 8 --lr 1e-3 --precision bf16 2>/dev/null)
note() { status_json c "$job" | json_get 'd["jobs"][0].get("note", "")'; }
wait_for 15 '[[ $(note) == *"without native bf16"*"w0"*"waiting"* ]]' "status note on the bf16 job"
sleep 1
st=$(status_json c "$job")
[[ $(json_get 'd["jobs"][0]["step"]' <<<"$st") == 0 ]] || fail "a step was taken without a bf16 worker: $st"
[[ $(json_get 'd["jobs"][0]["precision"]' <<<"$st") == bf16 ]] || fail "status precision: $st"
! grep -q "built the encoder" "$T/w0.log" || fail "w0 (no native bf16) was given a task"
hb c status "$job" > "$T/status.txt"
grep -q "note: bf16 job: 1 worker without native bf16 given no tasks (w0)" "$T/status.txt" ||
  fail "hierbert status does not show the note: $(cat "$T/status.txt")"
ok "bf16 job $job waits at step 0 with only a forced-off worker; status (JSON and text) note: $(note)"

if ! grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then
  echo "skipped: bf16 job run (this CPU has neither avx512_bf16 nor amx_bf16)"
  exit 0
fi
start_worker w1 c --heartbeat-ms 200
wait_for 90 '[[ $(job_state c "$job") == DONE ]]' "bf16 job DONE once a native worker joined"
grep -q "built the encoder.*bf16 products" "$T/w1.log" || fail "w1 did not build a bf16 encoder"
! grep -q "built the encoder" "$T/w0.log" || fail "w0 (no native bf16) was given a task"
ok "a native worker joined: job $job ran TRAIN, EMBED and HEAD to DONE on w1 in bf16; w0 never got a task"
