#!/usr/bin/env bash
# test_load_status.sh - the short CI version of ops/load.sh: while a real
# job trains on a real worker, 8 clients poll the status REP as fast as it
# answers, 4 scrape HTTP /metrics (a connection each), and 64 slow HTTP
# clients hold connections open (half a request, or a whole one never
# read), 8 subscribers read the events PUB and 32 subscribe and never read,
# and 2 hostile control clients send garbage, empty and oversized frames
# and Lists as fast as they are answered, for 6 s (tests/tools/hb_load.c). Checks: every poll and scrape is
# answered (no 2 s timeout, every scrape 200 with hierbert_up 1), status
# p99 under 500 ms and scrapes under 2 s, every reading subscriber gets
# every event (each topic's seq without a gap, every event well formed),
# every control frame is answered and the log holds 20 of the refusals
# (COORD_REFUSED_LOG_BURST) and then one line counting the rest,
# the coordinator's RSS grows by less than 20 MB, and the job still
# reaches DONE.
source "$(dirname "$0")/daemon_lib.sh" "$1"
LOAD=$B/tests/hb-load
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_coord c --metrics "127.0.0.1:$PORT" --heartbeat-ms 200
start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
job=$(hb c submit --synthetic 400 --seq 32 --batch 8 --epochs 3 --lr 1e-3 2>>"$T/c.log") || fail "submit"
wait_for 60 '[[ $(job_state c '"$job"') == TRAIN ]]' "job $job in TRAIN"
rss() { ps -o rss= -p "${PID[c]}" | tr -d ' '; }
rss0=$(rss)
"$LOAD" --status "ipc://$T/c-s" --status-clients 8 --http "127.0.0.1:$PORT" --http-clients 4 --slow 64 \
  --events "ipc://$T/c-e" --event-clients 8 --event-stalled 32 \
  --control "ipc://$T/c-c" --control-clients 2 --seconds 6 > "$T/load.json" || fail "hb-load"
rss1=$(rss)
state=$(job_state c "$job")
cat "$T/load.json"
python3 - "$T/load.json" "$rss0" "$rss1" "$state" <<'EOF2' || fail "load figures"
import json, sys
d = json.load(open(sys.argv[1])); rss0, rss1, state = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s, h, w, e, k = d["status"], d["http"], d["slow"], d["events"], d["control"]
assert s["errors"] == 0 and h["errors"] == 0 and k["errors"] == 0, \
    f"unanswered: status {s['errors']}, http {h['errors']}, control {k['errors']}"
assert k["requests"] >= 400, f"only {k['requests']} control frames answered"
assert s["requests"] >= 200 and h["requests"] >= 20, f"too few answers: status {s['requests']}, http {h['requests']}"
assert s["p99_ms"] < 500, f"status p99 {s['p99_ms']} ms"
assert h["p99_ms"] < 2000, f"http p99 {h['p99_ms']} ms"
assert w["opened"] == 64, f"slow clients opened {w['opened']}"
assert e["min_per_client"] >= 10, f"a subscriber got only {e['min_per_client']} events in 6 s of TRAIN"
assert e["gaps"] == 0 and e["bad"] == 0, f"events: {e['gaps']} missing by seq, {e['bad']} malformed or repeated"
assert rss1 - rss0 < 20 * 1024, f"RSS grew {(rss1 - rss0) / 1024:.1f} MB"
print(f"ok - during TRAIN ({state} after): status {s['requests']} polls from 8 clients ({s['per_s']}/s), p50 {s['p50_ms']} "
      f"p99 {s['p99_ms']} max {s['max_ms']} ms; /metrics {h['requests']} scrapes from 4 ({h['per_s']}/s), p99 {h['p99_ms']} ms; "
      f"64 slow HTTP connections held ({w['still_open_at_end']} still open at the end); "
      f"events: 8 subscribers got {e['min_per_client']}..{e['max_per_client']} each, no gap, beside 32 stalled; "
      f"control: {k['requests']} hostile frames answered, p99 {k['p99_ms']} ms; no error; "
      f"coordinator RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MB")
EOF2
wait_for 120 '[[ $(job_state c '"$job"') =~ DONE|FAILED ]]' "job $job finished"
[[ $(job_state c "$job") == DONE ]] || fail "job $job: $(status_json c "$job")"
ok "job $job reached DONE after the load"
n=$(grep -c "control: refused a frame" "$T/c.log" || true)
[[ $n == 20 ]] || fail "$n refused-frame warnings logged, not 20"
wait_for 15 'grep -q "control: [0-9]* more frames refused and not logged" "$T/c.log"' "the count of the unlogged refusals"
ok "refusals logged: 20, then $(grep -o "control: [0-9]* more frames refused[^;]*" "$T/c.log")"
