"""PyTorch inference for poolers exported with `vclip export` (models/README.md).

    from vclip_torch import load_pooler
    pooler = load_pooler("pooler.safetensors")           # an eval-mode nn.Module
    video = pooler(frames, lengths)   # frames [B, T, D] raw CLIP frame embeddings, lengths [B] long
    text = pooler.encode_text(text)   # [B, D] raw CLIP text embeddings
    sims = pooler.logit_scale.exp() * video @ text.T

Both outputs are L2-normalised [B, D] and equal vclip's own forward: frames are
L2-normalised, frames at positions >= length never influence anything, the
pooled vector is L2-normalised. Only torch is needed (not the `safetensors`
package). Call .double() on the module for float64 inference.
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


def read_safetensors(path):
    """Returns ({name: tensor in its stored dtype}, {metadata key: string})."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header of {n} bytes runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype, shape = DTYPES[info["dtype"]], info["shape"]
        size = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(body) or end - begin != size:
            raise ValueError(f"{path}: tensor '{name}' has bad data_offsets {info['data_offsets']}")
        raw = bytearray(body[begin:end])  # a writable copy, so frombuffer does not warn
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(shape)
    return tensors, meta


def act_fn(name):
    if name == "quickgelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    return F.gelu  # the exact erf form


def masked_mean(x, mask):
    """x [B, T, C], mask [B, T] bool -> mean over the valid rows [B, C]; 0 for a video with none."""
    n = mask.sum(1, keepdim=True).clamp(min=1).to(x.dtype)
    return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype)).sum(1) / n


def masked_softmax(s, mask, dim):
    """Softmax over the entries where mask is true; a slice with none gives 0, as in vclip."""
    p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim)
    return p.masked_fill(~mask, 0.0)


def attend(q, k, v, heads, key_mask=None):
    """Multi-head scaled dot-product attention: q [B, Tq, W], k and v [B, Tk, W] (heads side by
    side in W), key_mask [B, Tk] bool (True = valid) -> [B, Tq, W]."""
    B, Tq, W = q.shape
    dh = W // heads
    split = lambda x: x.reshape(x.shape[0], x.shape[1], heads, dh).transpose(1, 2)  # [B, H, T, dh]
    s = split(q) @ split(k).transpose(-1, -2) / math.sqrt(dh)  # [B, H, Tq, Tk]
    if key_mask is None:
        p = torch.softmax(s, -1)
    else:
        p = masked_softmax(s, key_mask[:, None, None, :], -1)
    return (p @ split(v)).transpose(1, 2).reshape(B, Tq, W)


class SelfAttention(nn.Module):
    """nn.MultiheadAttention's parameter names: packed in_proj (q, k, v rows), out_proj."""

    def __init__(self, w, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * w, w))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * w))
        self.out_proj = nn.Linear(w, w)

    def forward(self, x, key_mask):
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, -1)
        return self.out_proj(attend(q, k, v, self.heads, key_mask))


class Mlp(nn.Module):
    def __init__(self, w, hidden, act, out=None):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(w, hidden), nn.Linear(hidden, out or w), act

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN1(x)), then x + MLP(LN2(x))."""

    def __init__(self, w, heads, mlp_ratio, act):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(w, eps=1e-5), nn.LayerNorm(w, eps=1e-5)
        self.attn = SelfAttention(w, heads)
        self.mlp = Mlp(w, mlp_ratio * w, act)

    def forward(self, x, key_mask=None):
        x = x + self.attn(self.ln1(x), key_mask)
        return x + self.mlp(self.ln2(x))


class Pooler(nn.Module):
    """Shared by every type: input and output normalisation, padding mask, text head."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.act = act_fn(cfg["act"])
        self.register_buffer("logit_scale", torch.zeros(1))
        if cfg["text_head"]:
            self.text_head = nn.Linear(cfg["dim"], cfg["dim"])

    def make_blocks(self, n, w):
        c = self.cfg
        return nn.ModuleList(Block(w, c["heads"], c["mlp_ratio"], self.act) for _ in range(n))

    def forward(self, frames, lengths):
        """frames [B, T, D] (raw), lengths [B] -> L2-normalised video embeddings [B, D]."""
        T = frames.shape[1]
        mask = torch.arange(T, device=frames.device)[None, :] < lengths.to(frames.device)[:, None]
        x = F.normalize(frames.to(self.logit_scale.dtype), dim=-1, eps=1e-12)
        x = torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype))  # padding can never leak
        return F.normalize(self.pool(x, mask), dim=-1, eps=1e-12)

    def encode_text(self, text):
        """text [B, D] (raw CLIP text embeddings) -> L2-normalised [B, D]."""
        text = text.to(self.logit_scale.dtype)
        if self.cfg["text_head"]:
            text = self.text_head(text)
        return F.normalize(text, dim=-1, eps=1e-12)

    def load(self, tensors):
        state = {k[len("pooler."):]: v for k, v in tensors.items() if k.startswith("pooler.")}
        state["logit_scale"] = tensors["logit_scale"].reshape(1)
        self.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)


class Mean(Pooler):
    """Masked mean of the normalised frames (no parameters)."""

    def pool(self, x, mask):
        return masked_mean(x, mask)


class WAvg(Pooler):
    """Softmax of a learned logit per position over the valid positions, weighted sum."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.logits = nn.Parameter(torch.empty(cfg["max_frames"]))

    def pool(self, x, mask):
        w = masked_softmax(self.logits[: x.shape[1]].expand(mask.shape), mask, 1)
        return (w[..., None] * x).sum(1)


class MlpMean(Pooler):
    """Per frame LN -> fc1 (-> act -> fc2), masked mean, averaged with the plain mean (residual)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        D = cfg["dim"]
        self.ln, self.fc1 = nn.LayerNorm(D, eps=1e-5), nn.Linear(D, D)
        if cfg["mlp_layers"] == 2:
            self.fc2 = nn.Linear(D, D)

    def pool(self, x, mask):
        h = self.fc1(self.ln(x))
        if self.cfg["mlp_layers"] == 2:
            h = self.fc2(self.act(h))
        y = masked_mean(h, mask)
        return (y + masked_mean(x, mask)) / 2 if self.cfg["residual"] else y


class Transformer(Pooler):
    """Position embedding, pre-LN blocks with padded keys masked, residual, masked mean."""

    def __init__(self, cfg):
        super().__init__(cfg)
        D, W = cfg["dim"], cfg["width"]
        if W != D:
            self.in_proj, self.out_proj = nn.Linear(D, W), nn.Linear(W, D)
        self.pos_emb = nn.Parameter(torch.empty(cfg["max_frames"], W))
        self.blocks = self.make_blocks(cfg["layers"], W)

    def pool(self, x, mask):
        T, proj = x.shape[1], self.cfg["width"] != self.cfg["dim"]
        if T > self.cfg["max_frames"]:
            raise ValueError(f"{T} frames exceed max_frames {self.cfg['max_frames']}")
        h = (self.in_proj(x) if proj else x) + self.pos_emb[:T]
        for b in self.blocks:
            h = b(h, mask)
        if proj:
            h = self.out_proj(h)
        return masked_mean(h + x if self.cfg["residual"] else h, mask)


class CrossAttn(Pooler):
    """S learned queries attend over the valid frames (LN on both sides), mean over the queries,
    optional residual MLP head; projected in and out when width != dim."""

    def __init__(self, cfg):
        super().__init__(cfg)
        D, W, S = cfg["dim"], cfg["width"], cfg["tokens"]
        if W != D:
            self.in_proj, self.final_proj = nn.Linear(D, W), nn.Linear(W, D)
        self.queries = nn.Parameter(torch.empty(S, W))
        self.ln_q, self.ln_kv = nn.LayerNorm(W, eps=1e-5), nn.LayerNorm(W, eps=1e-5)
        self.q_proj, self.kv_proj, self.out_proj = nn.Linear(W, W), nn.Linear(W, 2 * W), nn.Linear(W, W)
        if cfg["mlp_layers"] == 1:
            self.head = nn.Module()
            self.head.ln = nn.LayerNorm(W, eps=1e-5)
            self.head.fc1, self.head.fc2 = nn.Linear(W, cfg["mlp_ratio"] * W), nn.Linear(cfg["mlp_ratio"] * W, W)

    def pool(self, x, mask):
        W, proj = self.cfg["width"], self.cfg["width"] != self.cfg["dim"]
        k, v = self.kv_proj(self.ln_kv(self.in_proj(x) if proj else x)).split(W, -1)
        q = self.q_proj(self.ln_q(self.queries)).expand(x.shape[0], -1, -1)
        y = self.out_proj(attend(q, k, v, self.cfg["heads"], mask)).mean(1)
        if self.cfg["mlp_layers"] == 1:
            y = y + self.head.fc2(self.act(self.head.fc1(self.head.ln(y))))
        return self.final_proj(y) if proj else y


class Lstm(Pooler):
    """One-layer LSTM D -> D (nn.LSTM, gates i, f, g, o) over the frames, residual, masked mean.
    The LSTM is causal, so outputs at valid positions never see the padding after them."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.lstm = nn.LSTM(cfg["dim"], cfg["dim"], batch_first=True)

    def load(self, tensors):
        # vclip names the weights without nn.LSTM's layer suffix
        tensors = {k + "_l0" if k.startswith("pooler.lstm.") else k: v for k, v in tensors.items()}
        super().load(tensors)

    def pool(self, x, mask):
        h, _ = self.lstm(x)
        return masked_mean(h + x if self.cfg["residual"] else h, mask)


class TokenLearner(Pooler):
    """LN -> MLP (D -> hidden -> S) scores per frame, softmax over the valid frames per token,
    S tokens as weighted averages of the frames, + token positions, blocks, mean."""

    def __init__(self, cfg):
        super().__init__(cfg)
        D, S = cfg["dim"], cfg["tokens"]
        self.ln = nn.LayerNorm(D, eps=1e-5)
        self.score = Mlp(D, cfg["hidden"], self.act, out=S)
        self.tok_pos = nn.Parameter(torch.empty(S, D))
        self.blocks = self.make_blocks(cfg["layers"], D)

    def pool(self, x, mask):
        a = masked_softmax(self.score(self.ln(x)), mask[..., None], 1)  # [B, T, S]
        tok = a.transpose(1, 2) @ x + self.tok_pos  # [B, S, D]
        for b in self.blocks:
            tok = b(tok)
        return tok.mean(1)


POOLERS = {"mean": Mean, "wavg": WAvg, "mlp_mean": MlpMean, "transformer": Transformer,
           "cross_attn": CrossAttn, "lstm": Lstm, "tokenlearner": TokenLearner}


def load_pooler(path):
    """The exported pooler at path as an eval-mode float32 module (parameters frozen)."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != "vclip-pooler" or meta.get("version") != "1":
        raise ValueError(f"{path}: not a vclip pooler export (format {meta.get('format')!r}, "
                         f"version {meta.get('version')!r}; expected 'vclip-pooler', '1')")
    cfg = json.loads(meta["model"])
    if cfg["type"] not in POOLERS:
        raise ValueError(f"{path}: unknown pooler type {cfg['type']!r}")
    model = POOLERS[cfg["type"]](cfg)
    model.load(tensors)
    return model.eval().requires_grad_(False)
