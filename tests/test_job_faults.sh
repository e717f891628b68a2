#!/usr/bin/env bash
# Faults during EMBED with real daemons and a real store: a worker killed
# (-9) mid-EMBED - its documents not yet received go back to the pool and
# are embedded by the other worker -, then the coordinator killed (-9)
# mid-EMBED and restarted: it resumes from what its commits made durable
# (documents already stored are skipped) and finishes. At the end every
# document is in the store exactly once with its ingested chunk count and
# label, and the job has a result.
source "$(dirname "$0")/daemon_lib.sh" "$1"

start_coord c --heartbeat-ms 200 --expiry-ms 1000
start_worker w1 c --heartbeat-ms 200 --timeout-ms 1500 --reconnect-max-ms 500
start_worker w2 c --heartbeat-ms 200 --timeout-ms 1500 --reconnect-max-ms 500
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"
job=$(hb c submit --synthetic 1200 --preset mini --seq 128 --batch 16 --max-steps 2 --head-epochs 2 \
      --min-workers 2 2>/dev/null)
stored() { status_json c "$job" | json_get 'd["jobs"][0].get("embed", {}).get("docs_stored", 0)'; }
wait_for 60 '(( $(stored) >= 100 ))' "100 documents embedded"
stop w2 KILL
n1=$(stored)
wait_for 10 '[[ $(workers_live c) == 1 ]]' "w2 expired"
wait_for 60 '(( $(stored) >= n1 + 150 ))' "150 more documents embedded by w1"
[[ $(job_state c "$job") == EMBED ]] || fail "job left EMBED too early for the test"
ok "worker killed mid-EMBED at $n1 documents stored; EMBED went on with the other worker"
stop c KILL
start_coord c --heartbeat-ms 200 --expiry-ms 1000
start_worker w2 c --heartbeat-ms 200 --timeout-ms 1500 --reconnect-max-ms 500
skipped=$(sed -n "s/.*job $job: EMBED [0-9]* documents ([0-9]* chunks), \([0-9]*\) already stored.*/\1/p" "$T/c.log" |
          tail -n 1)
wait_for 300 '[[ $(job_state c '"$job"') =~ DONE|FAILED ]]' "job $job finished after the restart"
[[ $(job_state c "$job") == DONE ]] || fail "job $job: $(status_json c "$job")"
skipped=$(sed -n "s/.*job $job: EMBED [0-9]* documents ([0-9]* chunks), \([0-9]*\) already stored.*/\1/p" "$T/c.log" |
          tail -n 1)
(( skipped > 0 )) || fail "the restarted coordinator did not skip stored documents"
ok "coordinator killed (-9) mid-EMBED and restarted: $skipped documents already stored were skipped; job DONE"

store_check "$T/c-data" "$job" 1200
hb c result "$job" --json | json_get '"%.3f" % d["doc_accuracy"]' >/dev/null || fail "no result"
ok "job $job has its result"
