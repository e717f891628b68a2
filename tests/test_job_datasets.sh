#!/usr/bin/env bash
# Datasets as they come (issue 13), through the real CLI and daemons:
#  - bad values of --encoding, --decode-errors and --chunk-policy are
#    refused with a clear message, and nothing is ingested;
#  - a folder corpus as distributed (README and LICENSE beside the class
#    folders, a .git) with one latin-1 file: refused by default naming the
#    file; with --decode-errors replace it ingests, the reply and the log
#    say how many entries were ignored and which file had how many bytes
#    replaced; with --encoding latin1 it ingests with none replaced;
#  - --max-chunks 2 --chunk-policy head-tail (which chunks it keeps:
#    test_chunker): the exported config.json says head-tail, and predict
#    on the export cuts 2 chunks a document and reproduces the job's own
#    validation probabilities (it cuts the same chunks as the ingest).
source "$(dirname "$0")/daemon_lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
VOCAB=$SRC/tests/data/vocab_small.txt

python3 - "$T" <<'EOF2'
import json, os, random, sys
T = sys.argv[1]
r = random.Random(3)
cls = {"alpha": "mail user hello world quick".split(), "beta": "dog fox lazy jumps running".split()}
filler = "the example family player played path end tag brown bad".split()
def text(lab, n):
    return " ".join(r.choice(cls[lab]) if r.random() < 0.3 else r.choice(filler) for _ in range(n))
# a folder corpus as distributed
for lab in cls:
    os.makedirs(f"{T}/corpus/{lab}")
    for i in range(12):
        with open(f"{T}/corpus/{lab}/{i:02d}.txt", "w") as f: f.write(text(lab, r.randint(5, 30)))
os.makedirs(f"{T}/corpus/.git")
open(f"{T}/corpus/README", "w").write("Two classes of texts.\n")
open(f"{T}/corpus/LICENSE", "w").write("CC0\n")
with open(f"{T}/corpus/beta/05.txt", "wb") as f: f.write(b"the caf\xe9 dog fox lazy")  # latin-1
# long documents for head-tail: 5 chunks of 14 content tokens each at L=16
for name, n in (("train", 30), ("val", 10)):
    with open(f"{T}/{name}.jsonl", "w") as f:
        for i in range(n):
            lab = list(cls)[i % 2]
            f.write(json.dumps({"id": f"{name}{i}", "text": text(lab, 70), "label": lab}) + "\n")
EOF2

start_coord c --heartbeat-ms 200 --expiry-ms 3000
# --- bad values -------------------------------------------------------------------
check_refused() { # expected-message args...
  local want=$1; shift
  out=$(hb c submit --train "$T/corpus" --vocab "$VOCAB" --val-fraction 0.2 "$@" 2>&1) && fail "submit $* accepted"
  [[ $out == *"$want"* ]] || fail "submit $*: '$out' (expected '$want')"
  echo "  refused: $*  ->  $out"
}
check_refused "--decode-errors ignore: strict or replace" --decode-errors ignore
check_refused "--chunk-policy tail: first, head-tail or spread" --chunk-policy tail --max-chunks 2
check_refused "--encoding '': an iconv encoding name" --encoding ""
check_refused "Submit refused: encoding 'klingon-8': not one iconv converts to UTF-8" --encoding klingon-8
check_refused "corpus/beta/05.txt:1: invalid UTF-8 at byte 7" --decode-errors strict
st=$("$CLI" store stats "$T/c-data/store")
grep -qx "entries_docs:0" <<<"$st" && grep -qx "entries_jobs:0" <<<"$st" || fail "refused submits left data: $st"
ok "bad --encoding / --decode-errors / --chunk-policy values and the latin-1 byte (strict) refused; nothing ingested"

# --- the corpus as it comes ---------------------------------------------------------
start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
j1=$(hb c submit --train "$T/corpus" --vocab "$VOCAB" --val-fraction 0.2 --seq 16 --batch 8 --head-epochs 1 \
     --decode-errors replace 2>"$T/s1.err") || fail "replace: $(cat "$T/s1.err")"
grep -q "ignored 3 entries beside the class folders (top-level files, hidden): $T/corpus/.git, $T/corpus/LICENSE, $T/corpus/README" \
  "$T/s1.err" || fail "ignored entries not reported: $(cat "$T/s1.err")"
grep -q "replaced 1 undecodable byte(s) with U+FFFD in 1 file(s) (--decode-errors replace): $T/corpus/beta/05.txt (1)" \
  "$T/s1.err" || fail "replacement not reported: $(cat "$T/s1.err")"
grep -q "job $j1: 1 undecodable bytes replaced by U+FFFD in 1 files: $T/corpus/beta/05.txt (1)" "$T/c.log" \
  || fail "not in the coordinator's log"
ok "folder corpus with README, LICENSE, .git and a latin-1 file, --decode-errors replace: $(tr '\n' ' ' <"$T/s1.err")"
j2=$(hb c submit --train "$T/corpus" --vocab "$VOCAB" --val-fraction 0.2 --seq 16 --batch 8 --head-epochs 1 \
     --encoding latin1 2>"$T/s2.err") || fail "latin1: $(cat "$T/s2.err")"
grep -q "replaced" "$T/s2.err" && fail "latin1 replaced bytes: $(cat "$T/s2.err")"
n1=$(status_json c "$j1" | json_get 'd["jobs"][0]["train_docs"] + d["jobs"][0]["val_docs"]')
n2=$(status_json c "$j2" | json_get 'd["jobs"][0]["train_docs"] + d["jobs"][0]["val_docs"]')
[[ $n1 == 24 && $n2 == 24 ]] || fail "documents: $n1 / $n2 (24 expected)"
ok "--encoding latin1: the same 24 documents, none replaced"
wait_for 60 "[[ \$(job_state c $j2) == DONE ]]" "latin1 job DONE"
hb c export "$j2" "$T/model2" >/dev/null || fail "export latin1 job"
"$CLI" predict --model "$T/model2" --threads 1 "$T/corpus" >/dev/null 2>"$T/p0.err" && fail "predict took the latin-1 file as UTF-8"
grep -q "beta/05.txt:1: invalid UTF-8" "$T/p0.err" || fail "predict strict: $(cat "$T/p0.err")"
"$CLI" predict --model "$T/model2" --threads 1 --encoding latin1 "$T/corpus" >"$T/p1.out" 2>"$T/p1.err" \
  || fail "predict --encoding latin1: $(cat "$T/p1.err")"
grep -q "ignored 3 entries beside the class folders" "$T/p1.err" || fail "predict's ignored entries: $(cat "$T/p1.err")"
[[ $(grep -vc '^#' "$T/p1.out") -ge 24 ]] || fail "predict rows: $(head -3 "$T/p1.out")"
"$CLI" predict --model "$T/model2" --threads 1 --decode-errors replace "$T/corpus" >/dev/null 2>"$T/p2.err" \
  || fail "predict replace: $(cat "$T/p2.err")"
grep -q "replaced 1 undecodable byte(s) with U+FFFD in 1 file(s): $T/corpus/beta/05.txt (1)" "$T/p2.err" \
  || fail "predict replace: $(cat "$T/p2.err")"
ok "predict on the same folder: strict refuses the latin-1 file, --encoding latin1 and --decode-errors replace read it (reported)"

# --- head-tail ------------------------------------------------------------------------
j3=$(hb c submit --train "$T/train.jsonl" --val "$T/val.jsonl" --vocab "$VOCAB" --seq 16 --batch 8 --epochs 2 \
     --lr 1e-3 --head-epochs 3 --max-chunks 2 --chunk-policy head-tail 2>"$T/s3.err") || fail "head-tail: $(cat "$T/s3.err")"
wait_for 120 "[[ \$(job_state c $j3) == DONE ]]" "head-tail job DONE"
hb c export "$j3" "$T/model3" >/dev/null || fail "export"
python3 -c "import json,sys; h=json.load(open('$T/model3/config.json'))['hierbert']; assert h['chunk_policy']=='head-tail' and h['max_chunks']==2, h" \
  || fail "config.json: $(cat "$T/model3/config.json")"
hb c result "$j3" --json > "$T/res3.json"
"$CLI" predict --model "$T/model3" --json "$T/val.jsonl" --threads 1 > "$T/pred3.jsonl" || fail "predict"
python3 - "$T/res3.json" "$T/pred3.jsonl" <<'EOF2' || fail "predict vs result"
import json, sys
res = json.load(open(sys.argv[1]))
mine = {p["id"]: p for p in res["predictions"]}
pred = [json.loads(l) for l in open(sys.argv[2])]
pred = {p["id"]: p for p in pred if "id" in p}
assert len(mine) == 10 and set(mine) == set(pred), (len(mine), sorted(pred)[:3])
worst = 0
for i, p in pred.items():
    assert p["n_chunks"] == 2, f"{i}: predict cut {p['n_chunks']} chunks, max 2"
    names = [c["name"] for c in res["metrics"]["classes"]]
    q = [p["probs"][n] for n in names]
    worst = max(worst, max(abs(a - b) for a, b in zip(q, mine[i]["probs"])))
assert worst < 1e-4, f"predict's probabilities differ from the job's by {worst}"
print(f"ok - head-tail: config.json says head-tail / max 2; predict on the export cuts 2 chunks a document and "
      f"gives the job's validation probabilities within {worst:.1e}")
EOF2
