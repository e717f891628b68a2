#!/usr/bin/env bash
# test_predict_cli.sh BUILD_DIR - `hierbert predict` end to end on a real
# exported directory: a tiny model (tiny preset shrunk to tests/data/
# vocab_small.txt, L=32, 4 chunks max, spread) trained a few steps on
# tests/data/predict_docs.jsonl by `test_clfdir make` and written with
# clfdir_write. Checks:
#   - the table: one row per document, predicted = argmax of the printed
#     probabilities, probabilities sum to 1, a summary when labels exist;
#   - --json: every line parses (python3 json.loads), probabilities sum to 1,
#     the summary object has doc_accuracy / vote_accuracy / chunk_accuracy and
#     doc_accuracy agrees with the rows;
#   - every prediction equals the C API's, one document at a time
#     (`test_clfdir predict`: dataset reader + predict_text/predict_presplit,
#     not the ingest path the CLI uses): same label, probabilities within 1e-5;
#   - the same documents as CSV and as one folder per class: same answers;
#   - unlabelled input: no summary; errors: usage (2), a bad model directory
#     and a label the model does not know (1, naming the file), --skip-bad;
#   - --precision bf16: refused with the reason under HB_NO_BF16=1; where the
#     CPU has native bf16, probabilities within 0.05 of fp32's, same labels.
# No expected label is hard-coded: the C API is the reference.
set -euo pipefail
build=$(cd "${1:?usage: test_predict_cli.sh BUILD_DIR}" && pwd)
src=${HB_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
hb=$build/cli/hierbert
helper=$build/tests/test_clfdir
docs=$src/tests/data/predict_docs.jsonl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$helper" make "$tmp/model" "$docs"
n_docs=$(grep -c . "$docs")

# ---- the table ----
"$hb" predict --model "$tmp/model" "$docs" > "$tmp/table.txt" 2> "$tmp/table.err"
python3 - "$tmp/table.txt" "$n_docs" <<'EOF' || fail "table format"
import sys
lines = open(sys.argv[1]).read().split("\n")
n = int(sys.argv[2])
head = lines[0].split("\t")
assert head[:3] == ["# id", "predicted", "true"], head
classes = [h[2:-1] for h in head[3:]]
rows = [l.split("\t") for l in lines[1:1 + n]]
for r in rows:
    assert len(r) == 3 + len(classes), r
    p = [float(x) for x in r[3:]]
    assert abs(sum(p) - 1) < 1e-4, ("sum", r)
    assert r[1] == classes[p.index(max(p))], ("argmax", r)
    assert r[2] == "-" or r[2] in classes, r
assert lines[1 + n] == "", "blank line before the summary"
correct = sum(r[1] == r[2] for r in rows if r[2] != "-")
labelled = sum(r[2] != "-" for r in rows)
acc = [l for l in lines if l.startswith("document accuracy")]
assert acc and f"({correct}/{labelled})" in acc[0], (acc, correct, labelled)
assert any(l.startswith("vote baseline") for l in lines) and any(l.startswith("chunk accuracy") for l in lines)
assert any(l.startswith("confusion") for l in lines)
print(f"ok - table: {n} rows, {len(classes)} classes, predicted = argmax, probabilities sum to 1, "
      f"summary {acc[0].split(':')[1].strip()} agrees with the rows")
EOF
grep -q "max_chunks 4" "$tmp/table.err" || fail "the truncated long document is not reported on stderr"

# ---- --json ----
"$hb" predict --model "$tmp/model" --json "$docs" > "$tmp/pred.jsonl" 2>/dev/null
python3 - "$tmp/pred.jsonl" "$n_docs" <<'EOF' || fail "--json output"
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
docs, summ = objs[:n], objs[n:]
for o in docs:
    for k in ("id", "label", "probs", "vote_label", "vote_probs", "n_chunks"):
        assert k in o, (k, o)
    assert abs(sum(o["probs"].values()) - 1) < 1e-6 and abs(sum(o["vote_probs"].values()) - 1) < 1e-6, o
    assert o["label"] == max(o["probs"], key=o["probs"].get), o
    assert o["vote_label"] == max(o["vote_probs"], key=o["vote_probs"].get), o
    assert o["n_chunks"] >= 1
assert len(summ) == 1 and "summary" in summ[0], summ
s = summ[0]["summary"]
lab = [o for o in docs if "true_label" in o]
acc = sum(o["label"] == o["true_label"] for o in lab) / len(lab)
vote = sum(o["vote_label"] == o["true_label"] for o in lab) / len(lab)
assert abs(s["doc_accuracy"] - acc) < 1e-9 and abs(s["vote_accuracy"] - vote) < 1e-9, (s, acc, vote)
assert 0 <= s["chunk_accuracy"] <= 1 and s["labelled"] == len(lab) and s["documents"] == n
assert "confusion" in s["metrics"]
print(f"ok - --json: {n} objects + summary parse; probabilities and vote sum to 1; labels are argmaxes; "
      f"doc_accuracy {s['doc_accuracy']:.3f}, vote_accuracy {s['vote_accuracy']:.3f} agree with the objects")
EOF

# ---- against the C API, one document at a time ----
compare_api() {  # compare_api NAME PRED_JSONL INPUT...
  local name=$1 pred=$2
  shift 2
  "$helper" predict "$tmp/model" "$@" > "$tmp/api.tsv"
  python3 - "$pred" "$tmp/api.tsv" "$name" <<'EOF' || fail "$name: CLI differs from the C API"
import json, sys
cli = {}
for l in open(sys.argv[1]):
    o = json.loads(l)
    if "id" in o:
        cli[o["id"]] = o
api = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
assert len(api) == len(cli), (len(api), len(cli))
worst = 0.0
labels = set()
for id_, label, probs in api:
    o = cli[id_]
    assert o["label"] == label, (id_, o["label"], label)
    p = [float(x) for x in probs.split()]
    q = list(o["probs"].values())
    worst = max([worst] + [abs(a - b) for a, b in zip(p, q)])
    labels.add(label)
assert worst < 1e-5, worst
print(f"ok - {sys.argv[3]}: {len(api)} documents, labels identical to the C API's one-at-a-time answers "
      f"({len(labels)} distinct), probabilities within {worst:.1e}")
EOF
}
compare_api "jsonl" "$tmp/pred.jsonl" "$docs"

# ---- CSV and folder layouts of the same text documents ----
python3 - "$docs" "$tmp" <<'EOF'
import csv, json, os, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
out = sys.argv[2]
with open(f"{out}/docs.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "text", "label"])
    for d in docs:
        if "text" in d and "label" in d:
            w.writerow([d["id"], d["text"], d["label"]])
for d in docs:
    if "text" in d and "label" in d:
        os.makedirs(f"{out}/folder/{d['label']}", exist_ok=True)
        open(f"{out}/folder/{d['label']}/{d['id']}.txt", "w").write(d["text"])
EOF
"$hb" predict --model "$tmp/model" --json "$tmp/docs.csv" > "$tmp/csv.jsonl" 2>/dev/null
compare_api "csv" "$tmp/csv.jsonl" "$tmp/docs.csv"
"$hb" predict --model "$tmp/model" --json --format folder "$tmp/folder" > "$tmp/folder.jsonl" 2>/dev/null
compare_api "folder" "$tmp/folder.jsonl" "$tmp/folder"
python3 - "$tmp/pred.jsonl" "$tmp/csv.jsonl" "$tmp/folder.jsonl" <<'EOF' || fail "formats disagree"
import json, sys
def load(p):
    return {o["id"].split("/")[-1].removesuffix(".txt"): o for o in map(json.loads, open(p)) if "id" in o}
j, c, f = map(load, sys.argv[1:4])
for k in c:
    assert c[k]["label"] == j[k]["label"] == f[k]["label"], k
    assert max(abs(a - b) for a, b in zip(c[k]["probs"].values(), j[k]["probs"].values())) < 1e-5, k
print(f"ok - the {len(c)} text documents as CSV and as DIR/<label>/<file> get the JSONL answers")
EOF

# ---- unlabelled input: rows, no summary; batch size does not change answers ----
grep -v '"label"' "$docs" > "$tmp/unlabelled.jsonl"
"$hb" predict --model "$tmp/model" --batch 1 --threads 1 "$tmp/unlabelled.jsonl" > "$tmp/u.txt"
[ "$(wc -l < "$tmp/u.txt")" -eq $(( $(wc -l < "$tmp/unlabelled.jsonl") + 1 )) ] || fail "unlabelled: rows"
! grep -q "accuracy" "$tmp/u.txt" || fail "unlabelled input printed a summary"
echo "ok - unlabelled input (batch 1, 1 thread): one row per document, no summary"

# ---- errors ----
set +e
"$hb" predict "$docs" > /dev/null 2> "$tmp/e1"; rc1=$?
"$hb" predict --help > /dev/null; rc0=$?
mkdir -p "$tmp/badmodel" && cp "$tmp/model"/* "$tmp/badmodel/" && rm "$tmp/badmodel/head.safetensors"
"$hb" predict --model "$tmp/badmodel" "$docs" > /dev/null 2> "$tmp/e2"; rc2=$?
# (the unknown label twice, after a known one: the error names its first line)
printf '{"id": "x1", "text": "hello user", "label": "ham"}\n{"id": "x2", "text": "mail", "label": "nonsense"}\n%s\n' \
  '{"id": "x3", "text": "user mail", "label": "nonsense"}' > "$tmp/unknown.jsonl"
"$hb" predict --model "$tmp/model" "$tmp/unknown.jsonl" > /dev/null 2> "$tmp/e3"; rc3=$?
"$hb" predict --model "$tmp/model" --skip-bad "$tmp/unknown.jsonl" > "$tmp/skip.txt" 2> "$tmp/e4"; rc4=$?
set -e
[ $rc0 -eq 0 ] || fail "--help exit $rc0"
[ $rc1 -eq 2 ] && grep -q -- "--model" "$tmp/e1" || fail "no --model: exit $rc1: $(cat "$tmp/e1")"
[ $rc2 -eq 1 ] && grep -q "badmodel/head.safetensors" "$tmp/e2" || fail "bad model: exit $rc2: $(cat "$tmp/e2")"
[ $rc3 -eq 1 ] && grep -q "unknown.jsonl:2" "$tmp/e3" || fail "unknown label: exit $rc3: $(cat "$tmp/e3")"
[ $rc4 -eq 0 ] && grep -q "^x1" "$tmp/skip.txt" && ! grep -q "^x[23]" "$tmp/skip.txt" && grep -q skipped "$tmp/e4" ||
  fail "--skip-bad: exit $rc4"
echo "ok - errors: no --model (2: $(head -c 60 "$tmp/e1")...), missing head.safetensors (1, named), a label the" \
  "model does not know (1: $(cut -c1-80 "$tmp/e3")...), --skip-bad skips and reports it"

# ---- --precision bf16 ----
set +e
HB_NO_BF16=1 "$hb" predict --model "$tmp/model" --precision bf16 "$docs" > "$tmp/b0.txt" 2> "$tmp/e5"; rc5=$?
"$hb" predict --model "$tmp/model" --precision fp16 "$docs" > /dev/null 2> "$tmp/e6"; rc6=$?
set -e
[ $rc5 -eq 1 ] && [ ! -s "$tmp/b0.txt" ] && grep -q "bf16 refused: .*HB_NO_BF16" "$tmp/e5" ||
  fail "forced-off bf16: exit $rc5: $(cat "$tmp/e5")"
[ $rc6 -eq 2 ] && grep -q "fp32 or bf16" "$tmp/e6" || fail "--precision fp16: exit $rc6: $(cat "$tmp/e6")"
echo "ok - --precision bf16 with HB_NO_BF16=1 refused (1: $(cat "$tmp/e5")); --precision fp16 a usage error (2)"
if grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then
  "$hb" predict --model "$tmp/model" --json --precision bf16 "$docs" > "$tmp/b16.json"
  # bf16 rounds every product's inputs to 8 significant bits (u = 2^-8): the
  # probabilities move by about 1e-2 at most on this 2-layer model, never more
  # than 0.05; the labels are those of fp32 except where fp32's top two
  # probabilities are that close
  python3 - "$tmp/b16.json" "$tmp/pred.jsonl" <<'PY' || fail "bf16 predictions far from fp32's"
import json, sys
def rows(p):
    return {r["id"]: r for r in map(json.loads, open(p)) if "id" in r}
b, f = rows(sys.argv[1]), rows(sys.argv[2])
assert b.keys() == f.keys() and b, (len(b), len(f))
worst = 0
for k in f:
    pf, pb = f[k]["probs"], b[k]["probs"]
    d = max(abs(pf[c] - pb[c]) for c in pf)
    worst = max(worst, d)
    top = sorted(pf.values())[-2:]
    assert d < 0.05, (k, pf, pb)
    assert b[k]["label"] == f[k]["label"] or top[1] - top[0] < 0.1, (k, pf, pb)
print(f"ok - predict --precision bf16: {len(b)} documents, probabilities within {worst:.1e} of fp32's, same labels")
PY
else
  echo "skipped: predict --precision bf16 run (no avx512_bf16 or amx_bf16 on this CPU)"
fi
