#!/usr/bin/env python3
"""PyTorch references for tests/test_clip.c.

Usage: ref_clip.py OUTDIR

Builds small randomly initialised CLIP models with a compact, faithful PyTorch
implementation of OpenAI's CLIP (module names as in OpenAI's model.py, so its
state_dict has the OpenAI/open_clip names; attention is torch's
nn.MultiheadAttention), saves each as safetensors in the storage dtype and
naming schemes below, and computes the reference embeddings in float64 from
exactly the stored (rounded) weights.

Cases (image S/p, vision width x layers, heads; text ctx x vocab, width x layers, heads; embed; act):
  A    32/8,  64x2,  2 heads (override); 16x100, 64x2, 1 head;  32; quickgelu  F32  openai, hf
  A16  as A, other seed                                                         F16  openai, hf
  B    48/16, 128x3, 2 heads; 12x300, 128x3 (MLP 3x), 2 heads;  48; gelu        F32  openai, hf
  Bbf  as B, other seed                                                         BF16 openai
  C    42/14, 96x1,  3 heads (override); 8x50, 96x1, 3 heads (override); 16; gelu  F32 hf

Files in OUTDIR:
  CASE.NAMES.safetensors   the model (NAMES = openai | hf), plus extras a real
                           checkpoint has (logit_scale, position_ids) that must be ignored
  CASE.ref.safetensors     images [N,3,S,S] F32 (normalised pixels), ids [M,ctx] I64,
                           image_emb [N,E] F64, text_emb [M,E] F64
  A.conv_sd.safetensors    A's weights saved with torch.save (float32 state dict with
                           OpenAI's integer entries) and run through tools/clip_to_safetensors.py
  A.conv_jit.safetensors   the same from a TorchScript archive (torch.jit.trace + save),
                           the form of OpenAI's released .pt files
  A.conv_mod.safetensors   the same from {"state_dict": {"module." + name: ...}} (open_clip
                           training checkpoints) converted with --dtype f32
The A.conv_* files hold float32 copies of A's float32 weights, so A.ref applies.
"""
import importlib.util
import math
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("clip_to_safetensors",
                                               os.path.join(HERE, "..", "tools", "clip_to_safetensors.py"))
conv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conv)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, W, H, M, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(W)
        self.attn = nn.MultiheadAttention(W, H)
        self.ln_2 = nn.LayerNorm(W)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(W, M)),
                                              ("gelu", QuickGELU() if act == "quickgelu" else nn.GELU()),
                                              ("c_proj", nn.Linear(M, W))]))

    def forward(self, x, mask):  # x [T, N, W] as in OpenAI's model
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, W, L, H, M, act):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(W, H, M, act) for _ in range(L)])

    def forward(self, x, mask):
        for b in self.resblocks:
            x = b(x, mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, S, p, W, L, H, M, E, act):
        super().__init__()
        G = S // p
        self.conv1 = nn.Conv2d(3, W, p, p, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(W))
        self.positional_embedding = nn.Parameter(torch.zeros(G * G + 1, W))
        self.ln_pre = nn.LayerNorm(W)
        self.transformer = Transformer(W, L, H, M, act)
        self.ln_post = nn.LayerNorm(W)
        self.proj = nn.Parameter(torch.zeros(W, E))

    def forward(self, img):
        x = self.conv1(img)                        # [N, W, G, G]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x, None).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg
        self.visual = VisionTransformer(c["S"], c["p"], c["vw"], c["vl"], c["vh"], c["vm"], c["E"], c["act"])
        self.token_embedding = nn.Embedding(c["V"], c["tw"])
        self.positional_embedding = nn.Parameter(torch.zeros(c["ctx"], c["tw"]))
        self.transformer = Transformer(c["tw"], c["tl"], c["th"], c["tm"], c["act"])
        self.ln_final = nn.LayerNorm(c["tw"])
        self.text_projection = nn.Parameter(torch.zeros(c["tw"], c["E"]))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, img):
        return self.visual(img)

    def encode_text(self, ids):
        L = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:L]
        mask = torch.full((L, L), float("-inf"), dtype=x.dtype).triu(1)
        x = self.transformer(x.permute(1, 0, 2), mask).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection

    def forward(self, img, ids):
        return self.encode_image(img), self.encode_text(ids)


CASES = [
    dict(name="A", seed=1, dtype=torch.float32, names=("openai", "hf"), act="quickgelu",
         S=32, p=8, vw=64, vl=2, vh=2, vm=256, ctx=16, V=100, tw=64, tl=2, th=1, tm=256, E=32),
    dict(name="A16", seed=2, dtype=torch.float16, names=("openai", "hf"), act="quickgelu",
         S=32, p=8, vw=64, vl=2, vh=2, vm=256, ctx=16, V=100, tw=64, tl=2, th=1, tm=256, E=32),
    dict(name="B", seed=3, dtype=torch.float32, names=("openai", "hf"), act="gelu",
         S=48, p=16, vw=128, vl=3, vh=2, vm=512, ctx=12, V=300, tw=128, tl=3, th=2, tm=384, E=48),
    dict(name="Bbf", seed=4, dtype=torch.bfloat16, names=("openai",), act="gelu",
         S=48, p=16, vw=128, vl=3, vh=2, vm=512, ctx=12, V=300, tw=128, tl=3, th=2, tm=384, E=48),
    dict(name="C", seed=5, dtype=torch.float32, names=("hf",), act="gelu",
         S=42, p=14, vw=96, vl=1, vh=3, vm=384, ctx=8, V=50, tw=96, tl=1, th=3, tm=384, E=16),
]


def init_weights(model, g):
    """Random weights large enough that every part matters (non-uniform
    attention, LayerNorm gains away from 1, visible biases)."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name == "logit_scale":
                continue
            if p.ndim == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            elif name in ("visual.proj", "text_projection"):
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / math.sqrt(p.shape[0]))
            else:  # Linear / conv weights [out, in...]
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / math.sqrt(fan_in))


def hf_names(sd, ctx, grid):
    """OpenAI-named state dict -> Hugging Face names (q/k/v split, projections as Linear weights)."""
    top = {
        "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
        "visual.class_embedding": "vision_model.embeddings.class_embedding",
        "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
        "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
        "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
        "visual.ln_post.weight": "vision_model.post_layernorm.weight",
        "visual.ln_post.bias": "vision_model.post_layernorm.bias",
        "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
        "positional_embedding": "text_model.embeddings.position_embedding.weight",
        "ln_final.weight": "text_model.final_layer_norm.weight",
        "ln_final.bias": "text_model.final_layer_norm.bias",
        "logit_scale": "logit_scale",
    }
    field = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "attn.out_proj": "self_attn.out_proj",
             "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2"}
    out = OrderedDict()
    for k, v in sd.items():
        if k in top:
            out[top[k]] = v
        elif k == "visual.proj":
            out["visual_projection.weight"] = v.t().contiguous()
        elif k == "text_projection":
            out["text_projection.weight"] = v.t().contiguous()
        else:
            for src, dst in (("visual.transformer.resblocks.", "vision_model.encoder.layers."),
                             ("transformer.resblocks.", "text_model.encoder.layers.")):
                if not k.startswith(src):
                    continue
                idx, rest = k[len(src):].split(".", 1)
                pre = "%s%s." % (dst, idx)
                if rest.startswith("attn.in_proj_"):
                    kind = "weight" if rest.endswith("weight") else "bias"
                    for part, chunk in zip("qkv", v.chunk(3, dim=0)):
                        out[pre + "self_attn.%s_proj.%s" % (part, kind)] = chunk.contiguous()
                else:
                    mod, kind = rest.rsplit(".", 1)
                    out[pre + field[mod] + "." + kind] = v
                break
            else:
                raise KeyError(k)
    out["text_model.embeddings.position_ids"] = torch.arange(ctx, dtype=torch.int64)[None]
    out["vision_model.embeddings.position_ids"] = torch.arange(grid * grid + 1, dtype=torch.int64)[None]
    return out


def make_inputs(c, g):
    N, M = 5, 6
    images = torch.randn(N, 3, c["S"], c["S"], generator=g, dtype=torch.float64).float()
    ctx, V = c["ctx"], c["V"]
    ids = torch.zeros(M, ctx, dtype=torch.int64)
    for r, e in enumerate([1, 2, ctx // 2, ctx - 1, min(5, ctx - 1), 3]):
        ids[r, 0] = V - 2  # start of text
        ids[r, 1:e] = torch.randint(1, V - 2, (e - 1,), generator=g)
        ids[r, e] = V - 1  # end of text: the highest id
    return images, ids


def build_case(c, outdir):
    g = torch.Generator().manual_seed(c["seed"])
    model = CLIP(c).double().eval()
    init_weights(model, g)
    with torch.no_grad():  # round to the storage dtype: the reference uses the stored values
        for p in model.parameters():
            p.copy_(p.to(c["dtype"]).double())
    images, ids = make_inputs(c, g)
    with torch.no_grad():
        img_emb = model.encode_image(images.double())
        txt_emb = model.encode_text(ids)
    sd = OrderedDict((k, v.detach()) for k, v in model.state_dict().items())
    for names in c["names"]:
        d = sd if names == "openai" else hf_names(sd, c["ctx"], c["S"] // c["p"])
        items = [(k, v.to(c["dtype"]) if v.is_floating_point() else v) for k, v in d.items()]
        conv.write_safetensors(os.path.join(outdir, "%s.%s.safetensors" % (c["name"], names)), items)
    conv.write_safetensors(os.path.join(outdir, "%s.ref.safetensors" % c["name"]),
                           [("images", images), ("ids", ids), ("image_emb", img_emb), ("text_emb", txt_emb)])
    return model, images, ids


def converter_cases(model, images, ids, outdir):
    m32 = model.float()
    sd = OrderedDict((k, v.detach().clone()) for k, v in m32.state_dict().items())
    # torch.save of a state dict, with the integer entries OpenAI's archives carry
    raw = OrderedDict(sd)
    raw["input_resolution"] = torch.tensor(32)
    raw["context_length"] = torch.tensor(16)
    raw["vocab_size"] = torch.tensor(100)
    p = os.path.join(outdir, "A_sd.pt")
    torch.save(raw, p)
    conv.convert(p, os.path.join(outdir, "A.conv_sd.safetensors"))
    # a TorchScript archive, as OpenAI ships ViT-B-32.pt
    with torch.no_grad():
        traced = torch.jit.trace(m32, (images, ids), check_trace=False)
    p = os.path.join(outdir, "A_jit.pt")
    torch.jit.save(traced, p)
    conv.convert(p, os.path.join(outdir, "A.conv_jit.safetensors"))
    # an open_clip training checkpoint: {"state_dict": {"module.<name>": ...}}, stored half, converted to f32
    p = os.path.join(outdir, "A_mod.pt")
    torch.save({"epoch": 3, "state_dict": OrderedDict(("module." + k, v) for k, v in sd.items())}, p)
    conv.convert(p, os.path.join(outdir, "A.conv_mod.safetensors"), "f32")
    # the converted files must hold exactly the original names and values
    for f in ("A.conv_sd", "A.conv_jit", "A.conv_mod"):
        got = read_safetensors(os.path.join(outdir, f + ".safetensors"))
        missing = set(sd) - set(got)
        extra = set(got) - set(sd)
        if missing or extra:
            raise SystemExit("ref_clip.py: %s: missing %s, extra %s" % (f, sorted(missing), sorted(extra)))
        for k, v in sd.items():
            if not torch.equal(got[k], v):
                raise SystemExit("ref_clip.py: %s: tensor %s changed in conversion" % (f, k))


def read_safetensors(path):
    """A small reader to check the converter's output from Python too."""
    import json
    import struct
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    inv = {v: k for k, v in conv.DTYPES.items()}
    out = {}
    for k, h in header.items():
        if k == "__metadata__":
            continue
        b, e = h["data_offsets"]
        dt = inv[h["dtype"]]
        buf = bytearray(data[base + b:base + e])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16) if buf else torch.zeros(0, dtype=dt)
        else:
            t = torch.frombuffer(buf, dtype=dt) if buf else torch.zeros(0, dtype=dt)
        out[k] = t.reshape(h["shape"])
    return out


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__)
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for c in CASES:
        model, images, ids = build_case(c, outdir)
        if c["name"] == "A":
            converter_cases(model, images, ids, outdir)
    print("ref_clip.py: wrote %d cases to %s" % (len(CASES), outdir))


if __name__ == "__main__":
    main(sys.argv)
