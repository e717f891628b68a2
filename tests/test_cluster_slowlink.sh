#!/usr/bin/env bash
# Heartbeats never wait behind a bulk message. The coordinator in one network
# namespace, two workers in another, the link between them limited (tbf, both
# ends) so that one bulk message (the eval round's Params, a shard plan, a
# checkpoint round's ShardState: 15-60 MB for the mini preset) takes longer on
# the wire than the worker expiry and the worker's coordinator timeout. With
# heartbeats on the work connection they would queue behind that message, the
# coordinator would drop the worker, the worker would reconnect, and the round
# would roll back for ever; on the heartbeat connection
# (hierbert.proto Hello.hb_token) the job runs to DONE with no worker lost and
# no reconnect. Skipped, saying why, where namespaces cannot be made.
source "$(dirname "$0")/daemon_lib.sh" "$1"

P=hs$$
NS_C=$P-c NS_W=$P-w
RATE=${HB_SLOWLINK_RATE:-150mbit}
hb_extra_cleanup() {
  local ns
  for ns in "$NS_C" "$NS_W"; do ip netns del "$ns" 2>/dev/null || true; done
}
if ! out=$(ip netns add "$NS_C" 2>&1); then
  echo "skipped: cannot create network namespaces here ($out); this test needs root with CAP_SYS_ADMIN"
  exit 0
fi
ip netns add "$NS_W"
ip link add "$P-c" type veth peer name "$P-w"
ip link set "$P-c" netns "$NS_C"; ip link set "$P-w" netns "$NS_W"
nx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
nx "$NS_C" ip addr add 10.214.1.1/24 dev "$P-c"; nx "$NS_W" ip addr add 10.214.1.2/24 dev "$P-w"
for ns in "$NS_C" "$NS_W"; do nx "$ns" ip link set lo up; done
nx "$NS_C" ip link set "$P-c" up; nx "$NS_W" ip link set "$P-w" up
nx "$NS_C" tc qdisc add dev "$P-c" root tbf rate "$RATE" burst 256kb latency 100ms
nx "$NS_W" tc qdisc add dev "$P-w" root tbf rate "$RATE" burst 256kb latency 100ms
sleep 0.5 # veth carrier
ok "2 namespaces, the link limited to $RATE each way"

# expiry and timeout 1.5 s: one mini Params (44 MB) takes ~2.4 s at 150 Mbit/s
ip netns exec "$NS_C" "$COORD" --work tcp://0.0.0.0:5555 --control tcp://127.0.0.1:5556 --status tcp://127.0.0.1:5557 \
  --events tcp://127.0.0.1:5558 --data-dir "$T/c-data" --heartbeat-ms 200 --expiry-ms 1500 --checkpoint-every 1 --checkpoint-min-s 0 -v >>"$T/c.log" 2>&1 &
PID[c]=$!
cli() { nx "$NS_C" "$CLI" "$@" --control tcp://127.0.0.1:5556 --timeout 5; }
wait_for 10 'cli list' "coordinator answering in its namespace"
for n in a b; do
  ip netns exec "$NS_W" "$WORKER" --work tcp://10.214.1.1:5555 --id "node-$n" --threads 1 --heartbeat-ms 200 \
    --timeout-ms 1500 --peer "tcp://10.214.1.2:56$([[ $n == a ]] && echo 01 || echo 02)" >>"$T/$n.log" 2>&1 &
  PID[$n]=$!
done
wait_for 15 '[[ $(cli status --json | json_get "len(d[\"workers\"])") == 2 ]]' "both workers registered"

# mini: 11.1M parameters. 3 rounds, a checkpoint gather on each (min-s 0), the
# eval round's Params, EMBED and HEAD.
job=$(cli submit --synthetic 48 --preset mini --seq 16 --batch 16 --epochs 1 --lr 1e-4 --min-workers 2 \
  --reduce sharded 2>>"$T/c.log")
wait_for 240 '[[ $(cli status $job --json | json_get "d[\"jobs\"][0][\"state\"]") =~ ^(DONE|FAILED)$ ]]' \
  "job $job finished"
s=$(cli status "$job" --json)
state=$(json_get 'd["jobs"][0]["state"]' <<<"$s")
[[ $state == DONE ]] || fail "job $job: $state"
grep -q "worker node-.* dropped" "$T/c.log" && fail "a worker was dropped: $(grep -m1 'dropped' "$T/c.log")"
grep -q "silent for" "$T/a.log" "$T/b.log" && fail "a worker reconnected: $(grep -h -m1 'silent for' "$T/a.log" "$T/b.log")"
grep -q "heartbeat connection up" "$T/c.log" || fail "no heartbeat connection was paired"
grep -q "shard plan [0-9]* ready" "$T/c.log" || fail "the job did not run the sharded reduction"
grep -q "sharded reduction off" "$T/c.log" && fail "the sharded reduction fell back: $(grep -m1 "reduction off" "$T/c.log")"
ok "job $job DONE over a $RATE link: no worker dropped, no reconnect, heartbeats on their own connections"
for n in a b c; do stop "$n"; done
ok "daemons stopped"
