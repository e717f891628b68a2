#!/usr/bin/env python3
"""PyTorch's training throughput for the LSTM head, on the shape head-bench uses.

    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tests/reference/bench_head_torch.py \
        --docs 2048 --dim 768 --units 100 --dense 30 --classes 10 --batch 32 --maxlen 16 --epochs 3 --threads 2

(head-bench --torch tests/reference/bench_head_torch.py runs it with its own
shape and threads.) Document i has 1 + (i * 7919) % maxlen chunks, as in
head-bench; chunk vectors are random. Per batch: pack_padded_sequence ->
nn.LSTM -> Linear -> relu -> Linear -> cross_entropy -> backward -> Adam
(lr 1e-3, eps 1e-7), float32. Padding the batches is done before timing;
packing is timed. Prints one line: "torch_docs_per_s: X".
"""
import argparse
import os
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence


def main():
    ap = argparse.ArgumentParser()
    for name, default in [("docs", 2048), ("dim", 768), ("units", 100), ("dense", 30), ("classes", 10),
                          ("batch", 32), ("maxlen", 16), ("epochs", 3), ("threads", 2)]:
        ap.add_argument("--" + name, type=int, default=default)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    lens = [1 + (i * 7919) % a.maxlen for i in range(a.docs)]
    labels = torch.tensor([i % a.classes for i in range(a.docs)])
    xs = [torch.randn(l, a.dim) for l in lens]
    batches = []
    for b0 in range(0, a.docs - a.batch + 1, a.batch):
        sl = slice(b0, b0 + a.batch)
        batches.append((pad_sequence(xs[sl], batch_first=True), torch.tensor(lens[sl]), labels[sl]))
    lstm = nn.LSTM(a.dim, a.units, batch_first=True)
    dense = nn.Linear(a.units, a.dense)
    out = nn.Linear(a.dense, a.classes)
    params = list(lstm.parameters()) + list(dense.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)

    def epoch():
        for x, l, y in batches:
            packed = pack_padded_sequence(x, l, batch_first=True, enforce_sorted=False)
            _, (h, _) = lstm(packed)
            loss = nn.functional.cross_entropy(out(torch.relu(dense(h[0]))), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

    epoch()  # warm-up
    t0 = time.perf_counter()
    for _ in range(a.epochs):
        epoch()
    dt = time.perf_counter() - t0
    docs = a.epochs * len(batches) * a.batch
    print(f"torch_docs_per_s: {docs / dt:.1f}  (torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}, {dt:.2f} s)")


if __name__ == "__main__":
    main()
