#!/usr/bin/env bash
# test_wordpiece_parity.sh BUILD_DIR - model/wordpiece.c gives the same token
# ids as tests/reference/tokenizer_ref.py, a re-derivation in Python (stdlib
# unicodedata only) of the published algorithm of Google BERT's original
# tokenization.py (BasicTokenizer + WordpieceTokenizer):
#   1. on the committed Unicode set tests/data/unicode_cases.txt and on
#      seeded random Unicode text (tests/reference/random_text.py) with the
#      committed tests/data/vocab_small.txt, uncased and cased (always runs);
#   2. on the whole Brown corpus and the Unicode set with the real
#      bert-base-uncased vocab.txt, fetched by ops/fetch-corpus.sh into
#      $HB_CORPUS_DIR (default data/corpora); if that fetch fails, part 2 is
#      SKIPPED with the reason printed (no network is not a failure).
set -euo pipefail
build=$(cd "${1:?usage: test_wordpiece_parity.sh BUILD_DIR}" && pwd)
src=${HB_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
hb=$build/cli/hierbert
ref=$src/tests/reference/tokenizer_ref.py
cases=$src/tests/data/unicode_cases.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

compare() {  # compare NAME VOCAB INPUT [--cased]
  local name=$1 vocab=$2 input=$3 flag=${4:-}
  "$hb" tokenize --vocab "$vocab" $flag < "$input" > "$tmp/c.txt"
  python3 "$ref" "$vocab" $flag < "$input" > "$tmp/py.txt"
  if ! cmp -s "$tmp/c.txt" "$tmp/py.txt"; then
    echo "FAIL: $name: token ids differ from the reference; first differing lines:" >&2
    diff "$tmp/py.txt" "$tmp/c.txt" | head -6 >&2
    exit 1
  fi
  local lines ids unk
  lines=$(wc -l < "$tmp/c.txt")
  ids=$(wc -w < "$tmp/c.txt")
  echo "ok - $name: $lines lines, $ids token ids identical to the Python reference"
}

compare "unicode set, small vocab, uncased" "$src/tests/data/vocab_small.txt" "$cases"
compare "unicode set, small vocab, cased" "$src/tests/data/vocab_small.txt" "$cases" --cased
# seeded random Unicode: every assigned code point below U+30000 can appear
python3 "$src/tests/reference/random_text.py" 20261125 2000 > "$tmp/random.txt"
pyuni=$(python3 -c 'import unicodedata; print(unicodedata.unidata_version)')
compare "random Unicode (2000 lines, Python Unicode $pyuni), small vocab, uncased" "$src/tests/data/vocab_small.txt" "$tmp/random.txt"
compare "random Unicode, small vocab, cased" "$src/tests/data/vocab_small.txt" "$tmp/random.txt" --cased
# the set must exercise [UNK] and the specials must not sit at BERT's ids
grep -q "^\[UNK\]$" "$src/tests/data/vocab_small.txt"
unk=$(grep -n "^\[UNK\]$" "$src/tests/data/vocab_small.txt" | cut -d: -f1)
[[ $((unk - 1)) != 100 ]] || { echo "FAIL: small vocab puts [UNK] at BERT's id" >&2; exit 1; }
n_unk=$("$hb" tokenize --vocab "$src/tests/data/vocab_small.txt" < "$cases" | tr ' ' '\n' | grep -c "^$((unk - 1))\$" || true)
[[ $n_unk -gt 0 ]] || { echo "FAIL: the unicode set produced no [UNK] with the small vocab" >&2; exit 1; }
echo "ok - small vocab: [UNK] is id $((unk - 1)) (looked up, not BERT's 100), produced $n_unk times"

corpus=${HB_CORPUS_DIR:-$src/data/corpora}
if ! { [[ -s $corpus/vocab/vocab.txt && -s $corpus/brown/train.jsonl ]] ||
       { timeout 300 "$src/ops/fetch-corpus.sh" vocab "$corpus" && timeout 300 "$src/ops/fetch-corpus.sh" brown "$corpus"; } > "$tmp/fetch.log" 2>&1; }; then
  echo "SKIP: Brown/real-vocab parity: ops/fetch-corpus.sh could not fetch into $corpus:"
  tail -3 "$tmp/fetch.log" | sed 's/^/  /'
  exit 0
fi
vocab=$corpus/vocab/vocab.txt
python3 - "$corpus/brown/train.jsonl" "$corpus/brown/val.jsonl" > "$tmp/brown.txt" <<'PY'
import json, sys
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            sys.stdout.write(json.loads(line)["text"] + "\n")
PY
docs=$(cat "$corpus/brown/train.jsonl" "$corpus/brown/val.jsonl" | wc -l)
[[ $docs == 500 ]] || { echo "FAIL: Brown has $docs documents, expected 500" >&2; exit 1; }
compare "Brown corpus (500 documents, $(wc -c < "$tmp/brown.txt") bytes), bert-base-uncased" "$vocab" "$tmp/brown.txt"
compare "unicode set, bert-base-uncased" "$vocab" "$cases"
compare "unicode set, bert-base-uncased vocab read as cased" "$vocab" "$cases" --cased
compare "random Unicode, bert-base-uncased" "$vocab" "$tmp/random.txt"
# the fetched split follows model/split.h's rule (same rule in C and Python)
HB_CORPUS_DIR=$corpus "$build/tests/test_split_corpus"
