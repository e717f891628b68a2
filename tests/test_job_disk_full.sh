#!/usr/bin/env bash
# A full disk under a running job, for real: the coordinator's data directory
# is a small tmpfs; after the job is ingested the test fills it to the last
# byte, then starts a worker. Checkpoints and EMBED commits fail with ENOSPC:
#   - each failure is logged with the reason, the coordinator keeps serving
#     status and the job waits in EMBED (received documents stay pending);
#   - failed commits back off (0.1 s doubling up to 30 s), not a line a tick;
#   - once space is freed the pending commits land and the job reaches DONE
#     with every document embedded exactly once.
# Skipped, saying why, where a tmpfs cannot be mounted (no root).
source "$(dirname "$0")/daemon_lib.sh" "$1"

D=$T/disk
mkdir -p "$D"
hb_extra_cleanup() { umount "$D" 2>/dev/null || true; }
if ! out=$(mount -t tmpfs -o size=48m tmpfs "$D" 2>&1); then
  echo "skipped: cannot mount a tmpfs here ($out); the full-disk test needs root"
  exit 0
fi

"$COORD" --work "ipc://$T/c-w" --control "ipc://$T/c-c" --status "ipc://$T/c-s" --events "ipc://$T/c-e" \
  --data-dir "$D/data" --heartbeat-ms 300 >>"$T/c.log" 2>&1 &
PID[c]=$!
wait_for 10 'hb c list --timeout 0.5' "coordinator answering"

job=$(hb c submit --synthetic 300 --seq 32 --batch 8 --epochs 1 --max-steps 3 --seed 3 2>>"$T/c.log")
st=$(job_state c "$job")
[[ $st == QUEUED || $st == TRAIN ]] || fail "job $job not waiting for a worker: $st"

# the disk: full
dd if=/dev/zero of="$D/filler" bs=64k >/dev/null 2>&1 || true
avail=$(df --output=avail -B1 "$D" | tail -n 1 | tr -d ' ')
(( avail < 65536 )) || fail "the tmpfs still has $avail bytes free after filling it"
ok "ingested job $job, then filled the data directory's disk ($avail bytes left)"

start_worker w1 c --heartbeat-ms 300
wait_for 120 'grep -q "EMBED commit of .* failed" "$T/c.log"' "a failed EMBED commit"
line=$(grep -m1 "EMBED commit of .* failed" "$T/c.log")
[[ $line == *"disk full"* ]] || fail "the commit failure does not say the disk is full: $line"
ok "EMBED commit failure logged: ${line#*error: }"
grep -q "checkpoint" "$T/c.log" && ok "checkpoint failures logged too: $(grep -m1 -i "error.*checkpoint\|checkpoint.*space" "$T/c.log" | cut -c1-160)"

sleep 4
[[ $(job_state c "$job") == EMBED ]] || fail "job $job left EMBED on a full disk: $(job_state c "$job")"
kill -0 "${PID[c]}" || fail "the coordinator died on a full disk"
n=$(grep -c "EMBED commit of .* failed" "$T/c.log")
(( n <= 10 )) || fail "$n commit-failure lines in ~4 s: no back-off"
ok "coordinator serving, job $job held in EMBED; $n failure lines in ~4 s (backing off)"

rm -f "$D/filler"
wait_for 120 '[[ $(job_state c '"$job"') == DONE ]]' "job $job DONE once space is back"
grep -q "EMBED commit succeeded after" "$T/c.log" || fail "no recovery line in the log"
ok "space freed: $(grep -m1 "EMBED commit succeeded after" "$T/c.log" | sed 's/.*: EMBED/EMBED/'); job $job DONE"
store_check "$D/data" "$job" 300
hb c result "$job" --json | json_get '"%.3f" % d["doc_accuracy"]' >/dev/null || fail "no result for job $job"
ok "job $job has its result"
