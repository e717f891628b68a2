#!/usr/bin/env bash
# Real daemons on real sockets: --help and bad configs; coordinator start and
# stop with sd_notify READY/STOPPING; worker Hello and heartbeats in the status
# JSON; a worker's Goodbye; worker expiry (SIGSTOP) and its return; workers
# reconnecting after a coordinator restart.
source "$(dirname "$0")/daemon_lib.sh" "$1"

for p in "$COORD" "$WORKER" "$CLI"; do
  "$p" --help | grep -q usage || fail "$p --help"
done
"$CLI" submit --help >"$T/submit-help.txt" || fail "submit --help exits non-zero" # (not piped into grep -q: SIGPIPE)
grep -q -- "--sync-every" "$T/submit-help.txt" || fail "submit --help"
ok "--help of hierbert-coordinator, hierbert-worker, hierbert, hierbert submit"

# bad command lines: one line naming the flag, exit 2, for both daemons
for p in "$COORD" "$WORKER"; do
  n=$(basename "$p")
  for args in "--bogus|unknown option --bogus" "--heartbeat-ms|--heartbeat-ms needs a value" \
              "--heartbeat-ms 5|heartbeat_ms" "stray|unexpected argument 'stray'"; do
    a=${args%%|*} want=${args#*|}
    rc=0; out=$(HIERBERT_CONF=/dev/null "$p" $a 2>&1) || rc=$?
    [[ $rc == 2 && $(wc -l <<<"$out") == 1 && $out == "$n: "*"$want"* ]] || fail "$n $a: rc $rc, '$out'"
  done
done
out=$(HIERBERT_CONF=/dev/null "$WORKER" --x-protocol-version 1x 2>&1) && fail "worker took version '1x'"
[[ $out == *"--x-protocol-version: '1x'"* ]] || fail "version message: $out"
ok "unknown flags, a flag without its value, an out-of-range value, a stray argument: one line each, exit 2"

printf '[worker]\nthreads = many\n' > "$T/bad.conf"
out=$("$WORKER" --config "$T/bad.conf" 2>&1) && fail "worker accepted a bad config"
[[ $(wc -l <<<"$out") == 1 && $out == *"bad.conf:2"*"threads"* ]] || fail "worker bad config message: $out"
printf '[coordinator]\nheartbeat_ms = 1000\nno_such_key = 1\n' > "$T/bad2.conf"
out=$("$COORD" --config "$T/bad2.conf" 2>&1) && fail "coordinator accepted a bad config"
[[ $out == *"bad2.conf:3: unknown key 'no_such_key'"* ]] || fail "coordinator bad config message: $out"
printf '[wroker]\nid = x\n' > "$T/bad3.conf"
out=$("$WORKER" --config "$T/bad3.conf" 2>&1) && fail "worker accepted an unknown section"
[[ $out == *"unknown section [wroker]"* ]] || fail "unknown section message: $out"
ok "bad config files refused with one line naming file:line ($out)"
out=$(HIERBERT_CONF=/dev/null "$WORKER" --id 'w"1' --work "ipc://$T/none" 2>&1) && fail "worker took a quoted id"
[[ $(wc -l <<<"$out") == 1 && $out == *"worker id 'w\"1': byte 0x22 at offset 1"* ]] || fail "quoted id message: $out"
ok "a worker id the coordinator would refuse is refused at start: $out"

# the example config parses for every program
ex=$(dirname "$0")/../ops/hierbert.conf.example
"$WORKER" --config "$ex" --help >/dev/null || fail "worker rejects ops/hierbert.conf.example"
"$COORD" --config "$ex" --help >/dev/null || fail "coordinator rejects ops/hierbert.conf.example"
out=$("$CLI" list --config "$ex" --control "ipc://$T/nothing" --timeout 0.2 2>&1 || true)
[[ $out == *"cannot reach"* ]] || fail "CLI rejects ops/hierbert.conf.example: $out"
ok "ops/hierbert.conf.example is accepted by the coordinator, the worker and the CLI"

# sd_notify: a unix datagram socket standing in for systemd
python3 - "$T/notify" >"$T/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(20)
try:
    while True:
        m = s.recv(4096).decode(); print(m.replace("\n", " | "), flush=True)
        if "STOPPING=1" in m: break
except socket.timeout: pass
PY
PID[notify]=$!
for _ in $(seq 50); do [[ -S $T/notify ]] && break; sleep 0.05; done
exec 9>"$T/held.lock"   # a descriptor the daemons must not keep (as `flock FILE ctest` hands down)
NOTIFY_SOCKET=$T/notify start_coord c --heartbeat-ms 200 --expiry-ms 1000
grep -q "READY=1" "$T/notify.out" || { sleep 0.5; grep -q "READY=1" "$T/notify.out"; } || fail "no READY=1"
ok "coordinator started, answers the CLI, sent READY=1 to NOTIFY_SOCKET"

start_worker w1 c --heartbeat-ms 200 --timeout-ms 1500
start_worker w2 c --heartbeat-ms 200 --timeout-ms 1500
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers registered"
grep -q "w1 joined" "$T/c.log" || fail "no join log"
ok "two workers said Hello and are registered"
for p in "${PID[c]}" "${PID[w1]}"; do
  ls -l "/proc/$p/fd" | grep -q held.lock && fail "daemon $p kept an inherited descriptor"
done
exec 9>&-
ok "the daemons closed the descriptors they inherited (a leaked daemon cannot hold a lock file)"
sleep 1.2
ages=$(status_json c | json_get 'max(w["last_heartbeat_ms"] for w in d["workers"])')
(( ages < 1000 )) || fail "heartbeats stale: $ages ms"
ok "heartbeats keep workers fresh (oldest last heartbeat ${ages} ms ago)"

stop w2 TERM
wait_for 3 '[[ $(workers_live c) == 1 ]]' "w2 gone after its Goodbye"
grep -q "w2.*said goodbye" "$T/c.log" || fail "no goodbye log"
ok "a stopped worker says Goodbye and is dropped at once"

kill -STOP "${PID[w1]}"
wait_for 5 '[[ $(workers_live c) == 0 ]]' "w1 expired"
grep -q "w1.*dropped: no heartbeat" "$T/c.log" || fail "no expiry log"
ok "a silent worker (SIGSTOP) expires after the heartbeat expiry"
kill -CONT "${PID[w1]}"
wait_for 8 '[[ $(workers_live c) == 1 ]]' "w1 back after SIGCONT"
ok "the worker comes back when it wakes up (Hello again)"

stop c TERM
wait_for 3 'grep -q "STOPPING=1" "$T/notify.out"' "STOPPING=1"
ok "coordinator stopped on SIGTERM with STOPPING=1"
sleep 0.5
start_coord c --heartbeat-ms 200 --expiry-ms 1000
wait_for 15 '[[ $(workers_live c) == 1 ]]' "w1 reconnected to the restarted coordinator"
grep -q "reconnecting" "$T/w1.log" || grep -q "saying Hello again" "$T/w1.log" || fail "no reconnect in worker log"
ok "the worker reconnects to a restarted coordinator and says Hello again"
# heartbeats while computing: tasks of several seconds against a 1 s expiry
drops=$(grep -c "w1.*dropped" "$T/c.log" || true)
job=$(hb c submit --synthetic 300 --seq 128 --batch 128 --sync-every 8 --max-steps 16 --lr 1e-4 2>/dev/null)
busy=0
while [[ $(job_state c "$job") != DONE ]]; do
  s=$(status_json c)
  [[ $(json_get 'len(d["workers"])' <<<"$s") == 1 ]] || fail "worker dropped while computing"
  [[ $(json_get 'd["workers"][0]["busy"]' <<<"$s") == True ]] && busy=1
  sleep 0.2
done
r=$(status_json c "$job" | json_get 'd["jobs"][0]["last_round"]["compute_s"]')
[[ $(grep -c "w1.*dropped" "$T/c.log" || true) == "$drops" ]] || fail "w1 dropped during the job"
python3 -c "import sys; sys.exit(0 if $r > 1.0 else 1)" || fail "tasks too short to prove anything ($r s)"
(( busy )) || fail "never saw the worker busy"
ok "a worker computing ${r} s per task (expiry 1 s) kept heartbeating: never dropped, reported busy"
stop w1 TERM
stop c TERM
echo "all lifecycle checks passed"
