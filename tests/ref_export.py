"""PyTorch side of tests/test_export.c: runs exported poolers through tools/vclip_torch.py.

  ref_export.py INPUTS POOLER OUT [POOLER OUT ...]

INPUTS (written by the C test) holds "frames" F32 [B, T, D] (garbage in the padding),
"lengths" I64 [B] and "text" F32 [B, D]. For each exported POOLER this writes OUT with
  video, text             float32 module outputs (what users run)
  video64, text64         the same module in float64
  video_repad             float32 video output with the padding replaced by inf/nan/huge values
  logit_scale             the loaded logit_scale
The C test compares them with vclip's own forward. Exit status 1 with the reason on any error."""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from vclip_torch import load_pooler, read_safetensors  # noqa: E402

NAMES = {torch.float32: "F32", torch.float64: "F64"}


def write_safetensors(path, tensors):
    header, blobs, pos = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(argv):
    if len(argv) < 4 or len(argv) % 2:
        sys.exit(__doc__)
    inputs, _ = read_safetensors(argv[1])
    frames, lengths, text = inputs["frames"], inputs["lengths"], inputs["text"]
    T = frames.shape[1]
    pad = torch.arange(T)[None, :] >= lengths[:, None]
    repad = frames.clone()
    bad = torch.tensor([float("nan"), float("inf"), -float("inf"), 3e38])
    repad[pad] = bad[torch.arange(int(pad.sum())) % 4][:, None].expand(-1, frames.shape[2])
    for pooler_path, out_path in zip(argv[2::2], argv[3::2]):
        with torch.no_grad():
            m = load_pooler(pooler_path)
            out = {"video": m(frames, lengths), "text": m.encode_text(text), "video_repad": m(repad, lengths),
                   "logit_scale": m.logit_scale.clone()}
            m64 = load_pooler(pooler_path).double()
            out["video64"] = m64(frames.double(), lengths)
            out["text64"] = m64.encode_text(text.double())
        write_safetensors(out_path, out)


if __name__ == "__main__":
    main(sys.argv)
