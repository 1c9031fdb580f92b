"""h5py side of the HDF5 interoperability tests (tests/test_h5.c).

  ref_h5_interop.py write OUT VARIANT   writes a vclip file with h5py, with
                                        chunking, compression and types vclip's
                                        writer never uses
  ref_h5_interop.py check FILE          reads a file written by vclip with h5py
                                        and checks every value; exit 0 if equal

Both sides compute the same contents from the formulas below (also in
tests/test_h5.c: keep them in step). Every value is exact in float16."""
import sys

import h5py
import numpy as np

V, D, K = 50, 12, 4


def n_frames(v):
    return (v * 5) % 4


def frame(r):
    j = np.arange(D)
    return ((r * 7 + j * 3) % 23 - 11) / 8.0


def text(c):
    j = np.arange(D)
    return ((c * 5 + j) % 17 - 8) / 4.0


def klass(k):
    j = np.arange(D)
    return ((k + j) % 5 - 2).astype(np.float64)


def captions():
    """(video, caption text) in file order."""
    out = []
    for v in range(V):
        if v % 3:
            out.append((v, "caption %d of vid-%d \u00e9" % (len(out), v)))
        if v % 5 == 0:
            out.append((v, "caption %d of vid-%d \u00e9" % (len(out), v)))
    return out


def expected():
    off = np.zeros(V + 1, np.int64)
    for v in range(V):
        off[v + 1] = off[v] + n_frames(v)
    frames = np.array([frame(r) for r in range(off[-1])]).reshape(-1, D)
    caps = captions()
    temb = np.array([text(c) for c in range(len(caps))]).reshape(-1, D)
    splits = {"train": [v for v in range(V) if v % 10 < 8], "val": [v for v in range(V) if v % 10 == 8],
              "test": [v for v in range(V) if v % 10 == 9]}
    return off, frames, caps, temb, splits


def write(path, variant):
    off, frames, caps, temb, splits = expected()
    fdt = np.float16 if variant in ("f16_gzip", "f16_fixedstr") else np.float32
    with h5py.File(path, "w") as f:
        f.attrs["vclip_format"] = "vclip-embeddings"
        f.attrs["vclip_version"] = np.int32(1)
        f.attrs["dim"] = np.int16(D)
        f.attrs["clip_model"] = np.bytes_(b"ViT-B/32")  # a fixed-length ASCII attribute
        f.attrs["fps"] = np.float32(2.5)
        kw = dict(chunks=(7, 5), compression="gzip", compression_opts=4, shuffle=True)
        if variant == "f32_contig":
            kw = {}
        f.create_dataset("video/embeddings", data=frames.astype(fdt), maxshape=(None, D) if kw else None, **kw)
        f.create_dataset("video/offsets", data=off.astype(np.int32))
        ids = ["vid-%d" % v for v in range(V)]
        if variant == "f16_fixedstr":
            f.create_dataset("video/ids", data=np.array([s.encode() for s in ids], dtype="S8"))
        else:
            f.create_dataset("video/ids", data=ids, dtype=h5py.string_dtype())
        f.create_dataset("text/embeddings", data=temb.astype(np.float32 if fdt == np.float16 else np.float16),
                         chunks=(3, D), compression="gzip")
        f.create_dataset("text/video", data=np.array([v for v, _ in caps], np.uint32))
        f.create_dataset("text/captions", data=[t for _, t in caps], dtype=h5py.string_dtype())
        for name, idx in splits.items():
            f.create_dataset("split/" + name, data=np.array(idx, np.int32))
        f.create_dataset("video/label", data=np.arange(V, dtype=np.int8) % K)
        f.create_dataset("class/names", data=["class %d" % k for k in range(K)], dtype=h5py.string_dtype())
        f.create_dataset("class/embeddings", data=np.array([klass(k) for k in range(K)], np.float64).astype(np.float32))


def check(path):
    off, frames, caps, temb, splits = expected()
    bad = []

    def same(name, got, want):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape or not np.array_equal(got, want):
            bad.append("%s: got %r want %r" % (name, got.ravel()[:8], want.ravel()[:8]))

    with h5py.File(path, "r") as f:
        if f.attrs["vclip_format"] != "vclip-embeddings" or int(f.attrs["vclip_version"]) != 1:
            bad.append("root attributes")
        same("dim", int(f.attrs["dim"]), D)
        same("fps", float(f.attrs["fps"]), 2.5)
        if f.attrs["clip_model"] != "ViT-B/32":
            bad.append("clip_model")
        same("/video/embeddings", f["video/embeddings"][:].astype(np.float64), frames)
        if f["video/embeddings"].dtype != np.float16:
            bad.append("/video/embeddings dtype %s" % f["video/embeddings"].dtype)
        same("/video/offsets", f["video/offsets"][:], off)
        same("/video/ids", [s.decode() for s in f["video/ids"][:]], ["vid-%d" % v for v in range(V)])
        same("/text/embeddings", f["text/embeddings"][:].astype(np.float64), temb)
        same("/text/video", f["text/video"][:], [v for v, _ in caps])
        same("/text/captions", [s.decode() for s in f["text/captions"][:]], [t for _, t in caps])
        for name, idx in splits.items():
            same("/split/" + name, f["split/" + name][:], idx)
        same("/video/label", f["video/label"][:], np.arange(V) % K)
        same("/class/names", [s.decode() for s in f["class/names"][:]], ["class %d" % k for k in range(K)])
        same("/class/embeddings", f["class/embeddings"][:].astype(np.float64), [klass(k) for k in range(K)])
    for b in bad:
        print("MISMATCH", b)
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3])
    else:
        sys.exit(check(sys.argv[2]))
