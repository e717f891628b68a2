#!/usr/bin/env bash
# `hierbert events` against a real coordinator and worker: a job's stream
# starts with its snapshot, then shows its states in order, every epoch,
# TRAIN progress rising to the step count and every head epoch, and
# --until ends it with the right exit code; the unfiltered stream shows the
# worker joining. The counts are the job's own (its status), none typed in.
source "$(dirname "$0")/daemon_lib.sh" "$1"
ev() { "$CLI" events "$@" --events "ipc://$T/c-e" --control "ipc://$T/c-c"; }

start_coord c --heartbeat-ms 200
ev --for 10 > "$T/all.txt" 2>>"$T/c.log" &
all=$!
sleep 0.3 # (the subscription up before the worker joins)
start_worker w1 c --heartbeat-ms 200
job=$(hb c submit --synthetic 60 --seq 16 --batch 8 --lr 1e-3 --epochs 2 --head-epochs 3 2>/dev/null) || fail "submit"
ev "$job" --until DONE > "$T/job.txt" || fail "events --until DONE: exit $?"
status_json c "$job" > "$T/status.json"
python3 - "$T/job.txt" "$T/status.json" <<'PY' || fail "the job's event stream"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
st = json.load(open(sys.argv[2]))["jobs"][0]
assert ev[0]["event"] == "snapshot", ev[0]["event"]
assert all(e["id"] == st["id"] for e in ev), "another job's event"
order = ["INGEST", "QUEUED", "TRAIN", "EMBED", "HEAD", "DONE"]
seen = [e["state"] for e in ev]
assert all(order.index(a) <= order.index(b) for a, b in zip(seen, seen[1:])), f"states out of order: {seen}"
for s in order[order.index(seen[0]) + 1:]:
    assert any(e["event"] == "state" and e["state"] == s for e in ev), f"no state event for {s}: {seen}"
assert seen[-1] == "DONE"
epochs = [e for e in ev if e["event"] == "epoch"]
assert len(epochs) == st["epochs"], f"{len(epochs)} epoch events, the job has {st['epochs']} epochs"
prog = [e["step"] for e in ev if e["event"] == "progress"]
assert prog and prog == sorted(prog) and prog[-1] == st["total_steps"], f"progress steps {prog}, {st['total_steps']} steps"
heads = [e for e in ev if e["event"] == "head_epoch"]
assert len(heads) == 3, f"{len(heads)} head_epoch events for 3 head epochs"
seqs = [e["seq"] for e in ev[1:]]
assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"job event seq not consecutive: {seqs}"
print(f"{len(ev)} events: snapshot in {seen[0]}, {len(prog)} progress, {len(epochs)} epochs, {len(heads)} head epochs")
PY
ok "events $job --until DONE: $(wc -l < "$T/job.txt") lines, states in order, every epoch and head epoch, seq consecutive"

ev "$job" --until TRAIN > "$T/past.txt" || fail "--until TRAIN on a DONE job: exit $?"
[[ $(head -1 "$T/past.txt") == *'"event":"snapshot"'* && $(wc -l < "$T/past.txt") == 1 ]] ||
  fail "--until a state the job is past: $(cat "$T/past.txt")"
ok "--until a state the job is past: the snapshot, exit 0"
rc=0; ev "$job" --until FAILED > /dev/null 2> "$T/failed.err" || rc=$?
[[ $rc == 1 ]] && grep -q "ended DONE" "$T/failed.err" || fail "--until FAILED on a DONE job: exit $rc, $(cat "$T/failed.err")"
rc=0; ev 99 --until DONE > /dev/null 2> "$T/nojob.err" || rc=$?
[[ $rc == 1 ]] && grep -q "unknown job 99" "$T/nojob.err" || fail "an unknown job: exit $rc, $(cat "$T/nojob.err")"
rc=0; ev --until DONE > /dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--until without a job: exit $rc"
rc=0; ev "$job" --until SOON > /dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "--until SOON: exit $rc"
ok "--until FAILED on a DONE job exits 1 (\"$(cat "$T/failed.err")\"), an unknown job 1, bad uses 2"

wait "$all" || fail "events --for 10: exit $?"
grep -Eq '"event":"worker_joined","seq":[0-9]+,"worker":"w1"' "$T/all.txt" || fail "the unfiltered stream has no worker_joined"
grep -q "\"id\":$job" "$T/all.txt" || fail "the unfiltered stream has none of job $job's events"
ok "the unfiltered stream: $(wc -l < "$T/all.txt") lines, the worker joining and the job"
stop w1
stop c
