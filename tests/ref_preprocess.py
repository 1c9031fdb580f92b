#!/usr/bin/env python3
"""Reference CLIP preprocessing with Pillow + NumPy for tests/test_video.c.

    ref_preprocess.py --check                    exit 0 when Pillow and NumPy import
    ref_preprocess.py S IN.ppm OUT.f32 [IN OUT]  for each pair: OUT = float32 [3, S, S]

Each OUT holds ToTensor's values in [0, 1] (before Normalize), computed as
CLIP's transform does on a PIL image: torchvision Resize(S, BICUBIC) then
CenterCrop(S) then ToTensor. torchvision is not needed: its size rules are
written out here (Resize: the shorter side becomes S and the longer
int(S * long / short); CenterCrop: top = int(round((h - S) / 2.0)), Python's
round, halves to even). The resize itself is Pillow's Image.resize, which is
what torchvision calls for PIL images.
"""
import sys


def resized_size(w, h, size):
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def clip_pixels(img, size):
    from PIL import Image
    import numpy as np

    img = img.convert("RGB")
    w, h = img.size
    rw, rh = resized_size(w, h, size)
    if (rw, rh) != (w, h):
        img = img.resize((rw, rh), Image.BICUBIC)
    top = int(round((rh - size) / 2.0))
    left = int(round((rw - size) / 2.0))
    img = img.crop((left, top, left + size, top + size))
    a = np.asarray(img, dtype=np.uint8)            # (S, S, 3)
    t = a.astype(np.float32) / np.float32(255.0)   # ToTensor, float32
    return np.ascontiguousarray(t.transpose(2, 0, 1))  # (3, S, S)


def main(argv):
    if len(argv) == 2 and argv[1] == "--check":
        import numpy  # noqa: F401
        from PIL import Image  # noqa: F401
        return 0
    if len(argv) < 4 or (len(argv) - 2) % 2:
        sys.stderr.write(__doc__)
        return 2
    from PIL import Image

    size = int(argv[1])
    for src, dst in zip(argv[2::2], argv[3::2]):
        with Image.open(src) as im:
            clip_pixels(im, size).tofile(dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
