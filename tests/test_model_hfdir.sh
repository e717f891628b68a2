#!/usr/bin/env bash
# Hugging Face directories as the Hub ships them (issue 13), as --model of a
# real job: made here from tests/fixtures/bert_h40 (hidden 40, vocab 150)
#  - "hub": config.json with 3 more keys hierbert does not use, model.safetensors
#    in F16 (every tensor; no classifier.*), tokenizer.json instead of
#    vocab.txt: the submit names the unused keys once (reply and log), the
#    job runs to DONE, its export's vocab.txt is tokenizer.json's vocabulary
#    in id order;
#  - "bin": the same with pytorch_model.bin instead of model.safetensors:
#    refused with the command that converts it, nothing ingested.
source "$(dirname "$0")/daemon_lib.sh" "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
FIX=$SRC/tests/fixtures/bert_h40
VOCAB=$SRC/tests/data/vocab_small.txt

mkdir -p "$T/hub" "$T/bin"
# 150 tokens: the special ones, then the small vocabulary's first words
{ grep -x '\[PAD\]\|\[UNK\]\|\[CLS\]\|\[SEP\]' "$VOCAB"; grep -vx '\[PAD\]\|\[UNK\]\|\[CLS\]\|\[SEP\]' "$VOCAB" | head -146; } \
  > "$T/vocab150.txt"
python3 - "$FIX" "$T" <<'PY'
import json, random, struct, sys
fix, T = sys.argv[1], sys.argv[2]
cfg = json.load(open(f"{fix}/config.json"))
cfg.update(gradient_checkpointing=False, pad_token_id=0, use_cache=True)
for d in ("hub", "bin"):
    json.dump(cfg, open(f"{T}/{d}/config.json", "w"))
raw = open(f"{fix}/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n]); data = raw[8 + n:]
out, blobs, off = {}, [], 0
for k, v in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0] if kv[0] != "__metadata__" else -1):
    if k == "__metadata__" or k.startswith("classifier."): continue
    a, b = v["data_offsets"]
    xs = struct.unpack(f"<{(b - a) // 4}f", data[a:b])
    blob = struct.pack(f"<{len(xs)}e", *xs)  # IEEE half, as torch.float16 writes it
    blobs.append(blob)
    out[k] = dict(v, dtype="F16", data_offsets=[off, off + len(blob)]); off += len(blob)
h = json.dumps(out).encode(); h += b" " * (-len(h) % 8)
open(f"{T}/hub/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
open(f"{T}/bin/pytorch_model.bin", "wb").write(b"PK\x03\x04" + bytes(64))
toks = [l.rstrip("\n") for l in open(f"{T}/vocab150.txt", encoding="utf-8")]
items = list(enumerate(toks)); random.Random(5).shuffle(items)  # JSON order is not id order
tj = {"version": "1.0", "normalizer": {"type": "BertNormalizer", "lowercase": True},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {t: i for i, t in items}}}
json.dump(tj, open(f"{T}/hub/tokenizer.json", "w"), ensure_ascii=False)
cp = open(f"{T}/vocab150.txt").read(); open(f"{T}/bin/vocab.txt", "w").write(cp)
print(f"ok - made hub/ (F16 model.safetensors, {len(out)} tensors, {len(toks)}-token tokenizer.json) and bin/")
PY
words=(mail user playing quick german hello rock world example brown fox lazy dog family jumps running)
for i in $(seq 1 30); do
  printf '{"id": "d%d", "text": "%s %s %s the fox %s", "label": "%s"}\n' "$i" "${words[i % 16]}" \
    "${words[(i * 7) % 16]}" "${words[(i * 3) % 16]}" "${words[i % 5]}" "$((i % 2 ? 10 : 1))"
done > "$T/good.jsonl"

start_coord c --heartbeat-ms 200 --expiry-ms 3000
out=$(hb c submit --train "$T/good.jsonl" --model "$T/bin" --val-fraction 0.2 --seq 16 2>&1) && fail "bin accepted"
[[ $out == *"$T/bin: pytorch_model.bin but no model.safetensors"*"save_pretrained('$T/bin', safe_serialization=True)"* ]] \
  || fail "bin message: $out"
st=$("$CLI" store stats "$T/c-data/store")
grep -qx "entries_docs:0" <<<"$st" && grep -qx "entries_jobs:0" <<<"$st" || fail "the refused submit left data: $st"
ok "pytorch_model.bin only: refused before ingest, nothing stored: $out"

start_worker w1 c --heartbeat-ms 200
wait_for 10 '[[ $(workers_live c) == 1 ]]' "1 worker"
j=$(hb c submit --train "$T/good.jsonl" --model "$T/hub" --val-fraction 0.2 --seq 16 --batch 8 --lr 1e-3 \
    --head-epochs 1 2>"$T/submit.err") || fail "hub submit: $(cat "$T/submit.err")"
grep -q "config.json keys hierbert does not use: an_unknown_key, gradient_checkpointing, pad_token_id, use_cache" "$T/submit.err" \
  || fail "reply: $(cat "$T/submit.err")"
wait_for 60 "[[ \$(job_state c $j) == DONE ]]" "hub job DONE"
[[ $(grep -c "job $j: .*config.json: 4 key(s) hierbert does not use" "$T/c.log") == 1 ]] \
  || fail "the unused keys not logged exactly once: $(grep "does not use" "$T/c.log")"
hb c export "$j" "$T/export" >/dev/null || fail "export"
cmp -s "$T/export/vocab.txt" "$T/vocab150.txt" || fail "exported vocab.txt is not tokenizer.json's vocabulary in id order"
ok "F16 model.safetensors + tokenizer.json (no vocab.txt) + 4 unused config.json keys (the fixture's an_unknown_key and 3 more): named once ($(cat "$T/submit.err" | tail -1)); job $j DONE; the export's vocab.txt is tokenizer.json's 150 tokens in id order"
