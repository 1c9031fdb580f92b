#!/usr/bin/env python3
"""Converts a CLIP checkpoint saved by PyTorch to safetensors for `vclip --clip`.

Usage: clip_to_safetensors.py IN.pt|IN.bin OUT.safetensors [--dtype keep|f32|f16|bf16]

IN is one of
  - an OpenAI CLIP release (`ViT-B-32.pt`): a TorchScript archive whose
    state_dict has the OpenAI names (visual.conv1.weight, ...);
  - an open_clip or OpenAI state dict saved with torch.save (`.pt`/`.bin`),
    optionally wrapped as {"state_dict": ...} and/or with every name prefixed
    by "module." (DataParallel), both of which are removed;
  - a Hugging Face `pytorch_model.bin` (its names are kept as they are: vclip
    reads both naming schemes).
Names are kept (OpenAI/open_clip or Hugging Face), so vclip reads the result
as it reads any CLIP safetensors file. The integer bookkeeping entries of the
OpenAI archive (input_resolution, context_length, vocab_size) are dropped.
--dtype keep (default) writes each tensor in its stored float type; f32, f16
or bf16 converts every float tensor. Needs only PyTorch: the safetensors
format (8-byte little-endian header length, JSON header, raw little-endian
data) is written here directly; the header is padded with spaces to a
multiple of 8 bytes so every tensor is aligned.
"""
import json
import os
import struct
import sys

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
DROP = {"input_resolution", "context_length", "vocab_size"}


def tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: same bits as int16
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, torch.Tensor) in the order to write."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    # larger elements first keeps every tensor aligned to its element size
    order = sorted(range(len(tensors)), key=lambda i: -tensors[i][1].element_size())
    for i in order:
        name, t = tensors[i]
        if t.dtype not in DTYPES:
            raise ValueError("%s: dtype %s has no safetensors name" % (name, t.dtype))
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_state_dict(path):
    try:  # OpenAI's releases are TorchScript archives
        sd = torch.jit.load(path, map_location="cpu").state_dict()
    except Exception:  # a plain pickled state dict
        try:
            sd = torch.load(path, map_location="cpu")
        except Exception as e:
            raise SystemExit("clip_to_safetensors.py: %s: neither a TorchScript archive nor a torch.save file (%s)"
                             % (path, e))
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd:
        raise SystemExit("clip_to_safetensors.py: %s holds no state dict" % path)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def convert(src, dst, dtype="keep"):
    sd = read_state_dict(src)
    want = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}.get(dtype)
    if dtype != "keep" and want is None:
        raise SystemExit("clip_to_safetensors.py: --dtype must be keep, f32, f16 or bf16")
    out = []
    for k, v in sd.items():
        if k in DROP or not isinstance(v, torch.Tensor):
            continue
        if want is not None and v.is_floating_point():
            v = v.to(want)
        out.append((k, v))
    if not any(k in sd for k in ("visual.conv1.weight", "token_embedding.weight",
                                 "vision_model.embeddings.patch_embedding.weight",
                                 "text_model.embeddings.token_embedding.weight")):
        raise SystemExit("clip_to_safetensors.py: %s does not look like a CLIP checkpoint (no visual.conv1.weight, "
                         "token_embedding.weight or their Hugging Face names)" % src)
    write_safetensors(dst, out, {"format": "pt", "converted_from": os.path.basename(src)})
    return len(out)


def main(argv):
    args = [a for a in argv[1:]]
    dtype = "keep"
    if "--dtype" in args:
        i = args.index("--dtype")
        if i + 1 >= len(args):
            raise SystemExit("clip_to_safetensors.py: --dtype needs a value")
        dtype = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        raise SystemExit(__doc__)
    n = convert(args[0], args[1], dtype)
    print("wrote %s: %d tensors" % (args[1], n))


if __name__ == "__main__":
    main(sys.argv)
