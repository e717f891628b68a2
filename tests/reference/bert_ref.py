#!/usr/bin/python3
"""bert_ref.py - the PyTorch (float64) reference for hierbert's C encoder.

Regenerate the committed fixtures (needs Debian's python3-torch, installed by
`ops/install-deps.sh --reference`; never needed to build or test):

    /usr/bin/python3 tests/reference/bert_ref.py tests/fixtures
    /usr/bin/python3 tests/reference/bert_ref.py --autocast-bf16 tests/fixtures

For each small config below it writes tests/fixtures/bert_<name>/:
  config.json, model.safetensors  the model (F32, HF BertModel names + classifier.*),
                                  read back here and computed in float64;
  expected.safetensors            inputs (ids, token_type, mask, labels: I32),
                                  logits, loss, cls (final [CLS] vectors), grad.<name>
                                  (every gradient after one forward/backward) and
                                  step3.<name> (every parameter after three AdamW steps
                                  on the same batch), F32; optimizer settings under optim.*.
  autocast_bf16.safetensors       (--autocast-bf16, from the model and inputs already
                                  there) logits, loss, cls and grad.<name> of the same
                                  forward/backward in float32 under
                                  torch.autocast("cpu", torch.bfloat16): PyTorch's
                                  mixed precision, what test_bert_bf16 compares with.

The model is written with plain torch ops (transformers is not installed):
BertModel's embeddings, post-LN layers with HF's additive finfo.min mask and
exact erf GELU, then the classifier on the final hidden state of position 0
(no pooler) and mean softmax cross-entropy. Dropout is 0 for parity.
AdamW is torch.optim.AdamW (eps 1e-7, decay on 2-D weights only) under the
linear warm-up/decay schedule of model/optim.c.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

CONFIGS = [
    # padding in the batch (rows of length 7, 5, 3), 4 heads of 8
    dict(name="pad", vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
         intermediate_size=64, max_position_embeddings=16, type_vocab_size=2, num_classes=3,
         B=3, T=7, lengths=[7, 5, 3], seed=1),
    # hidden size 40 (not a multiple of 16), 2 heads of 20, no padding, odd T
    dict(name="h40", vocab_size=150, hidden_size=40, num_hidden_layers=2, num_attention_heads=2,
         intermediate_size=72, max_position_embeddings=20, type_vocab_size=2, num_classes=5,
         B=2, T=9, lengths=[9, 9], seed=2),
]
OPTIM = dict(lr=1e-2, weight_decay=0.01, warmup_steps=2, total_steps=10, beta1=0.9, beta2=0.999, eps=1e-7)
EPS = 1e-12

# ---- safetensors (the subset hierbert writes and reads) -------------------
DT = {"F32": (torch.float32, 4), "I32": (torch.int32, 4), "F64": (torch.float64, 8)}


def st_save(path, tensors):
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, (dtype, t) in tensors.items():
        t = t.detach().to(DT[dtype][0]).contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def st_load(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        dt, _ = DT[e["dtype"]]
        buf = bytearray(data[8 + n + b:8 + n + en])
        out[name] = torch.frombuffer(buf, dtype=dt).reshape(e["shape"]).clone() if en > b else torch.zeros(e["shape"], dtype=dt)
    return out


# ---- the model ----------------------------------------------------------
def param_shapes(c):
    H, I = c["hidden_size"], c["intermediate_size"]
    s = [("embeddings.word_embeddings.weight", (c["vocab_size"], H)),
         ("embeddings.position_embeddings.weight", (c["max_position_embeddings"], H)),
         ("embeddings.token_type_embeddings.weight", (c["type_vocab_size"], H)),
         ("embeddings.LayerNorm.weight", (H,)), ("embeddings.LayerNorm.bias", (H,))]
    for l in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        for n in ("query", "key", "value"):
            s += [(p + f"attention.self.{n}.weight", (H, H)), (p + f"attention.self.{n}.bias", (H,))]
        s += [(p + "attention.output.dense.weight", (H, H)), (p + "attention.output.dense.bias", (H,)),
              (p + "attention.output.LayerNorm.weight", (H,)), (p + "attention.output.LayerNorm.bias", (H,)),
              (p + "intermediate.dense.weight", (I, H)), (p + "intermediate.dense.bias", (I,)),
              (p + "output.dense.weight", (H, I)), (p + "output.dense.bias", (H,)),
              (p + "output.LayerNorm.weight", (H,)), (p + "output.LayerNorm.bias", (H,))]
    s += [("classifier.weight", (c["num_classes"], H)), ("classifier.bias", (c["num_classes"],))]
    return s


def random_params(c, g):
    """Larger than HF's 0.02 so attention is far from uniform and every path carries signal."""
    out = {}
    for name, shape in param_shapes(c):
        if name.endswith("LayerNorm.weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif "embeddings" in name:
            t = 0.5 * torch.randn(shape, generator=g)
        elif len(shape) == 2:
            t = 0.15 * torch.randn(shape, generator=g)
        else:
            t = 0.05 * torch.randn(shape, generator=g)
        out[name] = t.to(torch.float32)
    return out


def forward(c, P, ids, tt, mask, labels):
    B, T = ids.shape
    H, NH = c["hidden_size"], c["num_attention_heads"]
    hs = H // NH
    x = P["embeddings.word_embeddings.weight"][ids] + P["embeddings.position_embeddings.weight"][:T][None] \
        + P["embeddings.token_type_embeddings.weight"][tt]
    x = F.layer_norm(x, (H,), P["embeddings.LayerNorm.weight"], P["embeddings.LayerNorm.bias"], EPS)
    dt = P["embeddings.LayerNorm.weight"].dtype
    ext = (1.0 - mask[:, None, None, :].to(dt)) * torch.finfo(dt).min
    for l in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{l}."

        def lin(n, v):
            return v @ P[p + n + ".weight"].T + P[p + n + ".bias"]

        def heads(v):
            return v.view(B, T, NH, hs).permute(0, 2, 1, 3)

        q, k, v = heads(lin("attention.self.query", x)), heads(lin("attention.self.key", x)), heads(lin("attention.self.value", x))
        s = q @ k.transpose(-1, -2) / math.sqrt(hs) + ext
        pr = torch.softmax(s, dim=-1)
        ctx = (pr @ v).permute(0, 2, 1, 3).reshape(B, T, H)
        x1 = F.layer_norm(lin("attention.output.dense", ctx) + x, (H,), P[p + "attention.output.LayerNorm.weight"],
                          P[p + "attention.output.LayerNorm.bias"], EPS)
        inter = F.gelu(lin("intermediate.dense", x1))
        x = F.layer_norm(lin("output.dense", inter) + x1, (H,), P[p + "output.LayerNorm.weight"],
                         P[p + "output.LayerNorm.bias"], EPS)
    cls = x[:, 0]
    logits = cls @ P["classifier.weight"].T + P["classifier.bias"]
    loss = F.cross_entropy(logits, labels)
    return logits, loss, cls


def lr_at(step):
    o = OPTIM
    if o["warmup_steps"] > 0 and step <= o["warmup_steps"]:
        return o["lr"] * step / o["warmup_steps"]
    if step >= o["total_steps"]:
        return 0.0
    return o["lr"] * (o["total_steps"] - step) / (o["total_steps"] - o["warmup_steps"])


def make(c, outdir):
    g = torch.Generator().manual_seed(c["seed"])
    d = os.path.join(outdir, "bert_" + c["name"])
    os.makedirs(d, exist_ok=True)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
           "layer_norm_eps": EPS, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
           "classifier_dropout": 0.0, "an_unknown_key": [1, 2, 3]}
    for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
              "max_position_embeddings", "type_vocab_size"):
        cfg[k] = c[k]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    st_save(os.path.join(d, "model.safetensors"), {n: ("F32", t) for n, t in random_params(c, g).items()})

    # the same file, read back, in float64
    P = {n: t.to(torch.float64).requires_grad_(True) for n, t in st_load(os.path.join(d, "model.safetensors")).items()}
    B, T = c["B"], c["T"]
    ids = torch.randint(1, c["vocab_size"], (B, T), generator=g)
    ids[:, 0] = 2  # a [CLS]-like id shared by all rows
    mask = torch.zeros(B, T, dtype=torch.int32)
    for b, n in enumerate(c["lengths"]):
        mask[b, :n] = 1
    ids[mask == 0] = 0
    tt = torch.zeros(B, T, dtype=torch.long)
    tt[0, T // 2:] = 1
    tt[mask == 0] = 0
    labels = torch.randint(0, c["num_classes"], (B,), generator=g)

    logits, loss, cls = forward(c, P, ids, tt, mask, labels)
    loss.backward()
    exp = {"input.ids": ("I32", ids), "input.token_type": ("I32", tt), "input.mask": ("I32", mask),
           "input.labels": ("I32", labels), "logits": ("F32", logits), "loss": ("F32", loss.reshape(1)),
           "cls": ("F32", cls)}
    for n, t in P.items():
        exp["grad." + n] = ("F32", t.grad)

    decay = [t for n, t in P.items() if t.dim() == 2]
    nodecay = [t for n, t in P.items() if t.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPTIM["weight_decay"]},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=OPTIM["lr"], betas=(OPTIM["beta1"], OPTIM["beta2"]), eps=OPTIM["eps"])
    for step in range(1, 4):
        if step > 1:
            for t in P.values():
                t.grad = None
            _, l2, _ = forward(c, P, ids, tt, mask, labels)
            l2.backward()
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step)
        opt.step()
    for n, t in P.items():
        exp["step3." + n] = ("F32", t)
    for k, v in OPTIM.items():
        exp["optim." + k] = ("F32", torch.tensor([float(v)]))
    exp["num_classes"] = ("I32", torch.tensor([c["num_classes"]]))
    st_save(os.path.join(d, "expected.safetensors"), exp)
    print(f"{d}: loss {loss.item():.10f}, {len(P)} tensors")


def make_autocast(c, outdir):
    """The fixture's own model and batch, float32 under autocast(bf16): matmul and
    linear inputs rounded to bf16 (outputs bf16), the rest float32."""
    d = os.path.join(outdir, "bert_" + c["name"])
    P = {n: t.to(torch.float32).requires_grad_(True) for n, t in st_load(os.path.join(d, "model.safetensors")).items()}
    e = st_load(os.path.join(d, "expected.safetensors"))
    ids, tt, mask, labels = (e["input." + k].long() for k in ("ids", "token_type", "mask", "labels"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, loss, cls = forward(c, P, ids, tt, mask, labels)
    loss.float().backward()
    out = {"logits": ("F32", logits.float()), "loss": ("F32", loss.float().reshape(1)), "cls": ("F32", cls.float())}
    for n, t in P.items():
        out["grad." + n] = ("F32", t.grad)
    st_save(os.path.join(d, "autocast_bf16.safetensors"), out)
    print(f"{d}: autocast bf16 loss {loss.item():.8f} (float64: {e['loss'].item():.8f})")


def main():
    torch.set_default_dtype(torch.float64)
    args = sys.argv[1:]
    autocast = "--autocast-bf16" in args
    args = [a for a in args if a != "--autocast-bf16"]
    outdir = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "fixtures")
    for c in CONFIGS:
        if autocast:
            make_autocast(c, outdir)
        else:
            make(c, outdir)


if __name__ == "__main__":
    main()
