#!/usr/bin/env bash
# The bag-of-words baseline in every result (issue 13), through real daemons:
# a job on a JSONL corpus whose classes are told apart by their words, with
# --test, runs to DONE and its `result --json` has baseline_accuracy and
# baseline_metrics (per class) for validation and test, consistent with the
# per-class counts and fitted on exactly the training documents; the words
# separate the classes, so the baseline gets >= 90% of them; the LSTM head,
# trained here at a rate too small to learn anything, is below it: `result`
# prints the baseline row and the warning, and the coordinator logs it.
# (Same features and classifier as scikit-learn: test_baseline_sklearn.)
source "$(dirname "$0")/daemon_lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
VOCAB=$SRC/tests/data/vocab_small.txt

python3 - "$T" <<'EOF2'
import json, random, sys
r = random.Random(7)
cls = {"alpha": "mail user hello world quick".split(), "beta": "dog fox lazy jumps running".split(),
       "gamma": "rock german arabic hebrew tibetan".split()}
filler = "the example family player played path end tag brown bad".split()
for name, n in (("train", 90), ("val", 30), ("test", 30)):
    with open(f"{sys.argv[1]}/{name}.jsonl", "w") as f:
        for i in range(n):
            lab = list(cls)[i % 3]
            ws = [r.choice(cls[lab]) if r.random() < 0.3 else r.choice(filler) for _ in range(r.randint(8, 60))]
            f.write(json.dumps({"id": f"{name}{i}", "text": " ".join(ws), "label": lab}) + "\n")
EOF2

start_coord c --heartbeat-ms 200 --expiry-ms 3000
start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
job=$(hb c submit --train "$T/train.jsonl" --val "$T/val.jsonl" --test "$T/test.jsonl" --vocab "$VOCAB" --seq 16 \
      --batch 8 --epochs 1 --lr 1e-7 --head-epochs 1 --name bow 2>"$T/submit.err") || fail "submit: $(cat "$T/submit.err")"
wait_for 90 "[[ \$(job_state c $job) == DONE ]]" "job $job DONE"
hb c result "$job" --json >"$T/res.json"
hb c result "$job" >"$T/res.txt" || fail "result: $(cat "$T/res.txt")"

python3 - "$T/res.json" <<'EOF2' || fail "result JSON: $(head -c 600 "$T/res.json")"
import json, sys
d = json.load(open(sys.argv[1]))
b = d["baseline"]
assert "error" not in b, b
assert b["train_docs"] == 90, f"fitted on {b['train_docs']} documents, 90 are training ones"
assert b["terms"] > 20, b["terms"]
for where, o in (("validation", d), ("test", d["test"])):
    acc, m = o["baseline_accuracy"], o["baseline_metrics"]
    assert isinstance(acc, float), f"{where}: baseline_accuracy {acc!r}"
    conf = m["confusion"]
    correct, total = sum(conf[k][k] for k in range(3)), sum(map(sum, conf))
    assert total == 30, f"{where}: {total} documents scored, 30 expected"
    assert abs(acc - correct / total) < 1e-9, f"{where}: accuracy {acc} but confusion says {correct}/{total}"
    assert [c["name"] for c in m["classes"]] == ["alpha", "beta", "gamma"], m["classes"]
    assert acc >= 0.9, f"{where}: baseline {acc} on classes its words separate"
    assert o["doc_accuracy"] < acc, f"{where}: the untrained head {o['doc_accuracy']} is not below the baseline {acc}"
print(f"ok - result --json: baseline_accuracy {d['baseline_accuracy']:.4f} (validation), "
      f"{d['test']['baseline_accuracy']:.4f} (test), per-class metrics; fitted on {b['train_docs']} training "
      f"documents, {b['terms']} terms, {b['seconds']:.3f} s; head {d['doc_accuracy']:.4f} below it")
EOF2

grep -q "^  baseline (TF-IDF + linear SVM) " "$T/res.txt" || fail "no baseline row: $(cat "$T/res.txt")"
grep -q "warning: the LSTM head is below the bag-of-words baseline" "$T/res.txt" || fail "no warning: $(cat "$T/res.txt")"
grep -q "job $job: the LSTM head (.*) is below the bag-of-words baseline" "$T/c.log" || fail "coordinator log"
ok "result prints the baseline row (validation and test columns) and the warning:"
sed -n '/chunk accuracy/,/pipeline does not/p' "$T/res.txt"
