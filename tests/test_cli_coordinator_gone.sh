#!/usr/bin/env bash
# The coordinator dies while a client waits for its answer: a submit whose
# dataset is still being ingested when the coordinator is killed (-9). The
# client says so within seconds - the connection closed before the answer,
# `hierbert list` tells whether it was taken - and exits non-zero, instead
# of waiting out its 120 s ingest timeout. After a restart the same submit
# goes through.
source "$(dirname "$0")/daemon_lib.sh" "$1"

big_jsonl "$T/big.jsonl" 60000 7
VOCAB=$(cd "$(dirname "$0")/data" && pwd)/vocab_small.txt

start_coord c --heartbeat-ms 200
t0=$(date +%s%N)
hb c submit --train "$T/big.jsonl" --vocab "$VOCAB" --val-fraction 0.1 --seq 32 >"$T/sub.out" 2>"$T/sub.err" &
sub=$!
wait_for 20 'hb c list | grep -q " INGEST "' "the job listed as INGEST"
stop c KILL
t1=$(date +%s%N)
rc=0
wait $sub || rc=$?
t2=$(date +%s%N)
(( rc != 0 )) || fail "submit exited 0 after the coordinator died: $(cat "$T/sub.out" "$T/sub.err")"
grep -q "closed the connection before answering (stopped or restarted?)" "$T/sub.err" ||
    fail "submit's message: $(cat "$T/sub.err")"
ms=$(( (t2 - t1) / 1000000 ))
(( ms < 10000 )) || fail "submit took $ms ms to notice"
ok "submit noticed the coordinator's death mid-INGEST in $ms ms (exit $rc): $(cat "$T/sub.err")"

start_coord c --heartbeat-ms 200
job=$(hb c submit --train "$T/big.jsonl" --vocab "$VOCAB" --val-fraction 0.1 --seq 32 2>"$T/sub2.err")
[[ $job =~ ^[0-9]+$ ]] || fail "submit after the restart: $(cat "$T/sub2.err")"
ok "after a restart the same submit was taken: job $job ($(tail -1 "$T/sub2.err"))"
