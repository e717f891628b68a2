#!/usr/bin/env bash
# The systemd watchdog, under tests/notify_harness.py (a NOTIFY_SOCKET and
# WATCHDOG_USEC as systemd gives them, and systemd's reaction: SIGABRT,
# SIGKILL and a restart once a period passes without WATCHDOG=1):
#   - both daemons say READY=1 and ping WATCHDOG=1 at least every half
#     period while their loops turn - the worker also while its compute
#     thread is busy with a job's training steps;
#   - a coordinator frozen with SIGSTOP stops pinging at once, the harness
#     detects it within the period (plus its 20 ms poll), kills and
#     restarts it; the new coordinator is READY, pings, and the job it
#     held resumes from its checkpoint and finishes.
source "$(dirname "$0")/daemon_lib.sh" "$1"
H=$HB_SOURCE_DIR/tests/notify_harness.py
[[ -n ${HB_SOURCE_DIR:-} ]] || H=$(dirname "$0")/notify_harness.py
P=$((2000 * ${HB_TIME_SCALE:-1})) # watchdog period, ms (pings every P/4)

python3 "$H" --watchdog-ms $P --events "$T/c.ev" --pidfile "$T/c.pid" -- \
  "$COORD" --work "ipc://$T/c-w" --control "ipc://$T/c-c" --status "ipc://$T/c-s" --events "ipc://$T/c-e" \
  --data-dir "$T/c-data" --heartbeat-ms 200 --expiry-ms 3000 --checkpoint-every 2 >>"$T/c.log" 2>&1 &
PID[hc]=$!
python3 "$H" --watchdog-ms $P --events "$T/w.ev" --pidfile "$T/w.pid" -- \
  "$WORKER" --work "ipc://$T/c-w" --id w1 --threads 1 --heartbeat-ms 200 --timeout-ms 3000 >>"$T/w1.log" 2>&1 &
PID[hw]=$!

pings() { grep -c " WATCHDOG $2\$" "$T/$1.ev" 2>/dev/null || true; }
wait_for 20 '[[ -s $T/c.pid ]] && grep -q " READY $(cat $T/c.pid)" $T/c.ev' "coordinator READY=1"
wait_for 20 '[[ -s $T/w.pid ]] && grep -q " READY $(cat $T/w.pid)" $T/w.ev' "worker READY=1"
cpid=$(cat "$T/c.pid") wpid=$(cat "$T/w.pid")
wait_for 10 '(( $(pings c '"$cpid"') >= 3 && $(pings w '"$wpid"') >= 3 ))' "3 pings from each daemon"
grep -q "systemd watchdog: $P ms" "$T/c.log" || fail "the coordinator did not log its watchdog period"
ok "READY=1 and WATCHDOG=1 from the coordinator ($cpid) and the worker ($wpid)"

job=$(hb c submit --synthetic 400 --seq 32 --batch 8 --epochs 10 --lr 1e-3 2>>"$T/c.log")
wait_for 60 '[[ $(status_json c '"$job"' | json_get "d[\"jobs\"][0][\"state\"]") == TRAIN ]]' "job $job in TRAIN"
wait_for 60 '(( $(status_json c '"$job"' | json_get "d[\"jobs\"][0].get(\"step\", 0)") >= 3 ))' "3 steps"
before=$(pings w "$wpid")
sleep 3
(( $(pings w "$wpid") >= before + 3 )) || fail "the worker stopped pinging while it trained"

# largest gap between consecutive pings of one pid, in ms
max_gap() { awk -v p="$2" '$2=="WATCHDOG" && $3==p { if (l != "") { g = ($1 - l) * 1000; if (g > m) m = g } l = $1 } END { printf "%d\n", m }' "$T/$1.ev"; }
gc=$(max_gap c "$cpid") gw=$(max_gap w "$wpid")
(( gc <= P / 2 && gw <= P / 2 )) || fail "ping gaps: coordinator ${gc} ms, worker ${gw} ms (at most $((P / 2)))"
ok "while a job trains, pings every <= $((P / 2)) ms (largest gaps: coordinator ${gc} ms, worker ${gw} ms)"

[[ $(job_state c "$job") == TRAIN ]] || fail "job $job left TRAIN before the freeze: make it longer"
kill -USR1 "${PID[hc]}" # the harness freezes the coordinator with SIGSTOP
wait_for 10 'grep -q " TIMEOUT $cpid" $T/c.ev' "the frozen coordinator detected"
read -r t_freeze < <(awk -v p="$cpid" '$2=="FREEZE" && $3==p {print $1}' "$T/c.ev")
read -r t_timeout age < <(awk -v p="$cpid" '$2=="TIMEOUT" && $3==p {print $1, $4}' "$T/c.ev")
late=$(awk -v p="$cpid" -v f="$t_freeze" '$2=="WATCHDOG" && $3==p && $1 > f + 0.05 {n++} END {print n+0}' "$T/c.ev")
(( late == 0 )) || fail "$late pings from the coordinator after it was frozen"
detect_ms=$(python3 -c "print(int(($t_timeout - $t_freeze) * 1000))")
(( detect_ms <= P + 100 )) || fail "frozen at ${t_freeze}s, detected at ${t_timeout}s: ${detect_ms} ms > period"
ok "SIGSTOPped coordinator: no ping after the freeze, detected ${detect_ms} ms after it (last ping ${age} ms old; period $P ms)"

wait_for 20 '[[ $(cat $T/c.pid) != '"$cpid"' ]] && grep -q " READY $(cat $T/c.pid)" $T/c.ev' "the restarted coordinator READY"
npid=$(cat "$T/c.pid")
wait_for 10 '(( $(pings c '"$npid"') >= 2 ))' "pings from the restarted coordinator"
ok "the harness killed and restarted it (pid $cpid -> $npid): READY=1, pinging"
wait_for 240 '[[ $(job_state c '"$job"') == DONE ]]' "job $job DONE after the restart"
grep -q "resum" "$T/c.log" || fail "the restarted coordinator did not say it resumed"
ok "job $job resumed and finished after the watchdog restart"
