#!/usr/bin/env bash
# ops/bench-embed.sh - EMBED end to end (workers compute, DocEmbeddings on
# the wire, LMDB commits on the coordinator, acknowledged after commit)
# against the forward-only encoder benchmark of the same preset, L, batch
# and threads (issue 6: EMBED at >= 90% of forward-only sequences/s).
#   ops/bench-embed.sh [--preset mini] [--seq 128] [--batch 16] [--workers 1] [--threads 2] [--docs 2000]
#                      [--precision fp32|bf16]   (the job's and the benchmark's matrix products)
# A synthetic job (coordinator's seeded generator, 1-3 chunks of L/2..L
# tokens per document; batches run across documents so nearly every batch
# is L wide) with TRAIN cut to 1 step; EMBED's rate is chunks / seconds from
# EMBED's start to its last commit (`hierbert result --json`: "embed"). The benchmark is
# `build/tests/hierbert-bench bert ... --threads workers*threads`. Run it
# under flock /tmp/hb-heavy.lock. Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=mini seq=128 batch=16 workers=1 threads=2 docs=2000 precision=fp32
while (($#)); do
  case "$1" in
    --preset) preset=$2; shift 2 ;; --seq) seq=$2; shift 2 ;; --batch) batch=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;; --threads) threads=$2; shift 2 ;; --docs) docs=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench-embed: unknown option $1" >&2; exit 2 ;;
  esac
done
B=$PWD/build
T=$(mktemp -d /tmp/hb-bench-embed.XXXXXX)
export HIERBERT_CONF=$T/none.conf OMP_WAIT_POLICY=PASSIVE
: > "$HIERBERT_CONF"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
source ops/local-cluster.sh
local_cluster_start "$workers" "$threads"
job=$("$B/cli/hierbert" submit $C --synthetic "$docs" --val-fraction 0.05 --preset "$preset" --seq "$seq" \
  --batch "$batch" --max-steps 1 --head-epochs 1 --min-workers "$workers" --precision "$precision" 2>/dev/null)
# wait quietly: one C client polling every 2 s (a python3 start every 0.5 s took
# CPU from the workers on this 2-core machine, inside the measured time)
"$B/cli/hierbert" status "$job" --watch --interval 2 $C >/dev/null || true
st=$("$B/cli/hierbert" status "$job" --json $C | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobs"][0]["state"])')
[[ $st == DONE ]] || { tail "$T/coordinator.log" >&2; exit 1; }
embed=$("$B/cli/hierbert" result "$job" --json $C | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["embed"]))')
# the coordinator's CPU seconds so far (user+system: TRAIN's one step, EMBED, HEAD) and
# the workers' per-task compute lines ("embed task N: C chunks ..., S s compute")
coord_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/${pids[0]}/stat")
compute=$(cat "$T"/worker*.log | python3 -c '
import re, sys, collections
ch, s = collections.Counter(), collections.Counter()
for line in sys.stdin:
    m = re.search(r"\[(\S+)\].*embed task \d+: (\d+) chunks of \d+ documents, ([0-9.]+) s compute", line)
    if m: ch[m.group(1)] += int(m.group(2)); s[m.group(1)] += float(m.group(3))
print(round(sum(ch[w] / s[w] for w in ch if s[w] > 0), 2))')
# the spread of the per-task compute rates (a slow first task, a slow tail, or uniform)
grep -h "embed task" "$T"/worker*.log | sed -E 's/.*\(([0-9.]+) chunks\/s\).*/\1/' | sort -n |
  awk '{r[NR]=$1} END {if (NR) printf "bench-embed: %d tasks, compute chunks/s min %s median %s max %s\n", NR, r[1], r[int((NR+1)/2)], r[NR] > "/dev/stderr"}'
bench=$("$B/tests/hierbert-bench" bert --preset "$preset" --seq "$seq" --batch "$batch" --threads $((workers * threads)) \
  --iters 10 --precision "$precision" --json)
python3 - "$embed" "$bench" "$workers" "$threads" "$compute" "$coord_cpu" <<'PY'
import json, sys
e, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
compute, coord_cpu = float(sys.argv[5]), float(sys.argv[6])
out = dict(precision=b["precision"], preset=b["preset"], seq=b["seq"], batch=b["batch"], workers=int(sys.argv[3]), threads_per_worker=int(sys.argv[4]),
           embed_chunks=e["chunks"], embed_seconds=round(e["seconds"], 3), embed_commits=e["commits"],
           embed_seq_per_s=round(e["chunks_per_s"], 2), fwd_seq_per_s_fastest=b["fwd_seq_per_s"],
           fwd_seq_per_s_median=b["fwd_seq_per_s_median"],
           ratio_vs_fastest=round(e["chunks_per_s"] / b["fwd_seq_per_s"], 3),
           ratio_vs_median=round(e["chunks_per_s"] / b["fwd_seq_per_s_median"], 3),
           # the workers' compute alone (sum over workers of chunks / compute seconds) and what
           # the end-to-end rate keeps of it; the coordinator's CPU seconds (whole job)
           worker_compute_seq_per_s=compute, e2e_vs_worker_compute=round(e["chunks_per_s"] / compute, 3) if compute else None,
           coordinator_cpu_s=round(coord_cpu, 2))
print(json.dumps(out))
PY
