#!/usr/bin/python3
"""PyTorch twin of `vclip bench encode-image --clip random`: the CLIP ViT-B/32
image tower (patch conv without bias, class token, position embedding, ln_pre,
12 pre-LN blocks with nn.MultiheadAttention and QuickGELU, ln_post on the class
token, projection to 512) with random weights, timed on random pixels in eval
mode under torch.inference_mode(), every core. bench/ort_vit.py imports
build_model() from here to export the same tower to ONNX.
Prints a summary line and, last, "images/s: X".
Usage: torch_vit.py [--batch B] [--seconds S] [--patch P --width W --layers L]"""
import argparse
import os
import resource
import time

import torch
import torch.nn as nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    """x + attn(ln_1(x)), then x + mlp(ln_2(x)); x is (B, T, W)."""

    def __init__(self, width):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, width // 64, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class ImageTower(nn.Module):
    """(B, 3, S, S) normalised pixels -> (B, E) raw image embeddings."""

    def __init__(self, image=224, patch=32, width=768, layers=12, embed=512):
        super().__init__()
        grid = image // patch
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(width ** -0.5 * torch.randn(width))
        self.positional_embedding = nn.Parameter(width ** -0.5 * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.Sequential(*[Block(width) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(width ** -0.5 * torch.randn(width, embed))

    def forward(self, img):
        x = self.conv1(img).flatten(2).transpose(1, 2)               # (B, G*G, W)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding   # (B, 1+G*G, W)
        x = self.blocks(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj                     # (B, E)


def build_model(patch=32, width=768, layers=12, seed=0):
    torch.manual_seed(seed)
    return ImageTower(patch=patch, width=width, layers=layers).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    m = build_model(a.patch, a.width, a.layers)
    x = torch.randn(a.batch, 3, 224, 224)
    with torch.inference_mode():
        m(x)  # warm-up: allocator, thread pool
        n, t0 = 0, time.time()
        while n < 1 or time.time() - t0 < a.seconds:
            m(x)
            n += 1
        dt = (time.time() - t0) / n
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} ViT P={a.patch} W={a.width} L={a.layers} "
          f"batch {a.batch}: {dt * 1e3:.1f} ms/batch over {n} batches, peak RSS {rss:.0f} MB")
    print(f"images/s: {a.batch / dt:.1f}")


if __name__ == "__main__":
    main()
