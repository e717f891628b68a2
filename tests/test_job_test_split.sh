#!/usr/bin/env bash
# The test split, --cased and --skip-bad through real daemons (coordinator +
# 2 workers on ipc sockets, real LMDB), two small jobs:
#   A: --train/--val/--test (uncased; the test file has labelled documents,
#      some labelled wrong on purpose so the accuracy is not 1, and unlabelled
#      ones). Every test document is in the store's docs and emb databases
#      exactly once, split TEST (2), with the chunk count `predict` cuts and
#      the label of the test file (-1: none); `result --json`'s
#      test.doc_accuracy is exactly `predict --model EXPORT TESTFILE --json`'s
#      and so is every test document's predicted label; `result` prints a
#      test column; the export says do_lower_case true.
#   B: --cased on a cased vocabulary, with a test file holding an unseen label
#      and an empty document: without --skip-bad the submit is refused naming
#      file:line and the coordinator keeps serving; with --skip-bad it runs to
#      DONE, the reply and the log name both skipped lines, every stored
#      chunk holds the ids of `hierbert tokenize --cased`, and the export says
#      do_lower_case false.
source "$(dirname "$0")/daemon_lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
VOCAB=$SRC/tests/data/vocab_small.txt
CVOCAB=$T/vocab_cased.txt
{ cat "$VOCAB"; printf '%s\n' Hello Dog Rock German; } > "$CVOCAB"

python3 - "$T" <<'EOF2'
import json, random, sys
r = random.Random(11)
cls = {"alpha": "mail user hello world quick".split(), "beta": "dog fox lazy jumps running".split(),
       "gamma": "rock german arabic hebrew tibetan".split()}
names = list(cls)
filler = "the example family player played path end tag brown bad".split()
def text(lab, cased):
    ws = [r.choice(cls[lab]) if r.random() < 0.3 else r.choice(filler) for _ in range(r.randint(8, 110))]
    return " ".join(w.capitalize() if cased and r.random() < 0.5 else w for w in ws)
def write(path, rows):
    with open(path, "w") as f:
        for row in rows: f.write(json.dumps(row) + "\n")
for cased in (0, 1):
    sfx = "_c" if cased else ""
    for name, n in (("train", 60), ("val", 24)):
        write(f"{sys.argv[1]}/{name}{sfx}.jsonl",
              [{"id": f"{name}{i:03d}", "text": text(names[i % 3], cased), "label": names[i % 3]} for i in range(n)])
# A's test file: 27 documents; i % 9 == 0 labelled with the wrong class, i % 9 == 4 without a label
rows = []
for i in range(27):
    lab = names[i % 3]
    row = {"id": f"test{i:03d}", "text": text(lab, 0)}
    if i % 9 != 4: row["label"] = names[(i + 1) % 3] if i % 9 == 0 else lab
    rows.append(row)
write(f"{sys.argv[1]}/test.jsonl", rows)
# B's test file: line 3 an unseen label, line 6 an empty document
rows = [{"id": f"ct{i}", "text": text(names[i % 3], 1), "label": names[i % 3]} for i in range(8)]
rows[2]["label"] = "delta"
rows[5]["text"] = "   "
write(f"{sys.argv[1]}/test_c.jsonl", rows)
EOF2

start_coord c --heartbeat-ms 200 --expiry-ms 2000
start_worker w1 c --heartbeat-ms 200
start_worker w2 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 2 ]]' "2 workers"

# --- A ----------------------------------------------------------------------
a=$(hb c submit --train "$T/train.jsonl" --val "$T/val.jsonl" --test "$T/test.jsonl" --vocab "$VOCAB" \
    --preset tiny --seq 32 --epochs 2 --batch 8 --lr 1e-3 --min-workers 2 --head-epochs 8 --head-batch 8 \
    2>"$T/submit_a.err") || fail "submit A: $(cat "$T/submit_a.err")"
grep -q "27 test documents" "$T/submit_a.err" || fail "submit A reply: $(cat "$T/submit_a.err")"
ok "submit --test: $(cat "$T/submit_a.err")"

# --- B: refused without --skip-bad, then accepted with it ------------------------
B_ARGS=(--train "$T/train_c.jsonl" --val "$T/val_c.jsonl" --test "$T/test_c.jsonl" --vocab "$CVOCAB" --cased
        --preset tiny --seq 32 --epochs 1 --max-steps 2 --batch 8 --lr 1e-3 --head-epochs 2 --head-batch 8)
out=$(hb c submit "${B_ARGS[@]}" 2>&1) && fail "a test file with an unseen label was accepted"
[[ $out == *"Submit refused"*"test_c.jsonl:"[36]":"* ]] || fail "refusal message: $out"
hb c list > /dev/null || fail "the coordinator stopped serving after a refused submit"
ok "without --skip-bad: '$out'; the coordinator keeps serving"
b=$(hb c submit "${B_ARGS[@]}" --skip-bad 2>"$T/submit_b.err") || fail "submit B: $(cat "$T/submit_b.err")"
grep -q "skipped 2 bad document" "$T/submit_b.err" && grep -q "test_c.jsonl:3:" "$T/submit_b.err" &&
  grep -q "test_c.jsonl:6:" "$T/submit_b.err" || fail "submit B reply names no skipped line: $(cat "$T/submit_b.err")"
grep -q "job $b: skipped .*test_c.jsonl:3:" "$T/c.log" && grep -q "job $b: skipped .*test_c.jsonl:6:" "$T/c.log" ||
  fail "the coordinator's log names no skipped line"
ok "--skip-bad: reply and log name the skipped lines: $(grep -c . "$T/submit_b.err") lines, e.g. $(grep -m1 'test_c.jsonl:3' "$T/submit_b.err")"

for j in "$a" "$b"; do
  wait_for 120 '[[ $(job_state c '"$j"') =~ DONE|FAILED ]]' "job $j finished"
  [[ $(job_state c "$j") == DONE ]] || fail "job $j: $(status_json c "$j")"
done
ok "jobs $a and $b went TRAIN -> EMBED -> HEAD -> DONE"

# --- A: the store, the result, export + predict ------------------------------------
hb c export "$a" "$T/model_a" > /dev/null || fail "export A"
"$CLI" predict --model "$T/model_a" --json "$T/test.jsonl" --threads 1 > "$T/pred_a.jsonl" || fail "predict A"
"$CLI" store dump "$T/c-data/store" --job "$a" > "$T/dump_a.txt" || fail "store dump A"
hb c result "$a" --json > "$T/result_a.json" || fail "result A --json"
hb c result "$a" > "$T/result_a.txt" || fail "result A"
python3 - "$T" <<'EOF2' || fail "job A's test split"
import json, re, sys
T = sys.argv[1]
tests = [json.loads(l) for l in open(f"{T}/test.jsonl")]
labels = json.load(open(f"{T}/model_a/labels.json"))["labels"]
cfg = json.load(open(f"{T}/model_a/config.json"))
assert cfg["hierbert"]["do_lower_case"] is True, cfg["hierbert"]
pred, summary = {}, None
for line in open(f"{T}/pred_a.jsonl"):
    o = json.loads(line)
    if "summary" in o: summary = o["summary"]
    else: pred[o["id"]] = o
docs, emb = {}, {}
for line in open(f"{T}/dump_a.txt"):
    m = re.match(r"(docs|emb)/(\S+)\s+(.*)", line)
    if not m: continue
    db, key, rest = m.groups()
    key = key.split("/", 1)[1]  # "JOB/DOC"
    f = dict(kv.split(":", 1) for kv in rest.split() if ":" in kv)
    d = docs if db == "docs" else emb
    assert key not in d, f"{db} {key} twice"
    d[key] = (int(f["label"]), int(f["split"]), int(f["chunks"]))
assert set(docs) == set(emb), sorted(set(docs) ^ set(emb))[:5]
stored = {k: v for k, v in docs.items() if v[1] == 2}
assert set(stored) == {t["id"] for t in tests}, f"split-TEST documents {sorted(stored)[:5]}..."
for t in tests:
    want = (labels.index(t["label"]) if "label" in t else -1, 2, pred[t["id"]]["n_chunks"])
    assert docs[t["id"]] == want == emb[t["id"]], f"{t['id']}: docs {docs[t['id']]} emb {emb[t['id']]} want {want}"
print(f"ok - store: {len(tests)} test documents in docs and emb exactly once, split TEST, chunk counts as predict cuts, "
      f"labels as the file's ({sum('label' not in t for t in tests)} unlabelled: -1)")
r = json.load(open(f"{T}/result_a.json"))
t = r["test"]
assert t["docs"] == 27 and t["labelled"] == 24, (t["docs"], t["labelled"])
assert t["doc_accuracy"] == summary["doc_accuracy"], (t["doc_accuracy"], summary["doc_accuracy"])
assert t["doc_accuracy"] < 1, "the wrongly labelled test documents should cost accuracy"
got = {p["id"]: p["label"] for p in t["predictions"]}
assert got == {i: p["label"] for i, p in pred.items()}, "per-document test predictions differ from predict's"
assert t["metrics"]["confusion"] == summary["metrics"]["confusion"], "confusion matrices differ"
assert "f1" in t["metrics"]["classes"][0] and "vote_metrics" in t, t.keys()
assert r["val_docs"] == 24 and len(r["predictions"]) == 24, "the validation figures moved"
best = r["head_epochs"][r["best_epoch"] - 1]["val_doc_accuracy"]
assert r["doc_accuracy"] == best, f"validation doc_accuracy {r['doc_accuracy']} vs the best epoch's {best}"
print(f"ok - result: test doc_accuracy {t['doc_accuracy']!r} == predict's {summary['doc_accuracy']!r}; same label for "
      f"all 27 test documents, same confusion matrix; test chunk {t['chunk_accuracy']:.4f} (predict "
      f"{summary['chunk_accuracy']:.4f}), vote {t['vote_accuracy']:.4f} (predict {summary['vote_accuracy']:.4f})")
EOF2
grep -q "document accuracy (LSTM head).*%.*%" "$T/result_a.txt" && grep -q "LSTM head on the test documents" "$T/result_a.txt" ||
  fail "result A prints no test column: $(cat "$T/result_a.txt")"
ok "result prints the test column and table"
sed -n 1,7p "$T/result_a.txt"

# --- B: cased ids, do_lower_case false ------------------------------------------------
hb c export "$b" "$T/model_b" > /dev/null || fail "export B"
"$CLI" store dump "$T/c-data/store" --job "$b" --values > "$T/dump_b.txt" || fail "store dump B"
python3 - "$T" "$CLI" "$CVOCAB" <<'EOF2' || fail "job B: cased ids"
import json, re, subprocess, sys
T, CLI, V = sys.argv[1:4]
cfg = json.load(open(f"{T}/model_b/config.json"))
assert cfg["hierbert"]["do_lower_case"] is False, cfg["hierbert"]
texts = {}
for f in ("train_c", "val_c", "test_c"):
    for line in open(f"{T}/{f}.jsonl"):
        o = json.loads(line)
        texts[o["id"]] = o["text"]
stored, cur = {}, None
for line in open(f"{T}/dump_b.txt"):
    m = re.match(r"docs/(\S+)\s", line)
    if m:
        cur = stored.setdefault(m.group(1).split("/", 1)[1], [])
        continue
    m = re.match(r"\s+chunk \d+:(.*)", line)
    if m and cur is not None: cur.append([int(x) for x in m.group(1).split()])
    elif not line.startswith(" "): cur = None
assert "ct2" not in stored and "ct5" not in stored, "skipped documents were stored"
ids = sorted(stored)
def tok(cased):
    a = ["--cased"] if cased else []
    out = subprocess.run([CLI, "tokenize", "--vocab", V] + a, input="\n".join(texts[i] for i in ids) + "\n",
                         capture_output=True, text=True, check=True).stdout.splitlines()
    return [[int(x) for x in l.split()] for l in out]
cased, uncased = tok(1), tok(0)
differ = 0
for i, c, u in zip(ids, cased, uncased):
    inner = [t for ch in stored[i] for t in ch[1:-1]]  # each chunk is [CLS] .. [SEP]
    assert inner == c, f"{i}: stored {inner[:8]}.. tokenize --cased {c[:8]}.."
    differ += c != u
assert differ > 0, "no document tokenizes differently cased and uncased: the check proves nothing"
print(f"ok - cased job: all {len(ids)} stored documents hold `tokenize --cased`'s ids ({differ} differ from the "
      f"uncased ones); the export says do_lower_case false")
EOF2
