#!/usr/bin/env python3
"""Regenerates tests/data/vocab_small.txt (committed) from the real
bert-base-uncased vocab.txt:

    python3 tests/data/make_vocab_small.py data/corpora/vocab/vocab.txt > tests/data/vocab_small.txt

A few hundred tokens: those the reference tokenizer uses on
tests/data/unicode_cases.txt (uncased and cased), single characters and
their ## forms, minus a deterministic tenth (so that [UNK] and shorter
matches happen), in a hashed order so that no id agrees with BERT's
(special tokens included: they must be looked up, not assumed), plus one
repeated token (the later line wins, as in the reference)."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import tokenizer_ref as ref  # noqa: E402

vocab = ref.load_vocab(sys.argv[1])
inv = {i: t for t, i in vocab.items()}
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "unicode_cases.txt"), "rb") as f:
    lines = f.read().decode("utf-8").split("\n")
used = set()
for line in lines:
    for lower in (True, False):
        used.update(inv[i] for i in ref.tokenize_ids(line, vocab, lower))
chars = [chr(c) for c in range(33, 127)]
keep = {t for t in used if not t.startswith("[")}
keep.update(chars)
keep.update("##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789")


def h(t):
    return hashlib.sha256(t.encode("utf-8")).hexdigest()


keep = {t for t in keep if int(h("drop:" + t), 16) % 10 != 0 or len(t) == 1 or t in ("##" + c for c in "abcdefghijklmnopqrstuvwxyz")}
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"]
order = sorted(keep | set(specials), key=h)
order.append("the")  # repeated: "the" gets this last id
sys.stdout.write("".join(t + "\n" for t in order))
