#!/usr/bin/env python3
"""random_text.py SEED LINES - seeded random Unicode text for the tokenizer
parity test (tests/test_wordpiece_parity.sh): lines mixing words that
exercise BERT's rules (accents, final sigma, dotted I, combining marks) with
runs of code points drawn from every character assigned in Python's
unicodedata below U+30000, plus tag characters (Cf) and private use (Co).
No line contains '\\n'. Deterministic for a given SEED and Python version."""
import random
import sys
import unicodedata


def main():
    seed, lines = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    ranges = list(range(0, 0x30000)) + list(range(0xE0000, 0xE0200)) + list(range(0xF0000, 0xF0100))
    pool = [c for c in ranges
            if c != 10 and not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) != "Cn"]
    words = ["the", "Über", "naïve", "ΟΔΟΣ", "İ", "x", "##", "[UNK]", "don't", "e\u0301", "ΑΣ.", "中文"]
    out = []
    for _ in range(lines):
        parts = []
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            if r < 0.3:
                parts.append(rng.choice(words))
            elif r < 0.5:
                parts.append(" ")
            else:
                parts.append("".join(chr(rng.choice(pool)) for _ in range(rng.randint(1, 6))))
        out.append("".join(parts))
    sys.stdout.buffer.write(("\n".join(out) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
