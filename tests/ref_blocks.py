#!/usr/bin/env python3
"""PyTorch references for tests/test_torch_blocks.c.

Usage: ref_blocks.py OUT BLOCK [key=value ...]
  BLOCK attn     torch.nn.TransformerEncoderLayer (pre-LN, key-padding mask)
                 keys: B T D H lengths=l0,l1,.. act=gelu|quickgelu
  BLOCK lstm     torch.nn.LSTM, one layer, batch_first, zero initial state
                 keys: B T D Hd
  BLOCK infonce  masked mean + L2 norm + symmetric InfoNCE
                 keys: B T D lengths=l0,l1,..
  common keys:   seed (default 0), dtype=float64|float32 (compute type,
                 default float64 so the reference is exact)

Every input and weight is rounded to float32 before use, so the C side, which
reads the float32 values from OUT, computes with exactly the same numbers.

OUT layout (little-endian):
  u32 magic 0x42524356 ("VCRB"), u32 version 1, u32 tensor count, then per
  tensor: u32 name length, name bytes (UTF-8), u32 ndim, i64 dims[ndim],
  f32 data[prod(dims)] (row-major). Integer data (lengths) is stored as f32.
Names: inputs as given ("x", "R", "lengths", ...), weights by their PyTorch
parameter names, "out" for the block output and "grad/NAME" for the gradient
of the scalar loss with respect to NAME.
"""
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

MAGIC = 0x42524356
VERSION = 1


def fail(msg):
    sys.stderr.write("ref_blocks.py: %s\n" % msg)
    sys.exit(2)


def parse_args(argv):
    if len(argv) < 3:
        fail("usage: ref_blocks.py OUT BLOCK [key=value ...]")
    out, block, kv = argv[1], argv[2], {}
    for a in argv[3:]:
        if "=" not in a:
            fail("argument %r is not key=value" % a)
        k, v = a.split("=", 1)
        kv[k] = v
    return out, block, kv


class Opts:
    def __init__(self, kv):
        self.kv = dict(kv)
        self.used = set()

    def int(self, k, default=None):
        self.used.add(k)
        if k not in self.kv:
            if default is None:
                fail("missing key %s" % k)
            return default
        return int(self.kv[k])

    def str(self, k, default):
        self.used.add(k)
        return self.kv.get(k, default)

    def ints(self, k):
        self.used.add(k)
        if k not in self.kv:
            fail("missing key %s" % k)
        return [int(s) for s in self.kv[k].split(",")]

    def check_all_used(self):
        extra = sorted(set(self.kv) - self.used)
        if extra:
            fail("unknown keys: %s" % ", ".join(extra))


class Writer:
    def __init__(self):
        self.items = []

    def add(self, name, t):
        self.items.append((name, t.detach().to(torch.float32).contiguous().cpu()))

    def save(self, path):
        tmp = path + ".part"
        with open(tmp, "wb") as f:
            f.write(struct.pack("<III", MAGIC, VERSION, len(self.items)))
            for name, t in self.items:
                nb = name.encode("utf-8")
                f.write(struct.pack("<I", len(nb)))
                f.write(nb)
                f.write(struct.pack("<I", t.dim()))
                f.write(struct.pack("<%dq" % t.dim(), *t.shape))
                f.write(struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist()))
        os.replace(tmp, path)


def f32_exact(t, dtype):
    """t rounded to float32 values, held in the compute dtype."""
    return t.to(torch.float32).to(dtype)


def randomize(module, dtype, scale=0.3):
    """Random weights (rounded to float32); LayerNorm gains near 1."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("norm") and name.endswith("weight"):
                v = 1.0 + 0.2 * torch.randn(p.shape, dtype=torch.float64)
            else:
                v = scale * torch.randn(p.shape, dtype=torch.float64)
            p.copy_(f32_exact(v, dtype))


def check_lengths(lengths, B, T):
    if len(lengths) != B or any(l < 1 or l > T for l in lengths):
        fail("lengths %s must be %d values in [1, %d]" % (lengths, B, T))


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def block_attn(o, dtype, w):
    B, T, D, H = o.int("B"), o.int("T"), o.int("D"), o.int("H")
    lengths = o.ints("lengths")
    act = o.str("act", "gelu")
    check_lengths(lengths, B, T)
    if act not in ("gelu", "quickgelu"):
        fail("act must be gelu or quickgelu")
    layer = torch.nn.TransformerEncoderLayer(
        d_model=D, nhead=H, dim_feedforward=4 * D, dropout=0.0,
        activation="gelu" if act == "gelu" else quick_gelu,
        batch_first=True, norm_first=True)
    layer = layer.to(dtype)
    layer.train()  # the slow (differentiable, reference) path; dropout is 0
    randomize(layer, dtype)
    x = f32_exact(torch.randn(B, T, D, dtype=torch.float64), dtype).requires_grad_(True)
    R = f32_exact(torch.randn(B, T, D, dtype=torch.float64), dtype)
    lens = torch.tensor(lengths)
    pad = torch.arange(T)[None, :] >= lens[:, None]  # True: padded key
    y = layer(x, src_key_padding_mask=pad)
    valid = (~pad).to(dtype)[:, :, None]
    loss = (y * R * valid).sum()
    loss.backward()
    w.add("x", x)
    w.add("R", R)
    w.add("lengths", lens)
    params = list(layer.named_parameters())
    for name, p in params:
        w.add(name, p)
    w.add("out", y)
    w.add("loss", loss.reshape(1))
    w.add("grad/x", x.grad)
    for name, p in params:
        w.add("grad/" + name, p.grad)


def block_lstm(o, dtype, w):
    B, T, D, Hd = o.int("B"), o.int("T"), o.int("D"), o.int("Hd")
    lstm = torch.nn.LSTM(D, Hd, num_layers=1, batch_first=True).to(dtype)
    randomize(lstm, dtype, scale=0.4)
    x = f32_exact(torch.randn(B, T, D, dtype=torch.float64), dtype).requires_grad_(True)
    R = f32_exact(torch.randn(B, T, Hd, dtype=torch.float64), dtype)
    out, _ = lstm(x)  # zero (h0, c0)
    loss = (out * R).sum()
    loss.backward()
    w.add("x", x)
    w.add("R", R)
    params = list(lstm.named_parameters())
    for name, p in params:
        w.add(name, p)
    w.add("out", out)
    w.add("loss", loss.reshape(1))
    w.add("grad/x", x.grad)
    for name, p in params:
        w.add("grad/" + name, p.grad)


def block_infonce(o, dtype, w):
    B, T, D = o.int("B"), o.int("T"), o.int("D")
    lengths = o.ints("lengths")
    check_lengths(lengths, B, T)
    frames = f32_exact(torch.randn(B, T, D, dtype=torch.float64), dtype).requires_grad_(True)
    text = f32_exact(torch.randn(B, D, dtype=torch.float64), dtype).requires_grad_(True)
    logit_scale = f32_exact(torch.tensor([math.log(1 / 0.07)], dtype=torch.float64), dtype).requires_grad_(True)
    lens = torch.tensor(lengths)
    valid = (torch.arange(T)[None, :] < lens[:, None]).to(dtype)
    pooled = (frames * valid[:, :, None]).sum(1) / lens[:, None].to(dtype)
    v = F.normalize(pooled, dim=-1)
    t = F.normalize(text, dim=-1)
    logits = logit_scale.exp() * v @ t.T
    labels = torch.arange(B)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss.backward()
    w.add("frames", frames)
    w.add("text", text)
    w.add("logit_scale", logit_scale)
    w.add("lengths", lens)
    w.add("logits", logits)
    w.add("out", loss.reshape(1))
    w.add("grad/frames", frames.grad)
    w.add("grad/text", text.grad)
    w.add("grad/logit_scale", logit_scale.grad)


BLOCKS = {"attn": block_attn, "lstm": block_lstm, "infonce": block_infonce}


def main():
    out, block, kv = parse_args(sys.argv)
    if block not in BLOCKS:
        fail("unknown block %r (have %s)" % (block, ", ".join(sorted(BLOCKS))))
    o = Opts(kv)
    torch.manual_seed(o.int("seed", 0))
    dt = o.str("dtype", "float64")
    if dt not in ("float64", "float32"):
        fail("dtype must be float64 or float32")
    dtype = torch.float64 if dt == "float64" else torch.float32
    torch.set_num_threads(1)
    w = Writer()
    BLOCKS[block](o, dtype, w)
    o.check_all_used()
    w.save(out)


if __name__ == "__main__":
    main()
