#!/usr/bin/env bash
# ops/bench-network.sh - TRAIN across a simulated cluster (issue 11): the
# coordinator and W workers each in a network namespace of its own, all on
# one bridge (in a namespace of its own, the switch), each host's veth
# limited to RATE in both directions (tbf on both ends of its veth). Runs the
# same job with unlimited links and with RATE links and prints per run:
# seq/s; the round split into the slowest worker's compute, the longest
# wait for peers (transfer and stragglers, sharded reduction), and the rest
# (the coordinator's part: Params down and gradients up on the coordinator
# path, assignment); bytes per step for the coordinator and for the busiest
# worker (from the status JSON: TRAIN only); then the efficiency (limited /
# unlimited).
#   ops/bench-network.sh --workers W [--rate 1gbit] [--preset mini] [--seq 128] [--batch 32]
#                        [--steps 20] [--threads 1] [--reduce sharded|coordinator|both]
#                        [--corpus brown|synthetic] [--build DIR] [--wire fp32|bf16]
#                        [--checkpoint-min-s S] [--cancel-after-steps] [--pairs N]
# --pairs N: N (unlimited, limited) pairs run alternately, and the efficiency
# over all of them (seq/s of the limited runs pooled / of the unlimited ones)
# beside each pair's: a shared machine's compute speed moves by 10-30% from
# one run to the next, and alternating pairs spread that over both sides.
# --wire: the sharded reduction's peer wire (submit --wire); --checkpoint-min-s:
# the coordinator's (30 s: a short run checkpoints at its end only; 0: every
# 10 rounds, the gather's cost in the figures).
# --rate 0: only the unlimited run. brown needs `ops/fetch-corpus.sh brown`
# and `ops/fetch-corpus.sh vocab` (data/corpora). Root (ip netns, tc). Runs
# under flock /tmp/hb-heavy.lock: never beside another heavy run. The job
# keeps 4 chunks a document (a short eval round) and is cancelled once TRAIN
# ends (EMBED and HEAD are not what this measures); --cancel-after-steps:
# once the last round is in (and 5 s for its gather), before the eval round
# (minutes for bert-base on one thread a worker).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
W=2 rate=1gbit preset=mini seq=128 batch=32 steps=20 threads=1 reduce=sharded corpus=brown build=$root/build cancel_early=
wire=fp32 ckmin=30 pairs=1
args=("$@")
while (($#)); do
  case "$1" in
    --workers) W=$2; shift ;; --rate) rate=$2; shift ;; --preset) preset=$2; shift ;; --seq) seq=$2; shift ;;
    --batch) batch=$2; shift ;; --steps) steps=$2; shift ;; --threads) threads=$2; shift ;;
    --reduce) reduce=$2; shift ;; --corpus) corpus=$2; shift ;; --build) build=$2; shift ;;
    --wire) wire=$2; shift ;; --checkpoint-min-s) ckmin=$2; shift ;;
    --cancel-after-steps) cancel_early=1; shift 0 ;;
    --pairs) pairs=$2; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "bench-network: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z "${HB_BENCH_LOCKED:-}" ]]; then
  exec env HB_BENCH_LOCKED=1 flock /tmp/hb-heavy.lock "$0" "${args[@]}"
fi
[[ $(id -u) == 0 ]] || { echo "bench-network: needs root (ip netns, tc)" >&2; exit 1; }
COORD=$build/coordinator/hierbert-coordinator WORKER=$build/worker/hierbert-worker CLI=$build/cli/hierbert
T=$(mktemp -d /tmp/hbnet.XXXXXX)
export HIERBERT_CONF=/dev/null OMP_WAIT_POLICY=PASSIVE
P=hbn$$
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns" 2>/dev/null || true; done
  [[ -n "${HB_KEEP:-}" ]] && echo "bench-network: logs in $T" || rm -rf "$T"
}
trap cleanup EXIT

data=()
case "$corpus" in
  brown)
    d=$root/data/corpora
    [[ -f $d/brown/train.jsonl && -f $d/vocab/vocab.txt ]] \
      || { echo "bench-network: run ops/fetch-corpus.sh brown && ops/fetch-corpus.sh vocab first" >&2; exit 1; }
    data=(--train "$d/brown/train.jsonl" --val "$d/brown/val.jsonl" --vocab "$d/vocab/vocab.txt") ;;
  synthetic) data=(--synthetic 2000) ;;
  *) echo "bench-network: --corpus brown|synthetic" >&2; exit 2 ;;
esac

nx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
# the switch: a bridge in namespace sw; host i (0 the coordinator) at 10.77.0.(i+1)
net_up() { # limit
  local lim=$1 i
  ip netns add "$P-sw"
  nx sw ip link add br0 type bridge
  nx sw ip link set br0 up
  for i in $(seq 0 "$W"); do
    ip netns add "$P-h$i"
    ip link add "$P-e$i" type veth peer name "$P-p$i"
    ip link set "$P-e$i" netns "$P-h$i"
    ip link set "$P-p$i" netns "$P-sw"
    nx "h$i" ip link set "$P-e$i" name eth0
    nx "h$i" ip addr add "10.77.0.$((i + 1))/24" dev eth0
    nx "h$i" ip link set eth0 up
    nx "h$i" ip link set lo up
    nx sw ip link set "$P-p$i" master br0
    nx sw ip link set "$P-p$i" up
    if [[ $lim != 0 ]]; then # both directions: the host's egress, and the switch port's egress toward it
      nx "h$i" tc qdisc add dev eth0 root tbf rate "$lim" burst 512kb latency 100ms
      nx sw tc qdisc add dev "$P-p$i" root tbf rate "$lim" burst 512kb latency 100ms
    fi
  done
  sleep 0.5
}
net_down() { local ns; for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns"; done; }

run() { # name limit reduce -> $T/name.json
  local n=$1 lim=$2 red=$3 i job st
  net_up "$lim"
  ip netns exec "$P-h0" "$COORD" --work tcp://10.77.0.1:5555 --control tcp://127.0.0.1:5556 \
    --status tcp://127.0.0.1:5557 --events tcp://127.0.0.1:5558 --data-dir "$T/$n-data" --checkpoint-min-s "$ckmin" \
    --dataset-roots / --export-root / -v >"$T/$n.log" 2>&1 &
  pids+=($!)
  for i in $(seq "$W"); do
    ip netns exec "$P-h$i" "$WORKER" --work tcp://10.77.0.1:5555 --id "w$i" --threads "$threads" >"$T/$n-w$i.log" 2>&1 &
    pids+=($!)
  done
  cli() { ip netns exec "$P-h0" "$CLI" "$@" --control tcp://127.0.0.1:5556; }
  for _ in $(seq 100); do cli list --timeout 0.5 >/dev/null 2>&1 && break; sleep 0.1; done
  job=$(cli submit "${data[@]}" --preset "$preset" --seq "$seq" --batch "$batch" --epochs 1 --max-steps "$steps" --max-chunks 4 \
        --optimizer adamw --lr 1e-4 --reduce "$red" --wire "$wire" --min-workers "$W" --seed 1 2>>"$T/$n.log")
  while :; do
    cli status "$job" --json >"$T/$n.json" 2>/dev/null || true
    st=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["state"])' "$T/$n.json" 2>/dev/null || echo ?)
    [[ $st == TRAIN || $st == QUEUED || $st == INGEST || $st == "?" ]] || break
    if [[ -n $cancel_early && $st == TRAIN ]] &&
       python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["jobs"][0]["train_rounds"] >= int(sys.argv[2]) else 1)' \
         "$T/$n.json" "$steps" 2>/dev/null; then
      sleep 5; cli status "$job" --json >"$T/$n.json" 2>/dev/null || true; break # (the last gather; not the eval)
    fi
    sleep 1
  done
  cli cancel "$job" >/dev/null 2>&1 || true
  [[ $st != FAILED ]] || { echo "bench-network: $n: job FAILED"; tail "$T/$n.log"; exit 1; }
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  net_down
  python3 - "$n" "$T/$n.json" "$W" "$batch" <<'PY'
import json, sys
n, path, W, G = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d = json.load(open(path)); j = d["jobs"][0]
r = max(j["train_rounds"], 1)
rate = j["train_rounds"] * G / j["train_s"] if j["train_s"] > 0 else 0  # --max-steps: every batch is full
rt, comp, wait = j["train_s"] / r * 1e3, j["train_compute_s"] / r * 1e3, j.get("train_wait_s", 0) / r * 1e3
coord = (j["train_bytes_down"] + j["train_bytes_up"]) / r / 1e6
# per worker and step: with its peers (every round) and with the coordinator
# (tasks and Updates; the plan and the checkpoint gathers, amortized)
peer = [(w["peer_bytes_out"] + w["peer_bytes_in"]) / r / 1e6 for w in d["workers"]]
link = [(w["bytes_from_coordinator"] + w["bytes_to_coordinator"]) / r / 1e6 for w in d["workers"]]
tot = [a + b for a, b in zip(peer, link)]
k = max(range(len(tot)), key=lambda i: tot[i]) if tot else 0
busiest = max(tot + [coord]) if tot else coord
# each way (what a link's rate limits): the busiest host's larger direction
sent = [(w["peer_bytes_out"] + w["bytes_to_coordinator"]) / r / 1e6 for w in d["workers"]]
recv = [(w["peer_bytes_in"] + w["bytes_from_coordinator"]) / r / 1e6 for w in d["workers"]]
way = max([max(a, b) for a, b in zip(sent, recv)] + [j["train_bytes_down"] / r / 1e6, j["train_bytes_up"] / r / 1e6])
out = dict(rate=rate, round_ms=rt, compute_ms=comp, wait_ms=wait, coord_mb=coord, busiest_mb=busiest,
           peer_mb=peer[k] if peer else 0, link_mb=link[k] if link else 0, parameters=j["parameters"],
           reduce=j["reduce"], note=j.get("reduce_note", ""), way_mb=way)
json.dump(out, open(path + ".sum", "w"))
print(f"{n:>18}: {j['reduce']:>11}, {len(d['workers'])} workers: {rate:7.1f} seq/s; round {rt:6.0f} ms = "
      f"compute {comp:5.0f} + peer wait {wait:5.0f} + rest {max(rt - comp - wait, 0):5.0f} "
      f"({rt / comp if comp else 0:.2f}x compute); MB a step: coordinator {coord:6.1f}, busiest worker "
      f"{tot[k] if tot else 0:6.1f} (peers {out['peer_mb']:.1f} + coordinator link {out['link_mb']:.1f}); "
      f"busiest host {busiest:.1f} (its larger direction {way:.1f}); {r} rounds{'; ' + out['note'] if out['note'] else ''}")
PY
}

P_numel() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parameters"])' "$1"; }
echo "bench-network: $W workers x $threads thread(s), preset $preset, L $seq, global batch $batch, $steps steps," \
     "corpus $corpus, links ${rate} each way (tbf), wire $wire, checkpoint-min-s $ckmin, $(nproc) CPUs," \
     "OpenBLAS core ${OPENBLAS_CORETYPE:-auto}"
reduces=("$reduce"); [[ $reduce == both ]] && reduces=(coordinator sharded)
for red in "${reduces[@]}"; do
  runs=()
  for q in $(seq "$pairs"); do
    sfx=; ((pairs > 1)) && sfx="-$q"
    run "$red-unlimited$sfx" 0 "$red"
    [[ $rate == 0 ]] && continue
    run "$red-$rate$sfx" "$rate" "$red"
    runs+=("$T/$red-unlimited$sfx.json.sum" "$T/$red-$rate$sfx.json.sum")
  done
  [[ $rate == 0 ]] && continue
  python3 - "$W" "${runs[@]}" <<'PY'
import json, sys
W = int(sys.argv[1]); s = [json.load(open(p)) for p in sys.argv[2:]]
pairs = [(s[i], s[i + 1]) for i in range(0, len(s), 2)]
a, b = pairs[-1]
grad_mb = a["parameters"] * 4 / 1e6
bound = 2 * (W - 1) / W * grad_mb
# pooled: every run does the same rounds, so seq/s pools as the harmonic mean (total seq / total time)
pool = lambda runs: len(runs) / sum(1 / r["rate"] for r in runs)
eff = pool([q[1] for q in pairs]) / pool([q[0] for q in pairs])
ratio = lambda runs: sum(r["round_ms"] for r in runs) / sum(r["compute_ms"] for r in runs)
each = ", ".join(f"{q[1]['rate'] / q[0]['rate'] * 100:.1f}%" for q in pairs)
print(f"  efficiency {eff * 100:.1f}% (limited / unlimited" + (f", {len(pairs)} pairs pooled; each: {each}" if len(pairs) > 1 else "")
      + f"); round / slowest worker's compute: unlimited {ratio([q[0] for q in pairs]):.2f}x, limited {ratio([q[1] for q in pairs]):.2f}x; "
      f"busiest host {b['busiest_mb']:.1f} MB a step in + out, "
      f"{b['way_mb']:.1f} MB its larger direction"
      + (f" = {b['way_mb'] / bound:.2f}x 2(W-1)/W x the gradient ({grad_mb:.1f} MB dense fp32) each way" if W > 1 else ""))
PY
done
