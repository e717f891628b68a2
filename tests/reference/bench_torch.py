#!/usr/bin/python3
"""bench_torch.py - PyTorch's figures for the same encoder benchmark as
`hierbert-bench bert` (same flags, same JSON keys), on the same machine.

    /usr/bin/python3 tests/reference/bench_torch.py --preset mini --seq 128 --batch 16 --threads 2 [--iters N]
        [--precision fp32|bf16] [--json]

The model is HF's BertModel written with plain torch modules (transformers is
not installed): embeddings + LayerNorm + dropout, post-LN layers (attention
with additive mask, exact GELU), the classifier on [CLS] with dropout 0.2,
cross-entropy; float32; dropout 0.1 in training as the preset says. Training
step = zero_grad + forward + backward + torch.optim.AdamW (eps 1e-7, weight
decay 0.01, every parameter); forward-only = eval mode under no_grad.
OMP_WAIT_POLICY=PASSIVE and OPENBLAS_NUM_THREADS=T are set before torch loads.

--precision bf16: the forward (and the loss) of both measurements run under
torch.autocast("cpu", torch.bfloat16) - PyTorch's mixed precision, fp32
master weights, the backward of autocast's casts - and the matmul rate is
that of bf16 tensors. Refused (exit 1, one line) on a CPU without native bf16,
as hierbert-bench refuses.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

PRESETS = {"tiny": (2, 128, 2, 512), "mini": (4, 256, 4, 1024), "small": (4, 512, 8, 2048),
           "medium": (8, 512, 8, 2048), "base": (12, 768, 12, 3072)}

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--preset", default="mini", choices=PRESETS)
ap.add_argument("--seq", type=int, default=128)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--iters", type=int, default=5)
ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
ap.add_argument("--json", action="store_true")
args = ap.parse_args()
if args.precision == "bf16":
    flags = open("/proc/cpuinfo").read().split()
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        sys.exit("bench_torch.py: bf16 refused: this CPU has no native bf16 (neither avx512_bf16 nor amx_bf16)")

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
LAYERS, H, NH, I = PRESETS[args.preset]
V, MAXPOS, TYPES, EPS = 30522, 512, 2, 1e-12


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(H, H) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(H, eps=EPS), nn.LayerNorm(H, eps=EPS)
        self.i, self.o2 = nn.Linear(H, I), nn.Linear(I, H)
        self.drop = nn.Dropout(0.1)

    def forward(self, x, ext):
        B, T, _ = x.shape
        hs = H // NH

        def heads(t):
            return t.view(B, T, NH, hs).permute(0, 2, 1, 3)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / (hs ** 0.5) + ext
        p = self.drop(torch.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, T, H)
        x1 = self.ln1(self.drop(self.o(ctx)) + x)
        return self.ln2(self.drop(self.o2(F.gelu(self.i(x1)))) + x1)


class Bert(nn.Module):
    def __init__(self, C=2):
        super().__init__()
        self.word, self.pos, self.tok_type = nn.Embedding(V, H), nn.Embedding(MAXPOS, H), nn.Embedding(TYPES, H)
        self.ln = nn.LayerNorm(H, eps=EPS)
        self.drop = nn.Dropout(0.1)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.cls_drop = nn.Dropout(0.2)
        self.classifier = nn.Linear(H, C)
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.bias)

    def forward(self, ids, mask):
        T = ids.shape[1]
        x = self.word(ids) + self.pos(torch.arange(T))[None] + self.tok_type(torch.zeros_like(ids))
        x = self.drop(self.ln(x))
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, ext)
        return self.classifier(self.cls_drop(x[:, 0]))


def main():
    torch.manual_seed(1234)
    B, L = args.batch, args.seq
    model = Bert()
    ids = torch.randint(1000, V, (B, L))
    ids[:, 0] = 101
    mask = torch.ones(B, L, dtype=torch.long)
    labels = torch.arange(B) % 2
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, eps=1e-7, weight_decay=0.01)

    bf16 = args.precision == "bf16"

    def train_step():
        model.train()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(ids, mask), labels)
        loss.backward()
        opt.step()

    def fwd():
        model.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            model(ids, mask)

    def median_time(fn, n):
        fn()  # warm-up
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times), statistics.median(times)

    # fastest and median per-iteration times, as hierbert-bench
    t_train, t_train_med = median_time(train_step, args.iters)
    t_fwd, t_fwd_med = median_time(fwd, 3 * args.iters)

    N = B * L
    flops = LAYERS * 2 * (4 * N * H * H + 2 * N * H * I + 2 * B * L * L * H) + 2 * B * H * 2
    a, b = torch.randn(N, H), torch.randn(I, H)
    if bf16:
        a, b = a.bfloat16(), b.bfloat16()
    torch.matmul(a, b.t())
    reps, t0 = 0, time.perf_counter()
    while True:
        torch.matmul(a, b.t())
        reps += 1
        t = time.perf_counter() - t0
        if t >= 1.0 and reps >= 3:
            break
    sgemm = 2.0 * N * I * H * reps / t * 1e-9
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out = {"impl": "pytorch " + torch.__version__, "precision": args.precision, "preset": args.preset, "seq": L, "batch": B,
           "threads": args.threads, "train_seq_per_s": round(B / t_train, 3), "fwd_seq_per_s": round(B / t_fwd, 3),
           "train_gflops": round(3 * flops / t_train * 1e-9, 2), "fwd_gflops": round(flops / t_fwd * 1e-9, 2),
           "sgemm_gflops": round(sgemm, 2), "peak_rss_mb": round(rss, 1),
           "train_seq_per_s_median": round(B / t_train_med, 3), "fwd_seq_per_s_median": round(B / t_fwd_med, 3)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"pytorch {torch.__version__} encoder benchmark: preset {args.preset}, seq {L}, batch {B}, "
              f"{args.threads} threads, {args.precision}{' (autocast)' if bf16 else ''}")
        print(f"  training (forward+backward+AdamW): {B / t_train:8.2f} seq/s  {out['train_gflops']:6.1f} GFLOP/s")
        print(f"  forward only (eval, no_grad):      {B / t_fwd:8.2f} seq/s  {out['fwd_gflops']:6.1f} GFLOP/s")
        print(f"  torch.matmul {N}x{I}x{H}: {sgemm:.1f} GFLOP/s;  peak RSS {rss:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
