"""Learnability check of the synthetic dataset (data/synth.h); run by hand:

    build/vclip synth --out /tmp/synth.h5
    /usr/bin/python3 tests/ref_h5_synth_learn.py /tmp/synth.h5 [STEPS]

Trains two small CLIP-style poolers with PyTorch on the train split for STEPS
AdamW steps (default 400, batch 128, frames cut to T = 32) and prints test
video->text R@1 (first caption of each video) and zero-shot accuracy over the
file's classes:
  - mean pooling of the frames + a linear projection, and
  - a 2-layer transformer (d = 64, learned positions) + mean over valid frames.
The generator is right when the transformer clearly beats mean pooling."""
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

T, P = 32, 256  # frames per video, projection width

torch.set_num_threads(2)
torch.manual_seed(0)
np.random.seed(0)
f = h5py.File(sys.argv[1], "r")
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 400
emb = f["video/embeddings"][:].astype(np.float32)
off = f["video/offsets"][:]
cap_video = f["text/video"][:]
text = torch.tensor(f["text/embeddings"][:].astype(np.float32))
labels = f["video/label"][:]
classes = torch.tensor(f["class/embeddings"][:].astype(np.float32))
V, D = len(off) - 1, emb.shape[1]
X = np.zeros((V, T, D), np.float32)
L = np.zeros(V, np.int64)
for v in range(V):
    n = min(off[v + 1] - off[v], T)
    X[v, :n] = emb[off[v]:off[v] + n]
    L[v] = n
X, Lt = torch.tensor(X), torch.tensor(L)
caps = {}
for c, v in enumerate(cap_video):
    caps.setdefault(int(v), []).append(c)


def usable(idx):
    return np.array([v for v in idx if L[v] > 0 and int(v) in caps])


train, test = usable(f["split/train"][:]), usable(f["split/test"][:])


def valid_mask(lengths):
    return torch.arange(T)[None] < lengths[:, None]


class MeanPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(D, P)

    def forward(self, x, lengths):  # x (B,T,D), lengths (B,)
        m = valid_mask(lengths).float()[..., None]
        return self.proj((x * m).sum(1) / m.sum(1))


class Transformer(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.inp = nn.Linear(D, d)
        self.pos = nn.Parameter(torch.randn(T, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, 0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2)
        self.proj = nn.Linear(d, P)

    def forward(self, x, lengths):
        m = valid_mask(lengths)
        h = self.enc(self.inp(x) + self.pos, src_key_padding_mask=~m)
        mf = m.float()[..., None]
        return self.proj((h * mf).sum(1) / mf.sum(1))


def run(model):
    text_proj = nn.Linear(D, P)
    log_scale = nn.Parameter(torch.tensor(2.66))
    opt = torch.optim.AdamW(list(model.parameters()) + list(text_proj.parameters()) + [log_scale], 1e-3)
    t0 = time.time()
    for _ in range(steps):
        b = np.random.choice(train, 128, replace=False)
        c = torch.tensor([caps[int(v)][np.random.randint(len(caps[int(v)]))] for v in b])
        ve = F.normalize(model(X[b], Lt[b]), dim=-1)
        te = F.normalize(text_proj(text[c]), dim=-1)
        logits = log_scale.exp() * ve @ te.T
        y = torch.arange(len(b))
        loss = (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ve = F.normalize(model(X[test], Lt[test]), dim=-1)
        te = F.normalize(text_proj(text[torch.tensor([caps[int(v)][0] for v in test])]), dim=-1)
        r1 = ((ve @ te.T).argmax(1) == torch.arange(len(test))).float().mean().item()
        ce = F.normalize(text_proj(classes), dim=-1)
        zs = ((ve @ ce.T).argmax(1) == torch.tensor(labels[test])).float().mean().item()
    print("%-11s %d steps in %.0fs: train loss %.3f, test video->text R@1 %.3f, zero-shot accuracy %.3f"
          % (type(model).__name__, steps, time.time() - t0, loss.item(), r1, zs), flush=True)


run(MeanPool())
run(Transformer())
