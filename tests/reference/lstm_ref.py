#!/usr/bin/env python3
"""PyTorch reference for hierbert's LSTM head (model/lstm.c), in float64.

Regenerate the committed fixture (from the repository root):
    flock /tmp/hb-heavy.lock /usr/bin/python3 tests/reference/lstm_ref.py tests/fixtures/lstm/lstm_ref.json

nn.LSTM + Linear(relu) + Linear over a batch of documents with mixed chunk
counts (pack_padded_sequence: the state at each document's last valid step,
which is what Keras' Masking with post-padding yields). Weights are drawn
here and written in hierbert's Keras layout: kernels [in, out], the LSTM's
4U columns in gate order i, f, c, o (= torch's i, f, g, o), so
weight_ih_l0 = lstm.kernel^T, weight_hh_l0 = lstm.recurrent_kernel^T,
bias_ih_l0 = lstm.bias and bias_hh_l0 = 0 (frozen: Keras has one bias).
The fixture holds the inputs, the initial parameters, the softmax
probabilities, the mean cross-entropy, every gradient, and the parameters
after 3 torch.optim.Adam steps (lr 1e-3, eps 1e-7) on the same batch.
"""
import json
import sys

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

D, U, H, C = 16, 8, 6, 4
LENS = [5, 1, 3, 7, 2, 7, 4]
STEPS = 3


def main(out_path):
    torch.manual_seed(1234)
    torch.set_default_dtype(torch.float64)
    n = len(LENS)
    # Inputs and weights are rounded to float32 so the C side (float32) starts
    # from exactly the same values.
    xs = [torch.randn(l, D).float().double() for l in LENS]
    labels = torch.tensor([1, 3, 0, 2, 1, 0, 3])
    params = {
        "lstm.kernel": torch.rand(D, 4 * U) - 0.5,
        "lstm.recurrent_kernel": torch.rand(U, 4 * U) - 0.5,
        "lstm.bias": torch.rand(4 * U) - 0.5,
        "dense.kernel": torch.rand(U, H) - 0.5,
        "dense.bias": torch.rand(H) * 0.2,
        "out.kernel": torch.rand(H, C) - 0.5,
        "out.bias": torch.rand(C) - 0.5,
    }
    params = {k: v.float().double() for k, v in params.items()}
    lstm = nn.LSTM(D, U, batch_first=True)
    dense = nn.Linear(U, H)
    out = nn.Linear(H, C)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(params["lstm.kernel"].T)
        lstm.weight_hh_l0.copy_(params["lstm.recurrent_kernel"].T)
        lstm.bias_ih_l0.copy_(params["lstm.bias"])
        lstm.bias_hh_l0.zero_()
        dense.weight.copy_(params["dense.kernel"].T)
        dense.bias.copy_(params["dense.bias"])
        out.weight.copy_(params["out.kernel"].T)
        out.bias.copy_(params["out.bias"])
    lstm.bias_hh_l0.requires_grad_(False)

    def forward():
        padded = pad_sequence(xs, batch_first=True)
        packed = pack_padded_sequence(padded, torch.tensor(LENS), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = lstm(packed)
        logits = out(torch.relu(dense(h_n[0])))
        return logits

    def keras_view():
        return {
            "lstm.kernel": lstm.weight_ih_l0.T,
            "lstm.recurrent_kernel": lstm.weight_hh_l0.T,
            "lstm.bias": lstm.bias_ih_l0,
            "dense.kernel": dense.weight.T,
            "dense.bias": dense.bias,
            "out.kernel": out.weight.T,
            "out.bias": out.bias,
        }

    trainable = [p for p in list(lstm.parameters()) + list(dense.parameters()) + list(out.parameters()) if p.requires_grad]
    logits = forward()
    loss = nn.functional.cross_entropy(logits, labels)
    loss.backward()
    grads = {
        "lstm.kernel": lstm.weight_ih_l0.grad.T,
        "lstm.recurrent_kernel": lstm.weight_hh_l0.grad.T,
        "lstm.bias": lstm.bias_ih_l0.grad,
        "dense.kernel": dense.weight.grad.T,
        "dense.bias": dense.bias.grad,
        "out.kernel": out.weight.grad.T,
        "out.bias": out.bias.grad,
    }
    fix = {
        "config": {"input_dim": D, "units": U, "dense_units": H, "n_classes": C},
        "lens": LENS,
        "labels": labels.tolist(),
        "x": [v for x in xs for v in x.flatten().tolist()],
        "params": {k: v.flatten().tolist() for k, v in params.items()},
        "probs": torch.softmax(logits, dim=1).flatten().tolist(),
        "loss": loss.item(),
        "grads": {k: v.flatten().tolist() for k, v in grads.items()},
        "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "steps": STEPS},
    }
    opt = torch.optim.Adam(trainable, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    for _ in range(STEPS):
        opt.zero_grad()
        nn.functional.cross_entropy(forward(), labels).backward()
        opt.step()
    fix["params_after"] = {k: v.detach().flatten().tolist() for k, v in keras_view().items()}
    with open(out_path, "w") as f:
        json.dump(fix, f)
    print(f"wrote {out_path}: loss {loss.item():.10f}, {n} documents of lengths {LENS}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/lstm/lstm_ref.json")
