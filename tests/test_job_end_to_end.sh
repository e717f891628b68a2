#!/usr/bin/env bash
# A whole job through real daemons (coordinator + 2 workers on ipc sockets,
# real LMDB): a small generated JSONL dataset (3 classes carried by
# class words, 1-4 chunks per document at L=32), the tiny preset shrunk to
# tests/data/vocab_small.txt, TRAIN -> EMBED -> HEAD -> DONE. Checks:
#   - every document (train and val) is in the store's emb database exactly
#     once, with its ingested chunk count and label (`hierbert store dump`,
#     compared with the docs database: nothing hard-coded);
#   - `result` prints the table with document accuracy; `result --json` has
#     state DONE and chunk/doc/vote accuracies in [0, 1];
#   - `export` then `predict --json` on the validation file reproduce the
#     job's validation predictions exactly (same label for every document,
#     probabilities within 1e-4).
source "$(dirname "$0")/daemon_lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
VOCAB=$SRC/tests/data/vocab_small.txt

python3 - "$T" <<'EOF2'
import json, random, sys
r = random.Random(7)
cls = {"alpha": "mail user hello world quick".split(), "beta": "dog fox lazy jumps running".split(),
       "gamma": "rock german arabic hebrew tibetan".split()}
filler = "the example family player played path end tag brown bad".split()
for name, n in (("train", 60), ("val", 24)):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as f:
        for i in range(n):
            lab = list(cls)[i % 3]
            words = [r.choice(cls[lab]) if r.random() < 0.3 else r.choice(filler) for _ in range(r.randint(8, 110))]
            f.write(json.dumps({"id": f"{name}{i:03d}", "text": " ".join(words), "label": lab}) + "\n")
EOF2

start_coord c --heartbeat-ms 200 --expiry-ms 2000
start_worker w1 c --heartbeat-ms 200
start_worker w2 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"
job=$(hb c submit --train "$T/train.jsonl" --val "$T/val.jsonl" --vocab "$VOCAB" --preset tiny --seq 32 \
      --epochs 2 --batch 8 --lr 1e-3 --min-workers 2 --head-epochs 8 --head-batch 8 2>"$T/submit.err") ||
  fail "submit: $(cat "$T/submit.err")"
wait_for 90 '[[ $(job_state c '"$job"') =~ DONE|FAILED ]]' "job $job finished"
[[ $(job_state c "$job") == DONE ]] || fail "job $job: $(status_json c "$job")"
ok "job $job went TRAIN -> EMBED -> HEAD -> DONE on 2 workers"

# the finished job's status still gives the corpus's sizes (from the job
# record: the corpus itself is freed at DONE), and so after a restart
counts() { status_json c "$job" | json_get '"%s %s %s %s" % tuple(d["jobs"][0].get(k) for k in ("train_docs", "val_docs", "num_classes", "average"))'; }
[[ $(counts) == "60 24 3 grads" ]] || fail "finished job's status: train/val docs, classes, averaging = $(counts)"
stop c
start_coord c --heartbeat-ms 200 --expiry-ms 2000
[[ $(counts) == "60 24 3 None" ]] || fail "after a restart: train/val docs, classes = $(counts)"
ok "a finished job's status gives 60 train / 24 val documents and 3 classes, also after a coordinator restart"

# --- the store: each document embedded exactly once, right chunks and label
store_check "$T/c-data" "$job"

"$CLI" store verify "$T/c-data/store" > "$T/verify.txt" || fail "store verify: $(tail -3 "$T/verify.txt")"
ok "store verify: $(tail -n 1 "$T/verify.txt")"

# --- result
hb c result "$job" > "$T/result.txt" || fail "result: $(cat "$T/result.txt")"
grep -q "document accuracy (LSTM head)" "$T/result.txt" || fail "no document accuracy in the table"
hb c result "$job" --json > "$T/result.json" || fail "result --json"
python3 - "$T/result.json" <<'EOF2' || fail "result --json contents"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "DONE", d["state"]
for k in ("chunk_accuracy", "doc_accuracy", "vote_accuracy"):
    assert 0 <= d[k] <= 1, (k, d[k])
assert len(d["predictions"]) == d["val_docs"] == 24, d["val_docs"]
print(f"ok - result: chunk {d['chunk_accuracy']:.3f}, document {d['doc_accuracy']:.3f}, vote {d['vote_accuracy']:.3f}")
EOF2
cat "$T/result.txt"

# --- export, then predict reproduces the validation predictions
hb c export "$job" "$T/model" > /dev/null || fail "export"
for f in config.json vocab.txt model.safetensors head.safetensors labels.json; do
  [[ -s $T/model/$f ]] || fail "export: no $f"
done
# exports run on a thread of their own: two at once both land, and a refused
# one (a directory that is not an export) answers with the reason while the
# coordinator goes on serving
hb c export "$job" "$T/model2" > /dev/null & e1=$!
hb c export "$job" "$T/model3" > /dev/null & e2=$!
wait "$e1" || fail "concurrent export 1"
wait "$e2" || fail "concurrent export 2"
cmp -s "$T/model2/model.safetensors" "$T/model3/model.safetensors" || fail "two concurrent exports differ"
mkdir -p "$T/notanexport" && echo keep > "$T/notanexport/mine.txt"
out=$(hb c export "$job" "$T/notanexport" 2>&1) && fail "export over a foreign directory accepted"
[[ $out == *"Export:"* && -f $T/notanexport/mine.txt ]] || fail "foreign-directory export: $out"
[[ $(job_state c "$job") == DONE ]] || fail "coordinator not serving after a refused export"
ok "exports on their own thread: two at once identical; a foreign directory refused (${out#*: }) and left alone"
"$CLI" predict --model "$T/model" --json "$T/val.jsonl" --threads 1 > "$T/pred.jsonl" || fail "predict"
python3 - "$T/result.json" "$T/pred.jsonl" <<'EOF2' || fail "predict differs from the job's validation predictions"
import json, sys
job = {p["id"]: p for p in json.load(open(sys.argv[1]))["predictions"]}
got = {}
for line in open(sys.argv[2]):
    o = json.loads(line)
    if "id" in o: got[o["id"]] = o
assert set(got) == set(job), (len(got), len(job))
labels = None
worst = 0
for i, p in job.items():
    g = got[i]
    assert g["label"] == p["label"], f"{i}: predict {g['label']}, job {p['label']}"
    probs = [g["probs"][k] for k in sorted(g["probs"], key=lambda k: list(g["probs"]).index(k))]
    worst = max(worst, max(abs(a - b) for a, b in zip(probs, p["probs"])))
assert worst < 1e-4, worst
print(f"ok - export + predict: {len(job)} validation documents, same labels, probabilities within {worst:.1e}")
EOF2
