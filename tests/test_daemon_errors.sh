#!/usr/bin/env bash
# The issue's error cases through the real CLI and real daemons: wrong
# endpoints (clear message, non-zero exit, no hang), an unknown job id, a bad
# dataset, a worker of another protocol version; after each the coordinator
# keeps serving. Then a small job runs to DONE and another is cancelled.
# (Malformed and oversized frames from a raw client: test_daemon_frames.)
source "$(dirname "$0")/daemon_lib.sh" "$1"

# --- wrong endpoints: no coordinator there --------------------------------
for ep in "ipc://$T/nobody" "tcp://127.0.0.1:1"; do
  t0=$SECONDS
  out=$("$CLI" list --control "$ep" --timeout 1 2>&1) && fail "list against $ep succeeded"
  (( SECONDS - t0 <= 4 )) || fail "list against $ep took $((SECONDS - t0)) s"
  [[ $(wc -l <<<"$out") == 1 && $out == *"cannot reach the coordinator at $ep"* ]] || fail "message: $out"
  out=$("$CLI" submit --synthetic 10 --control "$ep" --timeout 1 2>&1) && fail "submit against $ep succeeded"
  [[ $out == *"cannot reach the coordinator"* ]] || fail "submit message: $out"
done
ok "wrong endpoint: one-line 'cannot reach the coordinator at ...', exit non-zero, within the timeout"
out=$("$CLI" status --control "nonsense://x" 2>&1) && fail "bad endpoint syntax accepted"
[[ $out == *"bad control endpoint 'nonsense://x'"* ]] || fail "bad syntax message: $out"
ok "malformed endpoint: $out"

start_coord c --heartbeat-ms 200 --expiry-ms 1500

# --- unknown job ids ---------------------------------------------------------
out=$(hb c status 4242 2>&1) && fail "status of an unknown job succeeded"
[[ $out == *"unknown job 4242"* ]] || fail "status message: $out"
out=$(hb c cancel 4242 2>&1) && fail "cancel of an unknown job succeeded"
[[ $out == *"Cancel: unknown job 4242"* ]] || fail "cancel message: $out"
out=$(hb c cancel abc 2>&1) && fail "cancel abc accepted"
[[ $out == *"'abc' is not a job id"* ]] || fail "cancel abc message: $out"
ok "unknown job id: '$out' and the coordinator's 'unknown job 4242'"

# --- bad datasets --------------------------------------------------------------
out=$(hb c submit --train "$T/missing.jsonl" 2>&1) && fail "missing dataset accepted"
[[ $out == *"--train $T/missing.jsonl: no such file"* ]] || fail "missing dataset message: $out"
VOCAB=$(cd "$(dirname "$0")/data" && pwd)/vocab_small.txt
words=(mail user playing quick german hello rock world example brown fox lazy dog family jumps running)
for i in $(seq 1 30); do
  printf '{"id": "d%d", "text": "%s %s %s the fox %s", "label": "%s"}\n' "$i" "${words[i % 16]}" \
    "${words[(i * 7) % 16]}" "${words[(i * 3) % 16]}" "${words[i % 5]}" "$((i % 2 ? 10 : 1))"
done > "$T/good.jsonl"
head -5 "$T/good.jsonl" > "$T/bad.jsonl"
echo '{"id": "d99", "text": "hello", "label": ' >> "$T/bad.jsonl"
tail -5 "$T/good.jsonl" >> "$T/bad.jsonl"
out=$(hb c submit --train "$T/bad.jsonl" --vocab "$VOCAB" 2>&1) && fail "bad dataset accepted"
[[ $out == *"Submit refused"*"bad.jsonl:6"* ]] || fail "bad dataset message: $out"
printf '{"id": "x1", "text": "hello world", "label": "a"}\n{"id": "x1", "text": "brown fox", "label": "b"}\n' > "$T/dup.jsonl"
out2=$(hb c submit --train "$T/dup.jsonl" --vocab "$VOCAB" 2>&1) && fail "duplicate ids accepted"
[[ $out2 == *"dup.jsonl:2"* ]] || fail "duplicate message: $out2"
[[ $(hb c list | wc -l) == 1 ]] || fail "a refused job left a record"
st=$("$CLI" store stats "$T/c-data/store")
grep -qx "entries_docs:0" <<<"$st" && grep -qx "entries_jobs:0" <<<"$st" || fail "refused submits left data in the store: $st"
ok "bad datasets refused with file:line, nothing left behind: '$out' / '$out2'"

# --- a worker of another protocol version (1: before gradient averaging) -----
start_worker old c --x-protocol-version 1 --heartbeat-ms 200
for _ in $(seq 100); do kill -0 "${PID[old]}" 2>/dev/null || break; sleep 0.05; done
kill -0 "${PID[old]}" 2>/dev/null && fail "worker of protocol 1 still running"
wait "${PID[old]}" && fail "worker of protocol 1 exited 0" || true
unset 'PID[old]'
grep -Eq "refused this worker: Hello: protocol version 1, this side speaks version [0-9]+" "$T/old.log" \
  || fail "worker log: $(cat "$T/old.log")"
grep -q "Hello: protocol version 1" "$T/c.log" || fail "coordinator did not log the refusal"
ok "a worker speaking protocol 1 is refused and exits non-zero: $(tail -1 "$T/old.log")"

# --- a worker whose frame limit is below the job's parameters ---------------
# (ZeroMQ's own cap was the key's value: it dropped the connection without a
# word at each Params, and the job sat in TRAIN for good)
printf '[worker]\nmax_frame_mb = 1\n' > "$T/small.conf"
start_worker small c --heartbeat-ms 200 --config "$T/small.conf"
wait_for 10 '[[ $(workers_live c) == 1 ]]' "the small-frame worker"
js=$(hb c submit --synthetic 40 --preset tiny --seq 16 --batch 4 --max-steps 4 2>/dev/null)
wait_for 20 '[[ $(job_state c $js) == FAILED ]]' "job $js FAILED"
why=$(status_json c "$js" | json_get 'd["jobs"][0]["error"]')
[[ $why == "worker small refused a frame: frame of "*" bytes exceeds the cap of 1048576 bytes (worker.max_frame_mb 1: raise it)" ]] \
  || fail "job $js's reason: $why"
stop small
ok "a frame above the worker's max_frame_mb fails the job at once: $why"
# ... and a worker's Update above the coordinator's (a second coordinator)
printf '[coordinator]\ndataset_roots = /\nmax_frame_mb = 1\n' > "$T/c2.conf"
start_coord c2 --heartbeat-ms 200 --expiry-ms 1500 --config "$T/c2.conf"
start_worker u c2 --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c2) == 1 ]]' "a worker of c2"
js=$(hb c2 submit --synthetic 40 --preset tiny --seq 16 --batch 4 --max-steps 4 --reduce coordinator 2>/dev/null)
wait_for 20 '[[ $(job_state c2 $js) == FAILED ]]' "c2's job $js FAILED"
why=$(status_json c2 "$js" | json_get 'd["jobs"][0]["error"]')
[[ $why == "a frame from worker u refused: frame of "*" bytes exceeds the cap of 1048576 bytes (coordinator.max_frame_mb 1: raise it)" ]] \
  || fail "c2's job $js's reason: $why"
stop u
stop c2
ok "an Update above the coordinator's max_frame_mb fails the job at once: $why"

# --- the coordinator keeps serving: a real job runs to DONE ------------------
start_worker w1 c --heartbeat-ms 200
start_worker w2 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"
jj=$(hb c submit --train "$T/good.jsonl" --vocab "$VOCAB" --val-fraction 0.2 --seq 16 --batch 8 --lr 1e-3 --epochs 2 2>"$T/submit.err")
[[ $jj =~ ^[0-9]+$ ]] || fail "JSONL submit printed '$jj' ($(cat "$T/submit.err"))"
grep -q "24 train documents" "$T/submit.err" || fail "expected 24 train documents: $(cat "$T/submit.err")"
wait_for 60 '[[ $(job_state c $jj) == DONE ]]' "JSONL job $jj DONE"
ok "a JSONL dataset (labels 1 and 10, stratified 20% validation) ingested and trained: $(cat "$T/submit.err")"
EP=12 # epochs (156 rounds): TRAIN lasts several refreshes even on a fast machine (2 epochs took
# 0.16 s on one and --watch, refreshing every 0.2 s, went QUEUED -> EMBED without a TRAIN line)
job=$(hb c submit --synthetic 60 --lr 1e-3 --seq 16 --batch 8 --epochs "$EP" --min-workers 2 2>"$T/submit.err")
[[ $job =~ ^[0-9]+$ ]] || fail "submit printed '$job' ($(cat "$T/submit.err"))"
timeout 60 "$CLI" status "$job" --watch --interval 0.1 --control "ipc://$T/c-c" >"$T/watch.out" 2>&1 \
  || fail "status --watch did not end with the job: $(tail -3 "$T/watch.out")"
grep -q "TRAIN .*step [0-9]*/[0-9]*  \[#*-*\]" "$T/watch.out" || fail "no progress bar in --watch: $(head -3 "$T/watch.out")"
grep -q "DONE" "$T/watch.out" || fail "--watch ended without DONE"
ok "status --watch showed the live progress bar and ended with the job: $(grep -m1 "TRAIN" "$T/watch.out")"
wait_for 60 '[[ $(job_state c $job) == DONE ]]' "job $job DONE"
s=$(status_json c "$job")
acc=$(json_get 'len([a for a in d["jobs"][0]["val_chunk_accuracy"] if a is not None])' <<<"$s")
[[ $acc == "$EP" ]] || fail "expected $EP epochs of validation accuracy: $s"
hb c status "$job" | grep -q "DONE" || fail "human status"
ok "after all that, job $job ran to DONE on 2 workers with validation accuracy for all $EP epochs"

# --- a Hugging Face model directory (--model): weights loaded, its vocab.txt used
FIX=$(cd "$(dirname "$0")/fixtures/bert_h40" && pwd)   # vocab 150, hidden 40, 20 positions
mkdir -p "$T/hf"
cp "$FIX/config.json" "$T/hf/"
# a BertModel file as Hugging Face ships it: no classifier.* (the job's head is initialised)
python3 - "$FIX/model.safetensors" "$T/hf/model.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
out, blobs, off = {}, [], 0
for k, v in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
    if k == "__metadata__": out[k] = v; continue
    if k.startswith("classifier."): continue
    a, b = v["data_offsets"]; blobs.append(data[a:b])
    out[k] = dict(v, data_offsets=[off, off + b - a]); off += b - a
h = json.dumps(out).encode(); h += b" " * (-len(h) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
out=$(hb c submit --train "$T/good.jsonl" --model "$T/hf" --vocab "$VOCAB" --seq 16 2>&1) && fail "vocab larger than the model accepted"
[[ $out == *"vocabulary (150) is smaller than the dataset's (349)"* ]] || fail "model/vocab mismatch message: $out"
{ grep -x '\[PAD\]\|\[UNK\]\|\[CLS\]\|\[SEP\]' "$VOCAB"; grep -vx '\[PAD\]\|\[UNK\]\|\[CLS\]\|\[SEP\]' "$VOCAB" | head -146; } > "$T/hf/vocab.txt"
# its tokenizer_config.json decides the casing (unless --cased); a bad one is refused by name
echo '{"do_lower_case": "no"}' > "$T/hf/tokenizer_config.json"
out=$(hb c submit --train "$T/good.jsonl" --model "$T/hf" --val-fraction 0.2 --seq 16 2>&1) && fail "bad tokenizer_config.json accepted"
[[ $out == *"tokenizer_config.json: \"do_lower_case\": expected true or false"* ]] || fail "tokenizer_config message: $out"
echo '{"do_lower_case": false, "model_max_length": 512}' > "$T/hf/tokenizer_config.json"
jm=$(hb c submit --train "$T/good.jsonl" --model "$T/hf" --val-fraction 0.2 --seq 16 --batch 8 --lr 1e-3 2>"$T/submit.err")
[[ $jm =~ ^[0-9]+$ ]] || fail "--model submit: $(cat "$T/submit.err")"
wait_for 60 '[[ $(job_state c $jm) == DONE ]]' "--model job DONE"
grep -q "job $jm: TRAIN bert" "$T/c.log" || fail "no TRAIN line for the --model job"
grep -q "job $jm: .*do_lower_case false: cased tokenization" "$T/c.log" || fail "do_lower_case false not taken"
ok "tokenizer_config.json: a non-boolean do_lower_case refused ('$out'); false gives cased tokenization"
ok "a Hugging Face directory as --model: vocab mismatch refused ('$out'); with its own vocab.txt job $jm ran to DONE"

# --- ingest runs beside the loop: the coordinator answers while it ingests --
big_jsonl "$T/big.jsonl" 40000 5
hb c submit --train "$T/big.jsonl" --vocab "$VOCAB" --val-fraction 0.1 --seq 32 >"$T/big.id" 2>"$T/big.err" &
sub=$!
wait_for 10 'hb c list | grep -q " INGEST "' "the big job listed as INGEST"
t0=$(date +%s%N)
hb c list --timeout 1 >/dev/null || fail "list during ingest"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
big=$(hb c list | awk '/ INGEST /{print $1}')
out=$(hb c cancel "$big")
wait "$sub" && fail "a submit cancelled during ingest succeeded" || true
grep -q "cancelled during ingest" "$T/big.err" || fail "submitter not told: $(cat "$T/big.err")"
[[ $(job_state c "$big") == CANCELLED ]] || fail "job $big not CANCELLED"
"$CLI" store stats "$T/c-data/store" | grep -q "^job:$big .*docs:0 " || fail "cancelled ingest left documents"
ok "during a long ingest the coordinator answered list in ${ms} ms; '$out': the submitter was told, no documents kept"

# --- cancel a running job --------------------------------------------------------
job2=$(hb c submit --synthetic 400 --optimizer sgd --seq 32 --batch 2 --epochs 50 2>/dev/null)
wait_for 20 '[[ $(job_state c $job2) == TRAIN ]]' "job $job2 training"
out=$(hb c cancel "$job2")
[[ $out == "job $job2: CANCELLED" ]] || fail "cancel said: $out"
[[ $(job_state c "$job2") == CANCELLED ]] || fail "state after cancel"
hb c list | grep -q "^$job2 .*CANCELLED" || fail "list after cancel"
ok "cancel: $out"
