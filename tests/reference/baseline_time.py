#!/usr/bin/python3
"""baseline_time.py - scikit-learn's side of the baseline's speed and accuracy
figures (README "The bag-of-words baseline"): the features and classifier of
model/baseline.h (TfidfVectorizer(sublinear_tf=True) over id unigrams and
bigrams, LinearSVC()), timed on the corpora that build/tests/baseline-bench
times.

    /usr/bin/python3 tests/reference/baseline_time.py TRAIN.txt VAL.txt [--tol X]
    /usr/bin/python3 tests/reference/baseline_time.py --tokenize CORPUS.jsonl VOCAB.txt
                     [--labels TRAIN.jsonl] [--seq L] [--max-chunks M] > OUT.txt

TRAIN.txt / VAL.txt: one document a line, "LABEL<TAB>id id ...", as
tests/fixtures/baseline and `baseline-bench --dump DIR` write them. Prints
one JSON line: fit and predict seconds, terms, validation accuracy.
--tokenize writes such a file from a JSONL corpus (tokenizer_ref.py,
uncased): the tokens the coordinator's baseline sees, the content of the
first M chunks of L-2 tokens (ops/demo.sh's spam: --max-chunks 4; brown:
16); labels numbered as hierbert numbers string labels (sorted by bytes;
from --labels, default the corpus itself).
"""
import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("files", nargs=2)
ap.add_argument("--tokenize", action="store_true")
ap.add_argument("--labels")
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--max-chunks", type=int, default=16)
ap.add_argument("--tol", type=float, default=1e-4)
args = ap.parse_args()

if args.tokenize:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tokenizer_ref

    def rows(path):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    docs = rows(args.files[0])
    names = sorted({str(o["label"]) for o in rows(args.labels or args.files[0])}, key=lambda x: x.encode())
    lid = {x: i for i, x in enumerate(names)}
    vocab = tokenizer_ref.load_vocab(args.files[1])
    keep = args.max_chunks * (args.seq - 2)
    for o in docs:
        ids = tokenizer_ref.tokenize_ids(o.get("text") or "", vocab, True)[:keep]
        if ids:
            sys.stdout.write(f"{lid[str(o['label'])]}\t{' '.join(map(str, ids))}\n")
    sys.exit(0)

import sklearn  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402


def read(path):
    out = []
    with open(path) as f:
        for line in f:
            y, _, ids = line.rstrip("\n").partition("\t")
            out.append((int(y), [int(t) for t in ids.split()]))
    return out


def terms(ids):
    return [str(a) for a in ids] + [f"{a} {b}" for a, b in zip(ids, ids[1:])]


train, val = read(args.files[0]), read(args.files[1])
t0, c0 = time.perf_counter(), time.process_time()
vec = TfidfVectorizer(analyzer=terms, sublinear_tf=True)
clf = LinearSVC(tol=args.tol).fit(vec.fit_transform([d for _, d in train]), [y for y, _ in train])
t1, c1 = time.perf_counter(), time.process_time()
pred = clf.predict(vec.transform([d for _, d in val]))
t2 = time.perf_counter()
acc = sum(int(p) == y for p, (y, _) in zip(pred, val)) / len(val)
print(json.dumps(dict(train=len(train), val=len(val), terms=len(vec.vocabulary_), fit_s=round(t1 - t0, 2),
                      fit_cpu_s=round(c1 - c0, 2), predict_s=round(t2 - t1, 2), accuracy=round(acc, 4),
                      tol=args.tol, sklearn=sklearn.__version__)))
