#!/usr/bin/python3
"""PyTorch twin of `vclip bench train`: times training steps of the same pooler
(transformer: pre-LN nn.TransformerEncoderLayer stack with key-padding mask,
residual, masked mean; lstm: nn.LSTM with residual, masked mean), symmetric
InfoNCE with a learnable temperature, AdamW, on random data, every core.
Prints a summary line and, last, "samples/s: X"; also the peak RSS.
--autocast runs the forward and the loss under torch.autocast("cpu",
dtype=torch.bfloat16) (bf16 products, float32 master weights and optimiser):
PyTorch's own mixed precision, the peer of `vclip bench train --precision bf16`.
Usage: torch_pooler.py MODEL [--batch B --frames T --dim D --layers L --heads H --seconds S --autocast]"""
import contextlib
import argparse, math, os, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class TransformerPooler(nn.Module):
    def __init__(self, dim, layers, heads, frames):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(frames, dim) * 0.02)
        block = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)

    def forward(self, x, valid):
        h = self.blocks(x + self.pos[: x.shape[1]], src_key_padding_mask=~valid)
        return h + x


class LSTMPooler(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.rnn = nn.LSTM(dim, dim, 1, batch_first=True)

    def forward(self, x, valid):
        return self.rnn(x)[0] + x


def training_step(model, batch, frames, dim, layers, heads, device="cpu", autocast=False):
    """The peer of `vclip bench train`'s step, seeded (torch.manual_seed(0)):
    the pooler, the learnable temperature, AdamW and random data (batch x
    frames x dim frames, batch x dim text, every frame valid) on device.
    Returns step(), one training step: normalize the frames, pool, masked
    mean, symmetric cross-entropy of the scaled cosine logits, backward,
    gradients clipped to norm 1, AdamW, the temperature clamped; its loss.
    autocast: the forward and the loss under torch.autocast(bfloat16), with
    float32 weights and optimiser. bench/gpu_vs_torch.py times the same step."""
    dev = torch.device(device)
    torch.manual_seed(0)
    B, T, D = batch, frames, dim
    pooler = (TransformerPooler(D, layers, heads, T) if model == "transformer" else LSTMPooler(D)).to(dev)
    scale = nn.Parameter(torch.tensor(math.log(1 / 0.07), device=dev))
    params = list(pooler.parameters()) + [scale]
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.2)
    x_in, text = torch.randn(B, T, D, device=dev), torch.randn(B, D, device=dev)
    valid = torch.ones(B, T, dtype=torch.bool, device=dev)
    target = torch.arange(B, device=dev)

    def mixed():
        return torch.autocast(dev.type, dtype=torch.bfloat16) if autocast else contextlib.nullcontext()

    def step():
        with mixed():
            x = F.normalize(x_in, dim=-1)
            h = pooler(x, valid)
            m = valid.unsqueeze(-1).float()
            v = F.normalize((h * m).sum(1) / m.sum(1), dim=-1)
            logits = scale.exp() * v @ F.normalize(text, dim=-1).t()
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            scale.clamp_(0, math.log(100))
        return loss.item()  # a training loop reads its loss each step; so does vclip's

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=["transformer", "lstm"])
    for k, v in (("batch", 128), ("frames", 32), ("dim", 512), ("layers", 4), ("heads", 8)):
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--autocast", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    B, T, D = a.batch, a.frames, a.dim
    step = training_step(a.model, B, T, D, a.layers, a.heads, autocast=a.autocast)

    for _ in range(2):
        step()
    n, t0 = 0, time.time()
    while time.time() - t0 < a.seconds:
        loss = step()
        n += 1
    dt = (time.time() - t0) / n
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "autocast bf16" if a.autocast else "fp32"
    print(f"torch {torch.__version__} {a.model} {mode} B={B} T={T} D={D} L={a.layers} H={a.heads}: "
          f"{dt * 1e3:.1f} ms/step over {n} steps, loss {loss:.4f}, peak RSS {rss:.0f} MB")
    print(f"samples/s: {B / dt:.1f}")


if __name__ == "__main__":
    main()
