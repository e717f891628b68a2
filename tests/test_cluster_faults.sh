#!/usr/bin/env bash
# Faults during TRAIN with real daemons: a worker killed (-9) mid-job is
# expired and the job finishes on the other; a coordinator killed (-9)
# mid-job restarts, reloads the job record, resumes from its last atomic
# checkpoint (not from step 0) and finishes; its workers reconnect by
# themselves.
source "$(dirname "$0")/daemon_lib.sh" "$1"
PY="python3 $(dirname "$0")/ckpt.py"

start_coord c --heartbeat-ms 200 --expiry-ms 1000 --checkpoint-every 5
start_worker w1 c --heartbeat-ms 200 --timeout-ms 1500 --reconnect-max-ms 500
start_worker w2 c --heartbeat-ms 200 --timeout-ms 1500 --reconnect-max-ms 500
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"

# --- a worker dies mid-job ------------------------------------------------------
job=$(hb c submit --synthetic 150 --seq 32 --batch 8 --epochs 3 --lr 1e-3 --min-workers 2 2>/dev/null)
wait_for 30 '(( $(status_json c '"$job"' | json_get "d[\"jobs\"][0][\"step\"]") >= 5 ))' "5 steps"
stop w2 KILL
wait_for 5 '[[ $(workers_live c) == 1 ]]' "w2 expired"
wait_for 60 '[[ $(job_state c '"$job"') == DONE ]]' "job $job DONE on the remaining worker"
grep -Eq "w2 \(.*\) dropped: (no heartbeat|unreachable)" "$T/c.log" || fail "w2 not dropped"
ok "worker killed mid-job: expired, and job $job finished on the other worker"

# --- the coordinator dies mid-job -------------------------------------------------
start_worker w2 c --heartbeat-ms 200 --timeout-ms 1500 --reconnect-max-ms 500
wait_for 10 '[[ $(workers_live c) == 2 ]]' "w2 back"
job=$(hb c submit --synthetic 200 --seq 32 --batch 4 --epochs 1 --lr 1e-3 --min-workers 2 2>/dev/null)
ck="$T/c-data/jobs/$(printf %06d "$job")/checkpoint.bin"
wait_for 60 '[[ -f $ck ]] && (( $($PY --info $ck | json_get "d[\"step\"]") >= 10 ))' "a checkpoint at step >= 10"
stop c KILL
at=$($PY --info "$ck" | json_get 'd["step"]')
ok "coordinator killed (-9) during TRAIN; last checkpoint at step $at"
start_coord c --heartbeat-ms 200 --expiry-ms 1000 --checkpoint-every 5
grep -q "job $job was TRAIN when the coordinator stopped: resuming" "$T/c.log" || fail "no resume log"
grep -q "job $job: resumed from .*checkpoint.bin: round [0-9]*, step $at " "$T/c.log" || fail "did not resume at step $at"
wait_for 15 '[[ $(workers_live c) == 2 ]]' "workers reconnected to the new coordinator"
wait_for 90 '[[ $(job_state c '"$job"') == DONE ]]' "job $job DONE after the restart"
total=$(status_json c "$job" | json_get 'd["jobs"][0]["total_steps"]')
final=$($PY --info "$ck" | json_get 'd["step"]')
[[ $final == "$total" ]] || fail "final checkpoint at step $final of $total"
ok "restarted coordinator resumed job $job at step $at (of $total) and finished it; workers reconnected"

# --- the coordinator dies during INGEST: the half-ingested job is dropped ------
VOCAB=$(cd "$(dirname "$0")/data" && pwd)/vocab_small.txt
python3 - "$T/big.jsonl" <<'PY'
import random, sys
r = random.Random(5)
w = "mail user playing quick german hello rock world example brown fox lazy dog family jumps running".split()
with open(sys.argv[1], "w") as f:
    for i in range(60000):
        f.write('{"id": "b%d", "text": "%s", "label": "%s"}\n' % (i, " ".join(r.choice(w) for _ in range(60)), "xyz"[i % 3]))
PY
hb c submit --train "$T/big.jsonl" --vocab "$VOCAB" --seq 32 >/dev/null 2>&1 &
sub=$!
wait_for 10 'hb c list | grep -q " INGEST "' "the big job in INGEST"
big=$(hb c list | awk '/ INGEST /{print $1}')
sleep 0.5
stop c KILL
kill "$sub" 2>/dev/null || true; wait "$sub" 2>/dev/null || true   # its reply died with the coordinator
start_coord c --heartbeat-ms 200 --expiry-ms 1000
grep -q "job $big was ingesting when the coordinator stopped: dropped" "$T/c.log" || fail "no drop of the interrupted ingest"
[[ $(job_state c "$big") == FAILED ]] || fail "job $big not FAILED after an interrupted ingest"
"$CLI" store stats "$T/c-data/store" | grep -q "^job:$big .*docs:0 " || fail "interrupted ingest left documents"
ok "coordinator killed during INGEST of job $big: on restart the job is FAILED ('submit it again') and no document is left"
