#!/usr/bin/env python3
"""tokenizer_ref.py - reference BERT tokenizer for hierbert's parity tests.

This is a re-derivation of the published algorithm of Google's original BERT
tokenization.py (BasicTokenizer + WordpieceTokenizer + load_vocab, as released
with google-research/bert), written here from that algorithm with the Python
standard library only (unicodedata). It is not a copy of that file and has no
dependency on it; model/wordpiece.c implements the same steps in C and
tests/test_wordpiece_parity.sh checks that both give the same token ids.

Usage: tokenizer_ref.py VOCAB [--cased] < text > ids
  One output line per input line (input split on b"\n" only), the
  space-separated token ids of that line, without [CLS]/[SEP].

Unicode versions: Python's unicodedata (here %s) and utf8proc may be at
different Unicode versions; the committed test set avoids characters whose
category or case mapping changed between Unicode 13 and 15.
"""
import sys
import unicodedata

MAX_WORD_CHARS = 100


def load_vocab(path):
    # One token per line, id = line index, each line stripped; a repeated
    # token keeps its last id (a dict assignment, as load_vocab does).
    # Stripped of ASCII whitespace only: Google's token.strip() also strips
    # Unicode spaces, which no BERT vocabulary line has at its ends.
    vocab = {}
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i, line in enumerate(lines):
        vocab[line.strip(" \t\r\v\f")] = i
    return vocab


def is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch) in ("Cc", "Cf")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def clean_text(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        out.append(" " if is_whitespace(ch) else ch)
    return "".join(out)


def tokenize_chinese_chars(text):
    out = []
    for ch in text:
        if is_chinese_char(ord(ch)):
            out.extend((" ", ch, " "))
        else:
            out.append(ch)
    return "".join(out)


def strip_accents(text):
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def split_on_punc(text):
    words, cur = [], []
    for ch in text:
        if is_punctuation(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def basic_tokenize(text, lower):
    text = tokenize_chinese_chars(clean_text(text))
    split = []
    for tok in text.strip().split():
        if lower:
            tok = strip_accents(tok.lower())
        split.extend(split_on_punc(tok))
    return " ".join(split).strip().split()


def wordpiece(word, vocab, unk):
    chars = list(word)
    if len(chars) > MAX_WORD_CHARS:
        return [unk]
    out, start = [], 0
    while start < len(chars):
        end, cur = len(chars), None
        while start < end:
            sub = "".join(chars[start:end])
            if start > 0:
                sub = "##" + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return [unk]
        out.append(cur)
        start = end
    return out


def tokenize_ids(text, vocab, lower):
    ids = []
    for word in basic_tokenize(text, lower):
        for piece in wordpiece(word, vocab, "[UNK]"):
            ids.append(vocab[piece])
    return ids


def main():
    args = [a for a in sys.argv[1:] if a != "--cased"]
    if len(args) != 1:
        sys.stderr.write(__doc__ % unicodedata.unidata_version)
        return 2
    vocab = load_vocab(args[0])
    lower = "--cased" not in sys.argv[1:]
    data = sys.stdin.buffer.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = sys.stdout
    for i, raw in enumerate(lines):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            sys.stderr.write("stdin:%d: invalid UTF-8 at byte %d\n" % (i + 1, e.start))
            return 1
        out.write(" ".join(map(str, tokenize_ids(text, vocab, lower))))
        out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
