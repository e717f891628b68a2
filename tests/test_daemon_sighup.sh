#!/usr/bin/env bash
# SIGHUP and log lines, on real daemons:
#   - log_file: the coordinator and the worker append their log there; after
#     the file is moved away (logrotate), SIGHUP makes a new one;
#   - SIGHUP re-reads the config: the live entries apply at once (a worker
#     frozen after worker_expiry_ms went 60000 -> 1000 is dropped within
#     seconds), the others are named as needing a restart and left alone; a
#     config that no longer parses is refused with its file:line and the
#     running one stays;
#   - with stderr the journal's stream ($JOURNAL_STREAM = its device:inode)
#     every line starts with a syslog priority (<6> info, <4> warn, <3>
#     error) and elsewhere with the time stamp, as before.
source "$(dirname "$0")/daemon_lib.sh" "$1"

cat >"$T/c.conf" <<EOF
[coordinator]
log_file = $T/c-file.log
worker_expiry_ms = 60000
heartbeat_ms = 200
EOF
cat >"$T/w.conf" <<EOF
[worker]
log_file = $T/w-file.log
heartbeat_ms = 200
EOF
start_coord c --config "$T/c.conf"
start_worker w1 c --config "$T/w.conf"
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
grep -q "serving" "$T/c-file.log" || fail "the coordinator's log_file has no 'serving' line"
grep -q "coordinator .* answered" "$T/w-file.log" || fail "the worker's log_file has no 'answered' line"
[[ ! -s $T/c.log ]] || fail "the coordinator wrote to stderr despite log_file: $(head -3 "$T/c.log")"
ok "log_file: both daemons log to their files, nothing on stderr"

mv "$T/c-file.log" "$T/c-file.log.1"
mv "$T/w-file.log" "$T/w-file.log.1"
sed -i 's/worker_expiry_ms = 60000/worker_expiry_ms = 1000/' "$T/c.conf"
printf '[endpoints]\nmetrics = 127.0.0.1:1\n' >>"$T/c.conf"
printf 'heartbeat_ms = 300\nmax_frame_mb = 512\n' >>"$T/w.conf"
kill -HUP "${PID[c]}" "${PID[w1]}"
wait_for 10 'grep -q "SIGHUP" $T/c-file.log' "the coordinator's new log file"
wait_for 10 'grep -q "SIGHUP" $T/w-file.log' "the worker's new log file"
line=$(grep SIGHUP "$T/c-file.log")
[[ $line == *"applied: worker_expiry_ms=1000"* && $line == *"needing a restart (ignored): metrics"* ]] ||
  fail "coordinator SIGHUP line: $line"
wline=$(grep SIGHUP "$T/w-file.log")
[[ $wline == *"applied: heartbeat_ms=300"* && $wline == *"needing a restart (ignored): max_frame_mb"* ]] ||
  fail "worker SIGHUP line: $wline"
grep -q SIGHUP "$T/c-file.log.1" && fail "the SIGHUP line went to the moved file"
ok "SIGHUP reopened both logs (moved files untouched); coordinator: $line"
ok "worker: $wline"

kill -STOP "${PID[w1]}"
t0=$SECONDS
wait_for 8 '[[ $(workers_live c) == 0 ]]' "the frozen worker dropped after the new 1000 ms expiry"
kill -CONT "${PID[w1]}"
ok "worker_expiry_ms 1000 applied: a frozen worker dropped after $((SECONDS - t0)) s (60 s before the SIGHUP)"

echo "this line is no setting" >>"$T/c.conf"
kill -HUP "${PID[c]}"
wait_for 10 '[[ $(grep -c SIGHUP $T/c-file.log) == 2 ]]' "a second SIGHUP line"
bad=$(grep SIGHUP "$T/c-file.log" | tail -1)
[[ $bad == *"config not re-read ($T/c.conf:"*"the running one stays"* ]] || fail "bad config SIGHUP line: $bad"
kill -0 "${PID[c]}" || fail "the coordinator died on a bad config"
hb c list >/dev/null || fail "the coordinator stopped answering after a bad config"
ok "a config that does not parse on SIGHUP: refused with file:line, the coordinator runs on: $bad"
stop w1
stop c

# priorities: stderr is a file whose device:inode JOURNAL_STREAM names, as systemd does for the journal
: >"$T/j.log"
js=$(stat -c '%d:%i' "$T/j.log")
JOURNAL_STREAM=$js "$COORD" --work "ipc://$T/j-w" --control "ipc://$T/j-c" --status "ipc://$T/j-s" \
  --events "ipc://$T/j-e" --data-dir "$T/j-data" >>"$T/j.log" 2>&1 &
PID[j]=$!
wait_for 10 'grep -q serving $T/j.log' "the journal coordinator serving"
kill -HUP "${PID[j]}" # re-reads $HIERBERT_CONF (empty): nothing to apply
wait_for 10 'grep -q SIGHUP $T/j.log' "SIGHUP line in the journal log"
stop j
grep -q '^<6>hierbert-coordinator info: serving' "$T/j.log" || fail "no <6> info line: $(head -2 "$T/j.log")"
if grep -v '^<[0-7]>' "$T/j.log" | grep -q .; then fail "lines without a priority: $(grep -v '^<[0-7]>' "$T/j.log" | head -2)"; fi
"$COORD" --data-dir "$T/x" --work "nonsense://x" >"$T/x.log" 2>&1 && fail "a bad endpoint accepted"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/x.log") "$COORD" --data-dir "$T/x" --work "nonsense://x" >>"$T/x.log" 2>&1 || true
grep -q '^<3>hierbert-coordinator: ' "$T/x.log" || fail "the fatal error has no <3>: $(cat "$T/x.log")"
head -1 "$T/x.log" | grep -q '^hierbert-coordinator: ' || fail "outside the journal the error changed: $(head -1 "$T/x.log")"
ok "under the journal every line has a priority (<6> info, <3> the fatal error); elsewhere as before"
