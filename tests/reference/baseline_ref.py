#!/usr/bin/python3
"""baseline_ref.py - the scikit-learn side of test_baseline_sklearn: makes a
small seeded corpus of token-id documents and what scikit-learn computes on
it with the features and the classifier of model/baseline.h.

    /usr/bin/python3 tests/reference/baseline_ref.py tests/fixtures/baseline

(needs python3-sklearn: ops/install-deps.sh --reference). Writes
  train.txt, val.txt   one document a line: "LABEL<TAB>id id id ..."
  sklearn.json         {"n_terms", "accuracy", "predictions" (val), "idf" and
                        "doc0" ({"a" | "a b": value} of the first training
                        document), "settings", "sklearn"}
The corpus: 5 classes over 3000 ids; each document mixes Zipf-distributed
background ids with its class's topic ids (classes share part of their
topics) and class-dependent bigrams (a common id followed by a class's id);
15% of documents draw their topic from another class than their label, so
no classifier is perfect. Features: TfidfVectorizer(sublinear_tf=True)
over unigrams and bigrams of ids (an analyzer yielding "a" and "a b" terms);
classifier: LinearSVC() with its defaults (C=1, squared hinge, dual,
tol 1e-4, intercept_scaling 1, max_iter 1000), one-vs-rest.
"""
import json
import os
import random
import sys

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/baseline"
os.makedirs(out, exist_ok=True)
rng = random.Random(13)
V, C, N_TRAIN, N_VAL = 3000, 5, 500, 300
zipf_w = [1.0 / (r + 1) for r in range(V)]
pool = rng.sample(range(200, V), 400)
topics = [pool[k * 60:k * 60 + 100] for k in range(C)]  # consecutive classes share 40 ids
lead = rng.sample(range(50, 200), 10)                    # common first ids of the bigrams
follow = [rng.sample(range(200, V), 10) for _ in range(C)]


def doc(label):
    topic = label if rng.random() >= 0.15 else rng.randrange(C)
    n = rng.randint(10, 80)
    ids = []
    while len(ids) < n:
        r = rng.random()
        if r < 0.65:
            ids.append(rng.choices(range(V), weights=zipf_w)[0])
        elif r < 0.9:
            ids.append(rng.choice(topics[topic]))
        else:
            i = rng.randrange(10)
            ids += [lead[i], follow[topic][i] if rng.random() < 0.7 else rng.choice(follow[rng.randrange(C)])]
    return ids


def corpus(n):
    labels = [k % C for k in range(n)]
    rng.shuffle(labels)
    return [(y, doc(y)) for y in labels]


train, val = corpus(N_TRAIN), corpus(N_VAL)
for name, docs in (("train", train), ("val", val)):
    with open(os.path.join(out, name + ".txt"), "w") as f:
        for y, ids in docs:
            f.write(f"{y}\t{' '.join(map(str, ids))}\n")


def terms(ids):
    return [str(a) for a in ids] + [f"{a} {b}" for a, b in zip(ids, ids[1:])]


vec = TfidfVectorizer(analyzer=terms, sublinear_tf=True)
Xtr = vec.fit_transform([ids for _, ids in train])
Xva = vec.transform([ids for _, ids in val])
clf = LinearSVC().fit(Xtr, [y for y, _ in train])
pred = [int(p) for p in clf.predict(Xva)]
acc = sum(p == y for p, (y, _) in zip(pred, val)) / len(val)
names = vec.get_feature_names_out()
row = Xtr[0].tocoo()
doc0 = {str(names[j]): float(v) for j, v in zip(row.col, row.data)}
idf = {t: float(vec.idf_[vec.vocabulary_[t]]) for t in sorted(doc0)[:20]}
json.dump(dict(n_terms=len(names), accuracy=acc, predictions=pred, idf=idf, doc0=doc0,
               settings=dict(V=V, C=C, train=N_TRAIN, val=N_VAL, seed=13, vectorizer="TfidfVectorizer(sublinear_tf=True)",
                             classifier="LinearSVC()"), sklearn=sklearn.__version__),
          open(os.path.join(out, "sklearn.json"), "w"), indent=1)
print(f"baseline_ref: {len(names)} terms, val accuracy {acc:.4f} (scikit-learn {sklearn.__version__}) -> {out}")
