#!/usr/bin/python3
"""pipeline_ref.py - the PyTorch reference of hierbert's WHOLE recipe, for the
demo's result tables (issue 6): the figures hierbert's job is compared with,
for the same corpus, split, recipe and threads.

    flock /tmp/hb-heavy.lock /usr/bin/python3 tests/reference/pipeline_ref.py \\
        --train data/corpora/spam/train.jsonl --val data/corpora/spam/val.jsonl \\
        --vocab data/corpora/vocab/vocab.txt [--limit 200] [--json]

(ops/fetch-corpus.sh spam|brown|vocab DIR writes those files.) Steps, each
as hierbert does it:
  1. read train/val JSONL ({"id", "text" | "chunks", "label", "split"?});
     label map from the training labels in labels.h's order (all canonical
     integers: numerically, else by UTF-8 bytes);
  2. tokenize with tokenizer_ref.py (the committed pure-Python BERT
     tokenizer) and the same vocab.txt; chunk as model/chunker.h: chunks of
     L ids [CLS] t.. [SEP] [PAD].., C = L-2 content tokens, windows every
     stride S tokens (K = 1 if n <= C else 1 + ceil((n-C)/S)); more than M
     windows: policy first keeps 0..M-1, spread keeps floor(i(K-1)/(M-1)),
     head-tail the first ceil(M/2) and the last floor(M/2);
     a pre-split "chunks" list: item k -> chunk k, cut to C tokens;
  3. fine-tune a BERT of the preset from random init (HF init: normal 0.02,
     zero biases, LayerNorm 1/0, classifier truncated normal 0.02) on the
     training chunks, each with its document's label: [CLS] final hidden
     state -> dropout 0.2 -> Dense(C), cross-entropy; hidden/attention
     dropout 0.1 (the preset's); AdamW (betas 0.9/0.999, eps 1e-7, weight
     decay 0 by default) with linear warm-up over floor(warmup * steps) steps
     then --schedule constant | linear (to 0) | cosine (to 0) (model/optim.c's
     optim_lr_at; step t uses lr(t), t from 1), global gradient-norm
     clipping at --clip-norm (0: off); RECIPE's schedule and clip (constant,
     0) are the coordinator's defaults for AdamW (before issue 13: linear, 1.0); steps per epoch ceil(chunks / batch),
     chunks shuffled every epoch (seeded);
  4. every chunk's [CLS] vector in eval mode (no dropout), train and val;
  5. the head: LSTM(100) -> Dense(30, relu) -> Dense(C) over each document's
     chunk-vector sequence (packed: the state after the document's last
     chunk, i.e. Keras' Masking), Keras init (glorot-uniform kernels,
     orthogonal recurrent kernel, forget-gate bias 1, one bias), Adam lr 1e-3
     eps 1e-7, documents shuffled every epoch; after every epoch the
     validation document accuracy, and the best epoch's head is kept (the
     earliest on ties);
  6. prints, on the validation documents: chunk accuracy (argmax of the chunk
     classifier per chunk), document accuracy (the head), the
     mean-chunk-probability vote accuracy, the head's confusion matrix and
     per-class precision / recall / F1 (scikit-learn's zero_division=0), and
     the timings. --json: one object with chunk_accuracy, doc_accuracy,
     vote_accuracy, vote_f1..., the timings and the settings.

Measured here (2 threads, torch 1.13, mini, L 128, the defaults): spam --limit
200 (2216 + 562 chunks) 167 s; the whole Brown corpus (6400 + 1600 chunks)
639 s, its --json in tests/reference/results/pipeline_ref_brown.json. The
demo's spam recipe (--max-chunks 4: 19276 + 4824 chunks) 1733 s, its --json
in tests/reference/results/pipeline_ref_spam.json. The whole spam corpus
without a chunk cap (about 54k + 13.5k chunks) needs about 70-80 minutes.
The chunks are those of hierbert's ingest, id for id (checked on Brown val
and spam val at several L / stride / max-chunks / policy settings).

--limit N keeps N training documents and ceil(N/4) validation documents,
evenly spaced through each file (every class stays represented), for a
quick end-to-end check. Float32 throughout (a training reference, not a
parity fixture). Progress goes to stderr.
"""
import argparse
import json
import math
import os
import re
import sys
import time

# ---- the demo recipe: defaults in one place (the lead may change them) ----
RECIPE = dict(preset="mini", seq=128, stride=0, max_chunks=16, policy="first", epochs=2, batch=16, lr=1e-4,
              warmup=0.1, schedule="constant", weight_decay=0.0, clip=0.0, head_epochs=20, head_batch=32, head_units=100,
              head_dense=30, head_lr=1e-3, seed=1, threads=2)
PRESETS = {"tiny": (2, 128, 2, 512), "mini": (4, 256, 4, 1024), "small": (4, 512, 8, 2048),
           "medium": (8, 512, 8, 2048), "base": (12, 768, 12, 3072)}

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--train", required=True, help="training JSONL")
ap.add_argument("--val", required=True, help="validation JSONL")
ap.add_argument("--vocab", required=True, help="vocab.txt")
ap.add_argument("--cased", action="store_true", help="cased vocabulary (no lowercasing / accent stripping)")
ap.add_argument("--preset", default=RECIPE["preset"], choices=PRESETS)
ap.add_argument("--seq", type=int, default=RECIPE["seq"], help="L, incl. [CLS] and [SEP]")
ap.add_argument("--stride", type=int, default=RECIPE["stride"], help="window shift S (0: L-2, no overlap)")
ap.add_argument("--max-chunks", type=int, default=RECIPE["max_chunks"], help="M (0: all)")
ap.add_argument("--policy", "--chunk-policy", dest="policy", default=RECIPE["policy"],
                choices=("first", "head-tail", "spread"))
ap.add_argument("--epochs", type=int, default=RECIPE["epochs"])
ap.add_argument("--batch", type=int, default=RECIPE["batch"])
ap.add_argument("--lr", type=float, default=RECIPE["lr"])
ap.add_argument("--warmup", type=float, default=RECIPE["warmup"], help="fraction of the steps")
ap.add_argument("--weight-decay", type=float, default=RECIPE["weight_decay"])
ap.add_argument("--schedule", default=RECIPE["schedule"], choices=("constant", "linear", "cosine"),
                help="the rate after the warm-up (hierbert submit --schedule)")
ap.add_argument("--clip-norm", "--clip", dest="clip", type=float, default=RECIPE["clip"],
                help="global gradient-norm cap (0: off)")
ap.add_argument("--head-epochs", type=int, default=RECIPE["head_epochs"])
ap.add_argument("--head-batch", type=int, default=RECIPE["head_batch"])
ap.add_argument("--head-units", type=int, default=RECIPE["head_units"])
ap.add_argument("--head-dense", type=int, default=RECIPE["head_dense"])
ap.add_argument("--head-lr", type=float, default=RECIPE["head_lr"])
ap.add_argument("--seed", type=int, default=RECIPE["seed"])
ap.add_argument("--threads", type=int, default=RECIPE["threads"])
ap.add_argument("--limit", type=int, default=0, help="N training and ceil(N/4) validation documents (0: all)")
ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
args = ap.parse_args()

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["OMP_NUM_THREADS"] = str(args.threads)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_ref  # noqa: E402

torch.set_num_threads(args.threads)
T0 = time.perf_counter()


def log(msg):
    sys.stderr.write(f"[{time.perf_counter() - T0:8.1f}s] {msg}\n")
    sys.stderr.flush()


# ---- 1. documents and the label map (labels.h) -------------------------------
INT_RE = re.compile(r"^-?(0|[1-9][0-9]*)$")


def label_text(v):
    if isinstance(v, bool) or v is None:
        raise ValueError(f"label {v!r}: expected a string or an integer")
    return str(v) if isinstance(v, int) else v


def read_jsonl(path):
    docs = []
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                continue
            o = json.loads(line)
            if "label" not in o:
                raise SystemExit(f"{path}:{ln}: document has no label")
            docs.append({"id": str(o["id"]), "label": label_text(o["label"]), "text": o.get("text"),
                         "chunks": o.get("chunks"), "where": f"{path}:{ln}"})
    return docs


def evenly(docs, n):
    if n <= 0 or n >= len(docs):
        return docs
    return [docs[(i * len(docs)) // n] for i in range(n)]


def label_map(labels):
    labels = sorted(set(labels))
    if all(INT_RE.match(x) and -2**63 <= int(x) < 2**63 for x in labels):
        return sorted(labels, key=int)
    return sorted(labels, key=lambda x: x.encode("utf-8"))


# ---- 2. tokens and chunks (chunker.h) ----------------------------------------
class Chunker:
    def __init__(self, vocab, L, stride, M, policy):
        self.L, self.C = L, L - 2
        self.S = stride if stride else L - 2
        if not 1 <= self.S <= self.C:
            raise SystemExit(f"--stride {stride}: must be 1..L-2")
        self.M, self.policy = M, policy
        self.cls, self.sep, self.pad = vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]

    def _keep(self, K):
        M = K if self.M <= 0 or K <= self.M else self.M
        if self.policy == "first" or M <= 1:
            return list(range(M)), K - M
        if self.policy == "head-tail":
            head = (M + 1) // 2
            return list(range(head)) + list(range(K - (M - head), K)), K - M
        return [(i * (K - 1)) // (M - 1) for i in range(M)], K - M

    def _chunk(self, toks):
        toks = toks[:self.C]
        ids = [self.cls] + toks + [self.sep]
        return ids + [self.pad] * (self.L - len(ids)), len(ids)

    def text(self, toks):
        n = len(toks)
        K = 1 if n <= self.C else 1 + -(-(n - self.C) // self.S)
        keep, dropped = self._keep(K)
        return [self._chunk(toks[w * self.S:w * self.S + self.C]) for w in keep], dropped

    def presplit(self, items):
        keep, dropped = self._keep(len(items))
        return [self._chunk(items[w]) for w in keep], dropped


def prepare(docs, vocab, lower, chunker, labels):
    """-> list of (ids [K, L] LongTensor, mask [K, L], label) and a count of skipped empty documents"""
    out, empty, dropped = [], 0, 0
    lid = {x: i for i, x in enumerate(labels)}
    for d in docs:
        if d["label"] not in lid:
            raise SystemExit(f"{d['where']}: label '{d['label']}' is not among the {len(labels)} training labels")
        if d["chunks"] is not None:
            items = [tokenizer_ref.tokenize_ids(t, vocab, lower) for t in d["chunks"]]
            if not items or any(not it for it in items):
                empty += 1
                continue
            ch, dr = chunker.presplit(items)
        else:
            toks = tokenizer_ref.tokenize_ids(d["text"] or "", vocab, lower)
            if not toks:
                empty += 1
                continue
            ch, dr = chunker.text(toks)
        dropped += dr
        ids = torch.tensor([c[0] for c in ch], dtype=torch.long)
        mask = torch.zeros(ids.shape, dtype=torch.long)
        for k, (_, n) in enumerate(ch):
            mask[k, :n] = 1
        out.append((ids, mask, lid[d["label"]]))
    return out, empty, dropped


# ---- 3. the encoder ------------------------------------------------------------
class Layer(nn.Module):
    def __init__(self, H, NH, I, p_hidden, p_attn, eps):
        super().__init__()
        self.NH = NH
        self.q, self.k, self.v, self.o = (nn.Linear(H, H) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(H, eps=eps), nn.LayerNorm(H, eps=eps)
        self.i, self.o2 = nn.Linear(H, I), nn.Linear(I, H)
        self.drop_h, self.drop_a = nn.Dropout(p_hidden), nn.Dropout(p_attn)

    def forward(self, x, ext):
        B, T, H = x.shape
        hs = H // self.NH

        def heads(t):
            return t.view(B, T, self.NH, hs).permute(0, 2, 1, 3)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hs) + ext
        p = self.drop_a(torch.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, T, H)
        x1 = self.ln1(self.drop_h(self.o(ctx)) + x)
        return self.ln2(self.drop_h(self.o2(F.gelu(self.i(x1)))) + x1)


class Bert(nn.Module):
    """HF BertModel (post-LN, absolute positions, erf GELU) + the chunk classifier on [CLS] (no pooler)."""

    def __init__(self, V, preset, C, max_pos=512, p_hidden=0.1, p_attn=0.1, p_cls=0.2, eps=1e-12):
        super().__init__()
        layers, H, NH, I = PRESETS[preset]
        self.word, self.pos, self.tok_type = nn.Embedding(V, H), nn.Embedding(max_pos, H), nn.Embedding(2, H)
        self.ln = nn.LayerNorm(H, eps=eps)
        self.drop = nn.Dropout(p_hidden)
        self.layers = nn.ModuleList(Layer(H, NH, I, p_hidden, p_attn, eps) for _ in range(layers))
        self.cls_drop = nn.Dropout(p_cls)
        self.classifier = nn.Linear(H, C)
        for mod in self.modules():
            if isinstance(mod, (nn.Linear, nn.Embedding)):
                nn.init.normal_(mod.weight, std=0.02)
            if isinstance(mod, nn.Linear):
                nn.init.zeros_(mod.bias)
        nn.init.trunc_normal_(self.classifier.weight, std=0.02, a=-0.04, b=0.04)

    def forward(self, ids, mask):
        T = ids.shape[1]
        x = self.word(ids) + self.pos(torch.arange(T))[None] + self.tok_type(torch.zeros_like(ids))
        x = self.drop(self.ln(x))
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, ext)
        cls = x[:, 0]
        return self.classifier(self.cls_drop(cls)), cls


def lr_at(step, lr, warmup, total, schedule):
    """model/optim.c's optim_lr_at"""
    if warmup > 0 and step <= warmup:
        return lr * step / warmup
    if schedule == "constant" or total <= 0:
        return lr
    if step >= total or total - warmup <= 0:
        return 0.0
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / (total - warmup)))
    return lr * (total - step) / (total - warmup)


# ---- 5. the head -----------------------------------------------------------------
class Head(nn.Module):
    def __init__(self, D, U, Hd, C):
        super().__init__()
        self.lstm = nn.LSTM(D, U, batch_first=True)
        self.dense, self.out = nn.Linear(U, Hd), nn.Linear(Hd, C)
        with torch.no_grad():  # Keras' defaults (lstm.h)
            nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
            nn.init.orthogonal_(self.lstm.weight_hh_l0)
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_ih_l0[U:2 * U] = 1.0
            self.lstm.bias_hh_l0.zero_()
            nn.init.xavier_uniform_(self.dense.weight)
            nn.init.zeros_(self.dense.bias)
            nn.init.xavier_uniform_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        self.lstm.bias_hh_l0.requires_grad_(False)  # Keras has one bias

    def forward(self, xs):
        lens = torch.tensor([x.shape[0] for x in xs])
        packed = pack_padded_sequence(pad_sequence(xs, batch_first=True), lens, batch_first=True,
                                      enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.out(torch.relu(self.dense(h[0])))


# ---- 6. metrics (metrics.h) --------------------------------------------------------
def report(truth, pred, C):
    conf = [[0] * C for _ in range(C)]
    for t, p in zip(truth, pred):
        conf[t][p] += 1
    prec, rec, f1, sup = [], [], [], []
    for c in range(C):
        tp = conf[c][c]
        npred = sum(conf[r][c] for r in range(C))
        ntrue = sum(conf[c])
        p = tp / npred if npred else 0.0
        r = tp / ntrue if ntrue else 0.0
        prec.append(p)
        rec.append(r)
        f1.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
        sup.append(ntrue)
    acc = sum(conf[c][c] for c in range(C)) / max(1, len(truth))
    return dict(accuracy=acc, confusion=conf, precision=prec, recall=rec, f1=f1, support=sup,
                macro_f1=sum(f1) / C)


def main():
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    vocab = tokenizer_ref.load_vocab(args.vocab)
    lower = not args.cased
    t = time.perf_counter()
    train_docs, val_docs = read_jsonl(args.train), read_jsonl(args.val)
    if args.limit:
        train_docs = evenly(train_docs, args.limit)
        val_docs = evenly(val_docs, -(-args.limit // 4))
    labels = label_map(d["label"] for d in train_docs)
    C = len(labels)
    chunker = Chunker(vocab, args.seq, args.stride, args.max_chunks, args.policy)
    train, e1, d1 = prepare(train_docs, vocab, lower, chunker, labels)
    val, e2, d2 = prepare(val_docs, vocab, lower, chunker, labels)
    t_tok = time.perf_counter() - t
    n_tr_chunks, n_va_chunks = sum(d[0].shape[0] for d in train), sum(d[0].shape[0] for d in val)
    log(f"{len(train)} train documents ({n_tr_chunks} chunks), {len(val)} val ({n_va_chunks} chunks), "
        f"{C} classes {labels}; {e1 + e2} empty documents skipped, {d1 + d2} chunks dropped by max-chunks; "
        f"tokenize+chunk {t_tok:.1f} s")

    # ---- 3. fine-tune on chunks ----
    V = max(vocab.values()) + 1
    model = Bert(V, args.preset, C)
    ids = torch.cat([d[0] for d in train])
    mask = torch.cat([d[1] for d in train])
    y = torch.cat([torch.full((d[0].shape[0],), d[2], dtype=torch.long) for d in train])
    N = ids.shape[0]
    steps_per_epoch = -(-N // args.batch)
    total = steps_per_epoch * args.epochs
    warmup = int(args.warmup * total)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": nodecay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    t = time.perf_counter()
    step = 0
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(N, generator=g)
        tot, correct = 0.0, 0
        for b0 in range(0, N, args.batch):
            sel = perm[b0:b0 + args.batch]
            step += 1
            for grp in opt.param_groups:
                grp["lr"] = lr_at(step, args.lr, warmup, total, args.schedule)
            logits, _ = model(ids[sel], mask[sel])
            loss = F.cross_entropy(logits, y[sel])
            opt.zero_grad()
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            tot += loss.item() * len(sel)
            correct += (logits.argmax(1) == y[sel]).sum().item()
            if step % 50 == 0:
                log(f"  step {step}/{total}: loss {loss.item():.4f}, "
                    f"{step * args.batch / (time.perf_counter() - t):.1f} seq/s")
        log(f"epoch {ep + 1}/{args.epochs}: mean loss {tot / N:.4f}, train chunk accuracy {correct / N:.4f}")
    t_train = time.perf_counter() - t

    # ---- 4. [CLS] vectors and chunk logits, eval mode ----
    model.eval()
    t = time.perf_counter()

    def embed(docs):
        out = []
        with torch.no_grad():
            allids = torch.cat([d[0] for d in docs])
            allmask = torch.cat([d[1] for d in docs])
            cls, lg = [], []
            for b0 in range(0, allids.shape[0], 64):
                a, c = model(allids[b0:b0 + 64], allmask[b0:b0 + 64])
                lg.append(a)
                cls.append(c)
            cls, lg = torch.cat(cls), torch.cat(lg)
        off = 0
        for d in docs:
            k = d[0].shape[0]
            out.append((cls[off:off + k].clone(), lg[off:off + k].clone(), d[2]))
            off += k
        return out

    emb_train, emb_val = embed(train), embed(val)
    t_embed = time.perf_counter() - t
    log(f"embedded {n_tr_chunks + n_va_chunks} chunks in {t_embed:.1f} s")

    truth = [d[2] for d in emb_val]
    chunk_truth = [d[2] for d in emb_val for _ in range(d[0].shape[0])]
    chunk_pred = [int(p) for d in emb_val for p in d[1].argmax(1)]
    chunk_acc = sum(a == b for a, b in zip(chunk_truth, chunk_pred)) / max(1, len(chunk_truth))
    vote_pred = [int(torch.softmax(d[1], 1).mean(0).argmax()) for d in emb_val]
    vote = report(truth, vote_pred, C)

    # ---- 5. the head, best validation epoch kept ----
    H = PRESETS[args.preset][1]
    head = Head(H, args.head_units, args.head_dense, C)
    hopt = torch.optim.Adam([p for p in head.parameters() if p.requires_grad], lr=args.head_lr, betas=(0.9, 0.999),
                            eps=1e-7)
    t = time.perf_counter()

    def predict(docs):
        head.eval()
        with torch.no_grad():
            out = []
            for b0 in range(0, len(docs), 256):
                out += head([d[0] for d in docs[b0:b0 + 256]]).argmax(1).tolist()
        return out

    best, best_acc, best_ep, history = None, -1.0, 0, []
    ytr = torch.tensor([d[2] for d in emb_train])
    for ep in range(args.head_epochs):
        head.train()
        perm = torch.randperm(len(emb_train), generator=g).tolist()
        tot = 0.0
        for b0 in range(0, len(perm), args.head_batch):
            sel = perm[b0:b0 + args.head_batch]
            loss = F.cross_entropy(head([emb_train[i][0] for i in sel]), ytr[sel])
            hopt.zero_grad()
            loss.backward()
            hopt.step()
            tot += loss.item() * len(sel)
        pred = predict(emb_val)
        acc = sum(a == b for a, b in zip(pred, truth)) / max(1, len(truth))
        history.append(dict(epoch=ep + 1, loss=tot / len(perm), val_doc_accuracy=acc))
        log(f"head epoch {ep + 1}/{args.head_epochs}: loss {tot / len(perm):.4f}, val document accuracy {acc:.4f}")
        if acc > best_acc:
            best_acc, best_ep = acc, ep + 1
            best = {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best)
    t_head = time.perf_counter() - t
    doc = report(truth, predict(emb_val), C)
    total_s = time.perf_counter() - T0

    settings = dict(train=args.train, val=args.val, preset=args.preset, seq=args.seq,
                    stride=args.stride or args.seq - 2, max_chunks=args.max_chunks, policy=args.policy,
                    epochs=args.epochs, batch=args.batch, lr=args.lr, warmup=args.warmup, warmup_steps=warmup,
                    total_steps=total, schedule=args.schedule, weight_decay=args.weight_decay, clip=args.clip,
                    head_epochs=args.head_epochs,
                    head_batch=args.head_batch, head_units=args.head_units, head_dense=args.head_dense,
                    seed=args.seed, threads=args.threads, limit=args.limit, torch=torch.__version__)
    timings = dict(tokenize_s=t_tok, train_s=t_train, train_seq_per_s=N * args.epochs / t_train if t_train else 0,
                   embed_s=t_embed, embed_seq_per_s=(n_tr_chunks + n_va_chunks) / t_embed if t_embed else 0,
                   head_s=t_head, total_s=total_s)
    if args.json:
        print(json.dumps(dict(chunk_accuracy=chunk_acc, doc_accuracy=doc["accuracy"], vote_accuracy=vote["accuracy"],
                              best_head_epoch=best_ep, labels=labels, confusion=doc["confusion"],
                              precision=doc["precision"], recall=doc["recall"], f1=doc["f1"], support=doc["support"],
                              macro_f1=doc["macro_f1"], vote_confusion=vote["confusion"], vote_f1=vote["f1"],
                              vote_macro_f1=vote["macro_f1"], train_docs=len(train), val_docs=len(val),
                              train_chunks=n_tr_chunks, val_chunks=n_va_chunks, head_history=history,
                              timings=timings, settings=settings)))
        return
    print(f"pipeline_ref (PyTorch {torch.__version__}, {args.threads} threads): preset {args.preset}, "
          f"L {args.seq}, stride {settings['stride']}, max chunks {args.max_chunks} ({args.policy}), "
          f"{args.epochs} epochs x {steps_per_epoch} steps of {args.batch}, lr {args.lr:g} "
          f"(warm-up {warmup} steps, then {args.schedule}; clip {args.clip:g}), "
          f"head {args.head_epochs} epochs of {args.head_batch}")
    print(f"documents: train {len(train)} ({n_tr_chunks} chunks), val {len(val)} ({n_va_chunks} chunks)")
    print(f"chunk accuracy (val):                         {chunk_acc:.4f} ({len(chunk_truth)} chunks)")
    print(f"document accuracy (val, LSTM head, epoch {best_ep:2d}): {doc['accuracy']:.4f} ({len(truth)} documents)")
    print(f"vote accuracy (val, mean chunk probability):  {vote['accuracy']:.4f}")
    w = max(8, max(len(x) for x in labels))
    print(f"\n{'class':<{w}}  precision  recall      f1  support   (LSTM head; macro F1 {doc['macro_f1']:.4f})")
    for c in range(C):
        print(f"{labels[c]:<{w}}  {doc['precision'][c]:9.4f}  {doc['recall'][c]:6.4f}  {doc['f1'][c]:6.4f}  "
              f"{doc['support'][c]:7d}")
    print("confusion (rows: true class, columns: predicted)")
    print(" " * w + "".join(f" {x[:8]:>8}" for x in labels))
    for c in range(C):
        print(f"{labels[c]:<{w}}" + "".join(f" {v:8d}" for v in doc["confusion"][c]))
    print(f"\ntimings: tokenize+chunk {t_tok:.1f} s, fine-tune {t_train:.1f} s ({timings['train_seq_per_s']:.1f} "
          f"seq/s), embed {t_embed:.1f} s ({timings['embed_seq_per_s']:.1f} seq/s), head {t_head:.1f} s, "
          f"total {total_s:.1f} s")


if __name__ == "__main__":
    main()
