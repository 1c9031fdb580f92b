"""PyTorch side of tests/test_safetensors.c.

  ref_safetensors.py write OUT   writes OUT with torch tensors through a small
                                 writer of its own (json + struct; the
                                 `safetensors` package is not needed)
  ref_safetensors.py check IN    reads vclip's IN and compares it with the same
                                 tensors, bit for bit; exit status 1 on any
                                 difference, with the reason on stderr

The tensors and values are defined the same way in the C test (expected_*).
The writer here lays the file out unlike vclip does: JSON with spaces, no
padding (so tensors land unaligned), metadata last, non-ASCII escaped."""
import json
import struct
import sys

import torch

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8,
}

META = {"format": "pt", "note": "h\u00e9llo \"quoted\"\nline\ttab \\ back \u4e2d", "empty": ""}


def base(n):
    i = torch.arange(n, dtype=torch.int64)
    return ((i * 37) % 101 - 50).to(torch.float32) / 7


def expected(with_f64):
    t = {}
    t["f32"] = ("F32", base(12).reshape(3, 4))
    t["f16"] = ("F16", base(30).reshape(2, 3, 5).to(torch.float16))
    t["bf16"] = ("BF16", base(7).to(torch.bfloat16))
    if with_f64:
        i = torch.arange(3, dtype=torch.float64)
        t["f64"] = ("F64", ((i * 37) % 101 - 50) / 7.0)
    t["i64"] = ("I64", (torch.arange(4, dtype=torch.int64) - 2).reshape(2, 2) * 123456789012)
    t["i32"] = ("I32", (torch.arange(5, dtype=torch.int32) - 2) * 100000)
    t["u8"] = ("U8", torch.arange(3, dtype=torch.int64).mul(100).to(torch.uint8))
    t["scalar"] = ("F32", torch.tensor(2.5, dtype=torch.float32))
    t["empty"] = ("F32", torch.zeros(0, 3, dtype=torch.float32))
    t["special"] = ("F32", torch.tensor([0.0, -0.0, float("inf"), float("-inf"), 1e-40, -3.0e38],
                                        dtype=torch.float32))
    return t


def raw(t):
    return bytes(t.contiguous().reshape(-1).view(torch.uint8).tolist())


def write(path):
    header, blobs, pos = {}, [], 0
    # Data in reverse name order, so data order differs from header order.
    tensors = expected(True)
    for name in sorted(tensors, reverse=True):
        dt, t = tensors[name]
        b = raw(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    header["__metadata__"] = META
    h = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def fail(msg):
    print("ref_safetensors.py check: " + msg, file=sys.stderr)
    sys.exit(1)


def check(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    if n % 8:
        fail("header length %d is not a multiple of 8" % n)
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    meta = header.pop("__metadata__", None)
    if meta != META:
        fail("metadata %r != %r" % (meta, META))
    want = expected(False)
    if list(header) != list(want):
        fail("names %r, expected %r in insertion order" % (list(header), list(want)))
    spans = []
    for name, (dt, t) in want.items():
        e = header[name]
        if e["dtype"] != dt or e["shape"] != list(t.shape):
            fail("%s: %s %r, expected %s %r" % (name, e["dtype"], e["shape"], dt, list(t.shape)))
        b, end = e["data_offsets"]
        if (8 + n + b) % t.element_size():
            fail("%s: data at file offset %d is not aligned" % (name, 8 + n + b))
        got = data[b:end]
        if got != raw(t):
            fail("%s: bytes differ" % name)
        if t.numel():
            v = torch.frombuffer(bytearray(got), dtype=DTYPES[dt]).reshape(t.shape)
            if not torch.equal(v, t) or not torch.equal(torch.signbit(v.float()), torch.signbit(t.float())):
                fail("%s: values differ: %r vs %r" % (name, v, t))
        spans.append((b, end))
    # No holes: the `safetensors` package rejects files whose data has gaps.
    pos = 0
    for b, end in sorted(spans):
        if b != pos:
            fail("data section has a hole or overlap at %d" % pos)
        pos = end
    if pos != len(data):
        fail("data section is %d bytes, tensors cover %d" % (len(data), pos))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("write", "check"):
        sys.exit(__doc__)
    (write if sys.argv[1] == "write" else check)(sys.argv[2])
