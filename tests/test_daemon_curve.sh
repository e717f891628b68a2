#!/usr/bin/env bash
# CurveZMQ on the work and control endpoints (over TCP on loopback): keys
# from `hierbert keygen`; a worker and a CLI user whose public keys are in the
# coordinator's allow directory get in and run a job; a worker with a key
# not in it, a plain-text worker and a CLI without keys are refused (the CLI
# with a clear message, no hang) and the coordinator keeps serving.
source "$(dirname "$0")/daemon_lib.sh" "$1"

K=$T/keys; mkdir -p "$K/allow"
for n in server w1 w2 rogue me; do "$CLI" keygen "$K/$n" >/dev/null || fail "keygen $n"; done
[[ $(stat -c %a "$K/server.key") == 600 ]] || fail "secret key file not 0600"
out=$("$CLI" keygen "$K/server" 2>&1) && fail "keygen overwrote a key"
cp "$K/w1.pub" "$K/w2.pub" "$K/me.pub" "$K/allow/"
ok "keygen: pairs for the coordinator, two workers and a CLI user; .key files 0600; never overwritten ($out)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PW=$(port) PC=$(port) PS=$(port) PE=$(port)
"$COORD" --work "tcp://127.0.0.1:$PW" --control "tcp://127.0.0.1:$PC" --status "tcp://127.0.0.1:$PS" \
  --events "tcp://127.0.0.1:$PE" --data-dir "$T/c-data" --heartbeat-ms 200 \
  --curve-secret "$K/server.key" --curve-allow "$K/allow" >>"$T/c.log" 2>&1 &
PID[c]=$!
cli() { "$CLI" "$@" --control "tcp://127.0.0.1:$PC" --curve-server-public "$K/server.pub" --curve-key "$K/me.key" --timeout 2; }
wait_for 10 'cli list' "coordinator answering an allowed CLI over CURVE"
grep -q "CurveZMQ on work and control" "$T/c.log" || fail "coordinator did not say CURVE is on"
ok "an allowed CLI user talks to the CURVE coordinator"

out=$("$CLI" list --control "tcp://127.0.0.1:$PC" --timeout 1 2>&1) && fail "a CLI without keys got in"
[[ $out == *"no answer from the coordinator"* || $out == *"cannot reach"* ]] || fail "keyless CLI message: $out"
out2=$("$CLI" list --control "tcp://127.0.0.1:$PC" --curve-server-public "$K/server.pub" --curve-key "$K/rogue.key" --timeout 1 2>&1) \
  && fail "a CLI with an unlisted key got in"
ok "CLI without keys refused ('$out'); with an unlisted key refused too"

"$WORKER" --work "tcp://127.0.0.1:$PW" --id w1 --threads 1 --heartbeat-ms 200 \
  --curve-server-public "$K/server.pub" --curve-key "$K/w1.key" >>"$T/w1.log" 2>&1 &
PID[w1]=$!
"$WORKER" --work "tcp://127.0.0.1:$PW" --id rogue --threads 1 --heartbeat-ms 200 \
  --curve-server-public "$K/server.pub" --curve-key "$K/rogue.key" >>"$T/rogue.log" 2>&1 &
PID[rogue]=$!
"$WORKER" --work "tcp://127.0.0.1:$PW" --id plain --threads 1 --heartbeat-ms 200 >>"$T/plain.log" 2>&1 &
PID[plain]=$!
wait_for 10 '[[ $(cli status --json | json_get "[w[\"id\"] for w in d[\"workers\"]]") == "['"'"'w1'"'"']" ]]' "w1 registered"
sleep 2
ids=$(cli status --json | json_get '[w["id"] for w in d["workers"]]')
[[ $ids == "['w1']" ]] || fail "registered workers: $ids"
grep -q "CURVE: refused a client whose key" "$T/c.log" || fail "no refusal logged"
ok "worker w1 (allowed key) registered; rogue (unlisted key) and plain (no CURVE) never were: $ids"

job=$(cli submit --synthetic 40 --seq 16 --batch 8 --lr 1e-3 2>/dev/null)
wait_for 60 '[[ $(cli status '"$job"' --json | json_get "d[\"jobs\"][0][\"state\"]") == DONE ]]' "job over CURVE DONE"
ok "job $job ran to DONE over encrypted work and control endpoints"

# sharded reduction between CURVE workers: each peer endpoint serves with
# its worker's pair and lets in the plan's members only (their keys come
# with the plan); the job is reduced by the workers, not the coordinator
"$WORKER" --work "tcp://127.0.0.1:$PW" --id w2 --threads 1 --heartbeat-ms 200 \
  --curve-server-public "$K/server.pub" --curve-key "$K/w2.key" >>"$T/w2.log" 2>&1 &
PID[w2]=$!
wait_for 10 '(( $(cli status --json | json_get "len(d[\"workers\"])") == 2 ))' "w2 registered"
job2=$(cli submit --synthetic 40 --seq 16 --batch 8 --lr 1e-3 --min-workers 2 2>/dev/null)
wait_for 60 '[[ $(cli status '"$job2"' --json | json_get "d[\"jobs\"][0][\"state\"]") == DONE ]]' "sharded job over CURVE DONE"
red=$(cli status "$job2" --json | json_get 'd["jobs"][0]["reduce"]')
[[ $red == sharded ]] || fail "job $job2 was reduced by: $red ($(grep 'sharded reduction off' "$T/c.log"))"
grep -q "job $job2: shard plan .* ready" "$T/c.log" || fail "no shard plan became ready for job $job2"
grep -q "job $job2: sharded reduction off" "$T/c.log" && fail "job $job2 fell back to the coordinator"
grep -q "peer endpoint: refused a CURVE client" "$T/w1.log" "$T/w2.log" && fail "a member was refused by a peer"
ok "job $job2 ran to DONE with sharded reduction between CURVE workers (peer endpoints CURVE servers, members only)"

# a stranger at w1's peer endpoint: a CURVE client with a key that is no
# plan's member is refused by name (ZAP, answered while w1 is in a sharded
# job's exchange), a plain-text one gets nowhere (no CURVE handshake); the
# job goes on to DONE
RAW=$B/tests/hb-raw-client
peer1=$(cli status --json | json_get '[w["peer"] for w in d["workers"] if w["id"] == "w1"][0]')
[[ $peer1 == tcp://* ]] || fail "w1's peer endpoint: '$peer1'"
rogue=$(sed -n "s/^public=//p" "$K/rogue.pub")
job3=$(cli submit --synthetic 400 --seq 16 --batch 8 --lr 1e-3 --epochs 4 --min-workers 2 2>/dev/null)
wait_for 30 '[[ $(cli status '"$job3"' --json | json_get "d[\"jobs\"][0][\"state\"]") == TRAIN ]]' "job $job3 in TRAIN"
"$RAW" "$peer1" peer "$K/w1.pub" "$K/rogue.key" || fail "the rogue CURVE client could not even try"
"$RAW" "$peer1" peer - - || fail "the plain-text client could not even try"
wait_for 60 '[[ $(cli status '"$job3"' --json | json_get "d[\"jobs\"][0][\"state\"]") == DONE ]]' "sharded job $job3 DONE"
[[ $(cli status "$job3" --json | json_get 'd["jobs"][0]["reduce"]') == sharded ]] || fail "job $job3 not sharded"
grep -qF "peer endpoint: refused a CURVE client $rogue" "$T/w1.log" ||
    fail "w1 did not refuse the rogue key: $(grep "peer endpoint" "$T/w1.log")"
grep -q "peer endpoint: dropped a frame" "$T/w1.log" && fail "a stranger's frame reached w1's peer loop"
ok "w1's peer endpoint refused a non-member CURVE key by name ($rogue) and a plain-text client mid-job (neither frame reached its loop); job $job3 went on, sharded, to DONE"

