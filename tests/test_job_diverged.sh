#!/usr/bin/env bash
# A training that diverges (SGD at lr 9.9, no clipping) until the
# parameters are not finite: a worker's forward refuses its slice and the
# job FAILS at once with a one-line reason that says what happened (the
# training diverged; before, "model refused step 0 (rows 0..3)", which read
# like bad input), on the coordinator path and under sharded reduction -
# while the coordinator keeps serving: a sane job on the same workers then
# runs to DONE.
source "$(dirname "$0")/daemon_lib.sh" "$1"

start_coord c --heartbeat-ms 200 --expiry-ms 2000
start_worker w1 c --heartbeat-ms 200
start_worker w2 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"

for reduce in coordinator sharded; do
    job=$(hb c submit --synthetic 200 --seq 16 --batch 8 --epochs 3 --optimizer sgd --lr 9.9 --min-workers 2 \
          --reduce "$reduce" 2>"$T/submit.err")
    [[ $job =~ ^[0-9]+$ ]] || fail "submit: $(cat "$T/submit.err")"
    wait_for 60 '[[ $(job_state c '"$job"') =~ FAILED|DONE ]]' "the diverging job ($reduce) to end"
    s=$(status_json c "$job")
    st=$(json_get 'd["jobs"][0]["state"]' <<<"$s")
    why=$(json_get 'd["jobs"][0].get("error", "")' <<<"$s")
    [[ $st == FAILED ]] || fail "$reduce: the diverging job ended $st: $s"
    [[ $why == "worker w"[12]": job $job: "*" task "*": round "*" is not finite at "*": the training diverged (a smaller --lr"* ]] ||
        fail "$reduce: the job's reason: '$why'"
    out=$(hb c status "$job" 2>&1)
    [[ $out == *FAILED* ]] || fail "$reduce: human status: $out"
    ok "$reduce: the diverging job FAILED with: $why"
done

good=$(hb c submit --synthetic 60 --seq 16 --batch 8 --lr 1e-3 --min-workers 2 2>"$T/submit.err")
wait_for 60 '[[ $(job_state c '"$good"') == DONE ]]' "a sane job after them"
ok "the coordinator kept serving: job $good ran to DONE on the same workers"
