#!/usr/bin/env bash
# Multi-host over real TCP: the coordinator and two workers each in their own
# network namespace (ip netns), linked by veth pairs on two subnets; the CLI
# talks to the coordinator inside its namespace. A small job runs to DONE on
# both workers. Skipped, saying why, where namespaces cannot be made (no root
# or no CAP_SYS_ADMIN, e.g. an unprivileged container).
source "$(dirname "$0")/daemon_lib.sh" "$1"

P=hb$$
NS_C=$P-c NS_A=$P-a NS_B=$P-b
hb_extra_cleanup() {
  local ns
  for ns in "$NS_C" "$NS_A" "$NS_B"; do ip netns del "$ns" 2>/dev/null || true; done
}
if ! out=$(ip netns add "$NS_C" 2>&1); then
  echo "skipped: cannot create network namespaces here ($out); the multi-host test needs root with CAP_SYS_ADMIN"
  exit 0
fi
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$P-ca" type veth peer name "$P-ac"
ip link add "$P-cb" type veth peer name "$P-bc"
ip link set "$P-ca" netns "$NS_C"; ip link set "$P-ac" netns "$NS_A"
ip link set "$P-cb" netns "$NS_C"; ip link set "$P-bc" netns "$NS_B"
nx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
nx "$NS_C" ip addr add 10.213.1.1/24 dev "$P-ca"; nx "$NS_A" ip addr add 10.213.1.2/24 dev "$P-ac"
nx "$NS_C" ip addr add 10.213.2.1/24 dev "$P-cb"; nx "$NS_B" ip addr add 10.213.2.2/24 dev "$P-bc"
for ns in "$NS_C" "$NS_A" "$NS_B"; do nx "$ns" ip link set lo up; done
nx "$NS_C" ip link set "$P-ca" up; nx "$NS_C" ip link set "$P-cb" up
nx "$NS_A" ip link set "$P-ac" up; nx "$NS_B" ip link set "$P-bc" up
# reachability without ping: a TCP connect to a closed port is refused when the host answers
reach() { local r; r=$(nx "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/9" 2>&1) || true; [[ $r == *refused* ]]; }
sleep 0.5 # veth carrier
reach "$NS_A" 10.213.1.1 || fail "namespace A cannot reach the coordinator's namespace"
reach "$NS_B" 10.213.2.1 || fail "namespace B cannot reach the coordinator's namespace"
reach "$NS_A" 10.213.2.2 && fail "namespaces A and B should not see each other"
ok "3 network namespaces: coordinator 10.213.1.1 + 10.213.2.1, worker A 10.213.1.2, worker B 10.213.2.2"

# `ip netns exec` directly (not through a shell function): it execs the
# daemon, so $! is the daemon's own pid and the EXIT trap can stop it
ip netns exec "$NS_C" "$COORD" --work tcp://0.0.0.0:5555 --control tcp://127.0.0.1:5556 --status tcp://127.0.0.1:5557 \
  --events tcp://127.0.0.1:5558 --data-dir "$T/c-data" --heartbeat-ms 200 >>"$T/c.log" 2>&1 &
PID[c]=$!
cli() { nx "$NS_C" "$CLI" "$@" --control tcp://127.0.0.1:5556 --timeout 2; }
wait_for 10 'cli list' "coordinator answering in its namespace"
ip netns exec "$NS_A" "$WORKER" --work tcp://10.213.1.1:5555 --id node-a --threads 1 --heartbeat-ms 200 >>"$T/a.log" 2>&1 &
PID[a]=$!
ip netns exec "$NS_B" "$WORKER" --work tcp://10.213.2.1:5555 --id node-b --threads 1 --heartbeat-ms 200 >>"$T/b.log" 2>&1 &
PID[b]=$!
wait_for 15 '[[ $(cli status --json | json_get "len(d[\"workers\"])") == 2 ]]' "both workers registered over TCP"
ok "workers in namespaces A and B joined the coordinator over TCP"
# the CLI from another namespace cannot reach the coordinator's loopback: a clear error, no hang
out=$(nx "$NS_A" "$CLI" list --control tcp://10.213.1.1:5556 --timeout 1 2>&1) && fail "control reachable from A?"
[[ $out == *"cannot reach the coordinator"* ]] || fail "message: $out"
ok "control endpoint bound to the coordinator's loopback is not reachable from a worker host: $out"

job=$(cli submit --synthetic 80 --seq 32 --batch 8 --epochs 2 --lr 1e-3 --min-workers 2 2>>"$T/c.log")
wait_for 120 '[[ $(cli status $job --json | json_get "d[\"jobs\"][0][\"state\"]") == DONE ]]' "job $job DONE"
s=$(cli status "$job" --json)
acc=$(json_get 'd["jobs"][0]["val_chunk_accuracy"][-1]' <<<"$s")
done_a=$(json_get '[w["tasks_done"] for w in d["workers"] if w["id"]=="node-a"][0]' <<<"$s")
done_b=$(json_get '[w["tasks_done"] for w in d["workers"] if w["id"]=="node-b"][0]' <<<"$s")
(( done_a > 0 && done_b > 0 )) || fail "tasks per worker: a $done_a, b $done_b"
ok "job $job ran to DONE across 3 namespaces over TCP: node-a $done_a tasks, node-b $done_b tasks, val chunk acc $acc"
for n in a b c; do stop "$n"; done
for n in a b c; do [[ -z ${PID[$n]:-} ]] || fail "$n still tracked"; done
ok "daemons in the namespaces stopped"
