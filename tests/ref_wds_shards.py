#!/usr/bin/env python3
"""Shards and directories written the way the published embedding sets were,
for tests/test_import.c, and the check of what vclip imported from them.

  ref_wds_shards.py --check
      exits 0 when webdataset 0.1.103's TarWriter can be loaded (the version
      clip-video-encode 1.3.0 requires: webdataset>=0.1.103,<0.2).
  ref_wds_shards.py write DIR
      DIR/cve/: clip-video-encode 1.3.0 WebDatasetWriter output (WebVid-like):
        000000000.tar, 000000001.tar ({id:09d}.tar, 4 samples a shard) and
        00002_clip_embeddings.tar (the later naming); frames float16 (GPU),
        float32 (CPU), float64 (its live encoder), big-endian '>f2' '>f4' '>f8'
        and a Fortran-order array; TEA-style ';'-joined captions; KEY.json as
        json.dumps(metadata, indent=4) (videoLoc, duration, page_dir, a NaN, a
        non-ASCII title); samples without caption or metadata; samples vclip
        must skip (a value beyond float32, beyond float16 only, a NaN).
      DIR/k700/: CLIP-Kinetics700 as create_shards.py makes it (ShardWriter,
        ds_%06d.tar, 3 samples a shard, a new shard per split, KEY.txt = the
        class name, KEY.json = json.dumps(json.load(...)) of videoID,
        start_time, end_time) and its splits.csv (header tar_file,split, names
        without .tar), plus splits_unfilled.csv as 1.3.0's script really
        writes it (the f of its f-string missing).
      DIR/files/: clip-video-encode's FileWriter output (KEY.npy + KEY.txt +
        KEY.json per video), float64 and big-endian.
  ref_wds_shards.py verify H5 SCENARIO DTYPE
      reads H5 with h5py and checks every video, frame value (bit for bit
      against numpy's astype(DTYPE) of the array written), caption, metadata
      string, class name, label and split against what `write` wrote for
      SCENARIO (cve, cve-sep, k700, files). Exit 1 with the first difference.

webdataset 0.1.103's package __init__ fails on Python 3.11 (it seeds random
with a tuple), so only its writer module is loaded, without the __init__:
writer.py needs nothing else of the package but gopen. Run it with
build/venv-wds/bin/python (see `make wds-ref`); h5py and numpy may come from
the system.
"""
import importlib.metadata
import importlib.util
import io
import json
import math
import os
import sys
import types

WDS_VERSION = "0.1.103"
D = 16


def load_writer():
    spec = importlib.util.find_spec("webdataset")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("webdataset is not installed")
    version = importlib.metadata.version("webdataset")
    if version != WDS_VERSION:
        raise ImportError(f"webdataset {version} installed, need {WDS_VERSION}")
    pkg = types.ModuleType("webdataset")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["webdataset"] = pkg
    import webdataset.writer as writer  # noqa: E402  (the package stand-in above)

    return writer


# ---- the samples ----------------------------------------------------------

def frames(seed, n, dtype, scale=1.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)) * scale  # float64, as the live encoder's
    return x.astype(dtype)


def cve_samples():
    """(key, array, metadata or None, outcome) in the order written.
    outcome: "ok", or the skip reason vclip reports for f16 / f32 storage."""
    import numpy as np

    fort = np.asfortranarray(frames(7, 5, np.float32))
    assert fort.flags.f_contiguous and not fort.flags.c_contiguous
    big = frames(9, 2, np.float64)
    big[1, 3] = 1e39  # beyond float32
    f16big = frames(10, 2, np.float32)
    f16big[0, 0] = 70000.0  # beyond float16 only
    nan = frames(11, 2, np.float64)
    nan[1, 1] = float("nan")
    # values near float16 rounding ties, where rounding float64 twice (to
    # float32, then to float16) differs from rounding once
    tie = np.array([1 + 2.0**-11 + 2.0**-40, 1 + 2.0**-11 - 2.0**-40, 1 + 3 * 2.0**-11 - 2.0**-40,
                    -(2 + 2.0**-10 + 2.0**-37), 0.1, 65519.99, 6e-8, 2.0**-25 + 2.0**-60] + [0.5] * (D - 8))
    tie = np.stack([tie, -tie])
    webvid = lambda i: {"videoLoc": f"https://ak.picdn.net/shutterstock/videos/{1000 + i}/preview/stock-footage.mp4",
                        "duration": f"PT00H00M{10 + i}S", "page_dir": "011401_011450"}
    s = [
        ("1066674784", frames(0, 3, np.float16), dict(webvid(0), caption="a dog runs;a dog is running ;; a brown dog "), "ok"),
        ("1066674785", frames(1, 4, np.float32), dict(webvid(1), caption="Cooking pasta", title="Crème brûlée ☕"), "ok"),
        ("1066674786", frames(2, 2, np.float64), dict(webvid(2), caption="live encoder output", duration=float("nan")), "ok"),
        ("1066674787", frames(3, 3, np.dtype(">f4")), dict(webvid(3), caption="big-endian float32"), "ok"),
        ("1066674788", frames(4, 1, np.dtype(">f8")), dict(webvid(4), caption="big-endian float64"), "ok"),
        ("1066674789", frames(5, 2, np.dtype(">f2")), dict(webvid(5), caption="big-endian float16"), "ok"),
        ("1066674790", fort, dict(webvid(6), caption="fortran order"), "ok"),
        ("1066674791", frames(8, 2, np.float32), None, "ok"),  # no caption, no metadata
        ("1066674792", big, {"caption": "too big for float32"}, ("out of range", "out of range")),
        ("1066674793", f16big, dict(webvid(9), caption="too big for float16"), ("out of range", "ok")),
        ("1066674794", nan, {"caption": "has a NaN"}, ("non-finite", "non-finite")),
        ("1066674795", tie, dict(webvid(11)), "ok"),  # metadata, no caption
        ("1066674796", frames(12, 0, np.float16), {"caption": "no frames"}, "ok"),
    ]
    return s


KINETICS = ["abseiling", "air drumming", "zumba", "crème brûlée making", "ice skating", "abseiling", "zumba",
            "air drumming", "abseiling", "ice skating"]
K700_SPLITS = [("train", 5), ("val", 2), ("test", 3)]


def k700_samples():
    """(split, key, array, class name, json text) as create_shards.py writes them."""
    import numpy as np

    out, i = [], 0
    for split, n in K700_SPLITS:
        for _ in range(n):
            meta = {"videoID": f"yt{i:09d}", "start_time": f"{10 * i:06d}", "end_time": f"{10 * i + 10:06d}"}
            # kinetics700_example_process.py json.dump()s it, create_shards.py json.dumps(json.load())
            out.append((split, f"vid_{i:09d}", frames(100 + i, 2 + i % 3, np.float16), KINETICS[i], json.dumps(meta)))
            i += 1
    return out


def files_samples():
    import numpy as np

    return [
        ("clip.a", frames(20, 3, np.float64), {"caption": "float64 from the live encoder", "duration": 3.5}),
        ("clip.b", frames(21, 2, np.dtype(">f4")), {"caption": "big-endian"}),
        ("clip.c", frames(22, 1, np.dtype(">f8")), None),
    ]


# ---- writing --------------------------------------------------------------

class CveWebDatasetWriter:
    """Makes the calls clip-video-encode 1.3.0's writer.WebDatasetWriter
    makes: a TarWriter on an open file per shard, a new shard every maxcount
    samples, sample {"__key__", "npy", "txt" (the caption popped from the
    metadata), "json" (json.dumps of the rest, indent=4)}."""

    def __init__(self, writer_mod, folder, maxcount, shard_id, name):
        self.w, self.folder, self.maxcount, self.shard_id, self.name = writer_mod, folder, maxcount, shard_id, name
        self.count, self.fd, self.tw = 0, None, None
        self.open_shard()

    def open_shard(self):
        self.close()
        self.fd = open(os.path.join(self.folder, self.name(self.shard_id)), "wb")
        self.tw = self.w.TarWriter(self.fd)

    def write(self, arr, key, metadata):
        if self.count >= self.maxcount:
            self.shard_id += 1
            self.count = 0
            self.open_shard()
        sample = {"__key__": str(key), "npy": arr}
        if metadata is not None:
            metadata = dict(metadata)
            if "caption" in metadata:
                sample["txt"] = str(metadata.pop("caption"))
            if metadata:
                sample["json"] = json.dumps(metadata, indent=4)
        self.tw.write(sample)
        self.count += 1

    def close(self):
        if self.tw is not None:
            self.tw.close()
            self.fd.close()
            self.tw = None


def write_all(out):
    import csv

    import numpy as np

    writer = load_writer()
    cve = os.path.join(out, "cve")
    os.makedirs(cve, exist_ok=True)
    samples = cve_samples()
    w = CveWebDatasetWriter(writer, cve, 4, 0, lambda i: "{:09d}.tar".format(i))
    for key, arr, meta, _ in samples[:8]:
        w.write(arr, key, meta)
    w.close()
    w = CveWebDatasetWriter(writer, cve, 100, 2, lambda i: "{:05d}_clip_embeddings.tar".format(i))
    for key, arr, meta, _ in samples[8:]:
        w.write(arr, key, meta)
    w.close()

    k7 = os.path.join(out, "k700")
    os.makedirs(k7, exist_ok=True)
    with open(os.path.join(k7, "splits.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["tar_file", "split"])
    with open(os.path.join(k7, "splits_unfilled.csv"), "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["tar_file", "split"])
    sink = writer.ShardWriter(os.path.join(k7, "ds_%06d.tar"), maxcount=3, maxsize=int(1e9))
    sink.verbose = 0
    ks, tar_count, maxcount = k700_samples(), 0, 3
    for split, n in K700_SPLITS:
        n_tars = n // maxcount + (n % maxcount != 0)
        with open(os.path.join(k7, "splits.csv"), "a", newline="", encoding="utf-8") as f:
            for i in range(n_tars):
                csv.writer(f).writerow((f"ds_{tar_count + i:06}", split))
        with open(os.path.join(k7, "splits_unfilled.csv"), "a", newline="", encoding="utf-8") as f:
            for i in range(n_tars):
                csv.writer(f).writerow(("ds_{tar_count+i:06}", split))
        tar_count += n_tars
        for sp, key, arr, name, js in ks:
            if sp == split:
                sink.write({"__key__": key, "npy": arr, "txt": name, "json": js})
        sink.next_stream()
    sink.close()

    files = os.path.join(out, "files")
    os.makedirs(files, exist_ok=True)
    for key, arr, meta in files_samples():
        # clip-video-encode's FileWriter: np.save into a buffer, caption and
        # the rest of the metadata (indent=4) beside it
        buf = io.BytesIO()
        np.save(buf, arr)
        with open(os.path.join(files, key + ".npy"), "wb") as f:
            f.write(buf.getbuffer())
        if meta is not None:
            meta = dict(meta)
            if "caption" in meta:
                with open(os.path.join(files, key + ".txt"), "w") as f:
                    f.write(str(meta.pop("caption")))
            if meta:
                with open(os.path.join(files, key + ".json"), "w") as f:
                    f.write(json.dumps(meta, indent=4))


# ---- checking -------------------------------------------------------------

class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def strs(ds):
    return [s.decode("utf-8") if isinstance(s, bytes) else s for s in ds[:]]


def json_equal(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def expected(scenario, dtype):
    """[(id, array, captions, meta json text or None, class name or None, split or None)]"""
    out = []
    if scenario in ("cve", "cve-sep"):
        for key, arr, meta, outcome in cve_samples():
            if outcome != "ok" and outcome[0 if dtype == "float16" else 1] != "ok":
                continue
            meta = dict(meta) if meta else {}
            cap = meta.pop("caption", None)
            caps = [] if cap is None else [cap.strip()]
            if cap is not None and scenario == "cve-sep":
                caps = [p.strip() for p in cap.split(";") if p.strip()]
            out.append((key, arr, caps, json.dumps(meta, indent=4) if meta else None, None, None))
    elif scenario == "k700":
        for split, key, arr, name, js in k700_samples():
            out.append((key, arr, [name], js, name, split))
    elif scenario == "files":
        for key, arr, meta in sorted(files_samples(), key=lambda s: s[0].encode()):
            meta = dict(meta) if meta else {}
            cap = meta.pop("caption", None)
            out.append((key, arr, [] if cap is None else [cap], json.dumps(meta, indent=4) if meta else None, None, None))
    else:
        raise Mismatch(f"unknown scenario {scenario}")
    return out


def verify(h5_path, scenario, dtype):
    import h5py
    import numpy as np

    want = expected(scenario, dtype)
    with h5py.File(h5_path, "r") as f:
        ids = strs(f["video/ids"])
        expect(ids == [w[0] for w in want], f"ids {ids} != {[w[0] for w in want]}")
        emb, off = f["video/embeddings"], f["video/offsets"][:]
        expect(emb.dtype == np.dtype(dtype), f"stored dtype {emb.dtype}, expected {dtype}")
        emb = emb[:]
        caps = strs(f["text/captions"]) if "text/captions" in f else []
        cap_video = f["text/video"][:]
        meta = strs(f["video/meta"]) if "video/meta" in f else None
        for v, (key, arr, wcaps, wmeta, _cls, _split) in enumerate(want):
            got = emb[off[v]:off[v + 1]]
            ref = np.ascontiguousarray(arr).astype(dtype)  # numpy's own conversion, from the original dtype
            expect(got.shape == ref.shape, f"{key}: frames {got.shape}, expected {ref.shape}")
            bits = np.uint16 if dtype == "float16" else np.uint32
            expect(np.array_equal(got.view(bits), ref.view(bits)),
                   f"{key}: frames differ from numpy's astype({dtype}) at "
                   f"{np.argwhere(got.view(bits) != ref.view(bits))[:3].tolist()}")
            gcaps = [caps[c] for c in range(len(cap_video)) if cap_video[c] == v]
            expect(gcaps == wcaps, f"{key}: captions {gcaps}, expected {wcaps}")
            if wmeta is None:
                expect(meta is None or meta[v] == "", f"{key}: metadata {meta[v] if meta else None!r}, expected none")
            else:
                expect(meta is not None, "no /video/meta")
                compact = json.dumps(json.loads(wmeta), separators=(",", ":"))
                expect(meta[v] == compact, f"{key}: metadata {meta[v]!r}, expected {compact!r}")
                expect(json_equal(json.loads(meta[v]), json.loads(wmeta)), f"{key}: metadata does not load the same")
        if scenario == "k700":
            names = strs(f["class/names"])
            wnames = sorted({w[4] for w in want}, key=lambda s: s.encode("utf-8"))
            expect(names == wnames, f"class names {names}, expected {wnames}")
            labels = f["video/label"][:].tolist()
            wl = [wnames.index(w[4]) for w in want]
            expect(labels == wl, f"labels {labels}, expected {wl}")
            for split in ("train", "val", "test"):
                got = f["split/" + split][:].tolist()
                ws = [v for v, w in enumerate(want) if w[5] == split]
                expect(got == ws, f"split {split}: {got}, expected {ws}")
        else:
            expect("class" not in f and "video/label" not in f, "unexpected classes")


def main(argv):
    if len(argv) == 2 and argv[1] == "--check":
        try:
            load_writer()
        except Exception as e:  # noqa: BLE001  (any failure means: no reference)
            print(f"ref_wds_shards: {e}", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 3 and argv[1] == "write":
        write_all(argv[2])
        print("ok")
        return 0
    if len(argv) == 5 and argv[1] == "verify":
        try:
            verify(argv[2], argv[3], argv[4])
        except Mismatch as e:
            print(f"ref_wds_shards: {argv[2]}: {e}", file=sys.stderr)
            return 1
        print("ok")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
