#!/usr/bin/env bash
# Datasets at the edges (issue 14, part 3; opt-in): one job whose dataset is
# a single document of --big-mb MB (plus 40 small ones, so that there are
# classes and a validation split), or --tiny N documents of 3 words each.
# Real daemons (ipc), 2 workers, tiny preset, L 32, 3 optimizer steps, then
# the whole job: eval over every validation chunk, EMBED of every chunk,
# HEAD, DONE. Prints the time of each phase, the coordinator's longest
# event-loop turn (its log's warnings), its peak RSS (1 s samples: also
# its anonymous and file-backed parts - LMDB's mapped pages count), and
# checks the store (every document once, with its chunk count and label).
# --submits N instead: a coordinator without workers takes N submits of a
# 10-document synthetic job one after another (the jobs stay QUEUED): every
# one is answered - a job id, or refused once max_jobs (1000) records are
# pending - and the coordinator's RSS at the start and the end, and its
# answer to `list` after them, are printed.
#   ops/load-data.sh [--big-mb MB | --tiny N | --submits N]      (default --big-mb 50)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=big n=50
while (($#)); do
  case "$1" in
    --big-mb) mode=big; n=$2; shift ;;
    --tiny) mode=tiny; n=$2; shift ;;
    --submits) mode=submits; n=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "load-data.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
source tests/daemon_lib.sh build
exec 9>/tmp/hb-heavy.lock
flock 9
start_coord c --heartbeat-ms 200
if [[ $mode == submits ]]; then
  rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/${PID[c]}/status"; }
  r0=$(rss) ok=0 full=0 other=0 t0=$(date +%s.%N)
  for i in $(seq "$n"); do
    if out=$(hb c submit --synthetic 10 --seq 16 --timeout 30 2>&1); then
      ok=$((ok + 1))
    elif [[ $out == *"queue full"* ]]; then
      full=$((full + 1))
    else
      other=$((other + 1)); echo "  submit $i: $out"
    fi
  done
  t1=$(date +%s.%N)
  tl0=$(date +%s%N); nl=$(hb c list | tail -n +2 | wc -l); tl1=$(date +%s%N)
  echo "load-data: $n submits in $(python3 -c "print(f'{$t1 - $t0:.1f}')") s: $ok taken, $full refused (queue full), $other otherwise"
  echo "  coordinator RSS $r0 MB at the start, $(rss) MB at the end; list: $nl jobs in $(( (tl1 - tl0) / 1000000 )) ms"
  (( other == 0 && ok + full == n )) || fail "submits not all answered"
  kill -0 "${PID[c]}" || fail "the coordinator died"
  exit 0
fi
start_worker w1 c --heartbeat-ms 200
start_worker w2 c --heartbeat-ms 200
wait_for 20 '[[ $(workers_live c) == 2 ]]' "2 workers"
D=$T/c-data/datasets
mkdir -p "$D"
cp tests/data/vocab_small.txt "$D/"
python3 - "$D/data.jsonl" "$mode" "$n" <<'PY'
import random, sys
path, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = random.Random(3)
w = "mail user playing quick german hello rock world example brown fox lazy dog family jumps running".split()
with open(path, "w") as f:
    if mode == "big":
        words, size = [], 0
        while size < n * 1_000_000:
            x = r.choice(w); words.append(x); size += len(x) + 1
        f.write('{"id": "huge", "text": "%s", "label": "a"}\n' % " ".join(words))
        for i in range(40):
            f.write('{"id": "s%d", "text": "%s", "label": "%s"}\n' % (i, " ".join(r.choice(w) for _ in range(50)), "ab"[i % 2]))
    else:
        for i in range(n):
            f.write('{"id": "t%d", "text": "%s %s %s", "label": "%s"}\n' % (i, r.choice(w), r.choice(w), r.choice(w), "ab"[i % 2]))
PY
echo "load-data: $(du -h "$D/data.jsonl" | cut -f1) dataset ($mode $n), $(nproc) CPUs"
rss_max=0 anon_max=0 file_max=0
sample_rss() { # RSS, and its anonymous part (the heap) and file part (mostly the store's mapped pages), kB
  local x a f
  x=$(awk '/^VmRSS/ {print $2}' "/proc/${PID[c]}/status" 2>/dev/null || echo 0)
  a=$(awk '/^RssAnon/ {print $2}' "/proc/${PID[c]}/status" 2>/dev/null || echo 0)
  f=$(awk '/^RssFile/ {print $2}' "/proc/${PID[c]}/status" 2>/dev/null || echo 0)
  (( ${x:-0} > rss_max )) && rss_max=$x
  (( ${a:-0} > anon_max )) && anon_max=$a
  (( ${f:-0} > file_max )) && file_max=$f
  return 0
}
t0=$(date +%s.%N)
job=$(hb c submit --train "$D/data.jsonl" --vocab "$D/vocab_small.txt" --val-fraction 0.2 --seq 32 --max-steps 3 \
      --timeout 600 2>"$T/submit.err") || fail "submit: $(cat "$T/submit.err")"
t1=$(date +%s.%N)
echo "submit (ingest): $(python3 -c "print(f'{$t1 - $t0:.1f}')") s: $(cat "$T/submit.err")"
declare -A seen
last=""
while :; do
  st=$(job_state c "$job" 2>/dev/null || echo "?")
  sample_rss
  if [[ $st != "$last" && $st != "?" ]]; then seen[$st]=$(date +%s.%N); last=$st; fi
  [[ $st == DONE || $st == FAILED ]] && break
  sleep 1
done
[[ $st == DONE ]] || fail "job $job: $(status_json c "$job")"
tend=$(date +%s.%N)
for s in TRAIN EMBED HEAD; do
  [[ -n ${seen[$s]:-} ]] && echo "  $s reached at +$(python3 -c "print(f'{${seen[$s]} - $t1:.1f}')") s"
done
echo "  DONE at +$(python3 -c "print(f'{$tend - $t1:.1f}')") s"
turn=$(sed -n 's/.*event loop: one turn took \([0-9]*\) ms.*/\1/p' "$T/c.log" | sort -n | tail -1)
echo "  longest event-loop turn: ${turn:-under the warning threshold} ms; $(grep -c "event loop: one turn took" "$T/c.log" || true) warnings"
grep "event loop: one turn took" "$T/c.log" | sort -t' ' -k8 -n | tail -3 | sed 's/^/    /'
echo "  coordinator peak RSS (1 s samples): $((rss_max / 1024)) MB; peaks of its anonymous part $((anon_max / 1024)) MB, of its file-backed part (the store's pages) $((file_max / 1024)) MB"
if [[ $mode == big ]]; then store_check "$T/c-data" "$job" 41; else store_check "$T/c-data" "$job" "$n"; fi
hb c result "$job" --json | json_get '"  result: document accuracy %.3f" % d["doc_accuracy"]'
