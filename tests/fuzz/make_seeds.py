#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/NAME/).

Usage: make_seeds.py VCLIP_BIN [OUT_DIR]   (OUT_DIR: tests/fuzz/corpus)

The seeds are small valid inputs of each format, made the way the test
fixtures make them: vclip synth/train/export/eval for HDF5 files,
checkpoints and eval JSON; NumPy for .npy; tarfile for WebDataset shards
(the layout clip-video-encode writes); tiny CLIP checkpoints in both naming
schemes written directly in the safetensors format. They are committed, so
the harnesses and `make test` do not need this script; rerun it after a
format changes. Needs python3 with NumPy.
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

vclip = os.path.abspath(sys.argv[1])
out = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "corpus"))
repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
tmp = tempfile.mkdtemp(prefix="vclip-seeds-")


def put(harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def run(*args):
    subprocess.run([vclip, *args], check=True, stdout=subprocess.DEVNULL, cwd=tmp)


def read(p):
    with open(p, "rb") as f:
        return f.read()


# ---- HDF5 files, checkpoints, eval JSON (through vclip) ----
run("synth", "--out", "small.h5", "--videos", "40", "--dim", "8", "--min-frames", "1", "--max-frames", "4",
    "--seed", "1")
run("synth", "--out", "small32.h5", "--videos", "10", "--dim", "4", "--min-frames", "1", "--max-frames", "3", "--dtype", "f32",
    "--gzip", "1", "--seed", "2")
ini = """[data]
file = small.h5
frames = 4
[model]
type = %s
layers = 1
heads = 2
tokens = 2
hidden = 4
text_head = linear
[train]
batch = 4
steps = 2
warmup = 1
out_dir = run_%s
[eval]
batch = 4
"""
for t in ("mean", "transformer"):
    with open(os.path.join(tmp, t + ".ini"), "w") as f:
        f.write(ini % (t, t))
    run("train", t + ".ini")
run("export", "run_transformer/last.safetensors", "--out", "pooler.safetensors")
run("eval", "mean.ini", "--checkpoint", "run_mean/best.safetensors", "--split", "all", "--json", "eval.json")
run("embed", "run_mean/last.safetensors", "--data", "small.h5", "--out", "pooled.h5")

put("h5", "synth_f32_gzip.h5", read(os.path.join(tmp, "small32.h5")))


def h5py_file(name, **kw):
    """A small file written by h5py: every optional part, any layout."""
    import h5py
    rng = np.random.default_rng(len(name))
    V, D = 10, 4
    n = rng.integers(0, 4, V)
    off = np.concatenate([[0], np.cumsum(n)]).astype(kw.get("int_dtype", "<i8"))
    p = os.path.join(tmp, name)
    with h5py.File(p, "w", libver=kw.get("libver", "earliest")) as f:
        f.attrs["vclip_format"] = "vclip-embeddings"
        f.attrs["vclip_version"] = 1
        f.attrs["dim"] = D
        f.attrs["clip_model"] = "ViT-B/32"
        f.attrs["fps"] = 1.0
        ch = kw.get("chunks")
        f.create_dataset("video/embeddings", data=rng.standard_normal((int(off[-1]), D)).astype(kw.get("dtype", "<f2")),
                         chunks=(2, D) if ch else None, compression=kw.get("compression"), maxshape=(None, D) if ch else None)
        f["video/offsets"] = off
        sdt = h5py.string_dtype() if kw.get("vlen", True) else "S8"
        f.create_dataset("video/ids", data=["v%d" % i for i in range(V)], dtype=sdt, chunks=(4,) if ch else None)
        C = 7
        f["text/embeddings"] = rng.standard_normal((C, D)).astype("<f4")
        f["text/video"] = rng.integers(0, V, C)
        f.create_dataset("text/captions", data=["a cat %d" % i for i in range(C)], dtype=sdt)
        f["split/train"] = np.arange(0, 6)
        f["split/val"] = np.arange(6, 8)
        f["split/test"] = np.arange(8, 10)
        f["video/label"] = rng.integers(0, 3, V)
        f.create_dataset("class/names", data=["cat", "dog", "eel"], dtype=h5py.string_dtype())
        f["class/embeddings"] = rng.standard_normal((3, D)).astype("<f2")
        f.create_dataset("video/meta", data=['{"a": %d}' % i if i % 3 else "" for i in range(V)],
                         dtype=h5py.string_dtype())
    return read(p)


put("h5", "h5py_contiguous.h5", h5py_file("a.h5"))
put("h5", "h5py_chunked_gzip.h5", h5py_file("b.h5", chunks=True, compression="gzip", dtype="<f4"))
put("h5", "h5py_latest_fixed_strings.h5", h5py_file("c.h5", libver="latest", vlen=False, int_dtype="<i4"))

put("safetensors", "ckpt_mean.safetensors", read(os.path.join(tmp, "run_mean/last.safetensors")))
put("safetensors", "ckpt_transformer.safetensors", read(os.path.join(tmp, "run_transformer/last.safetensors")))
put("safetensors", "export_transformer.safetensors", read(os.path.join(tmp, "pooler.safetensors")))

put("json", "eval.json", read(os.path.join(tmp, "eval.json")))
put("json", "eval_zero_shot.json", json.dumps({
    "t2v": {"R@1": 1.5, "R@5": 10, "R@10": 20, "MdR": 30, "MnR": 40.5},
    "v2t": {"R@1": 2, "R@5": 11, "R@10": 21, "MdR": 29, "MnR": 39},
    "videos": 12, "captions": 20, "top1": 33.3, "top5": 66.7}, indent=2))
put("json", "meta_webvid.json", json.dumps(
    {"videoLoc": "https://example.com/v/1.mp4", "duration": "PT00H00M12S", "page_dir": "001_050",
     "caption": "a dog \u00e9t\u00e9 \"runs\"", "key": "000000001", "status": "success", "error_message": None}))
put("json", "meta_kinetics.json", json.dumps(
    {"videoID": "abc", "start_time": 12, "end_time": 22.5, "nan": float("nan"), "inf": [float("inf"), -1e308],
     "nested": {"a": [1, 2, {"b": []}], "u": "\\ud83d\\ude00"}}, indent=4))

# ---- configs ----
for name in sorted(os.listdir(os.path.join(repo, "configs"))):
    if name.endswith(".ini"):
        put("config", name, read(os.path.join(repo, "configs", name)))
put("config", "effective_config.ini", read(os.path.join(tmp, "run_transformer/config.ini")))
put("config", "with_overrides.ini", read(os.path.join(repo, "configs", "transformer.ini")) +
    b"\0train.lr=3e-4\nmodel.type = lstm\ndata.file=x.h5\neval.zero_shot=off")

# ---- .npy ----
rng = np.random.default_rng(0)
arr = rng.standard_normal((3, 4))
for name, a in (("f16.npy", arr.astype("<f2")), ("f32.npy", arr.astype("<f4")), ("f64.npy", arr),
                ("f32_big_endian.npy", arr.astype(">f4")), ("f16_fortran.npy", np.asfortranarray(arr.astype("<f2"))),
                ("one_frame_1d.npy", arr[0].astype("<f4")), ("zero_frames.npy", np.zeros((0, 4), "<f4"))):
    b = io.BytesIO()
    np.save(b, a)
    put("npy", name, b.getvalue())
b = io.BytesIO()
np.lib.format.write_array(b, arr.astype("<f4"), version=(2, 0))
put("npy", "f32_v2.npy", b.getvalue())

# ---- WebDataset shards ----
def shard(samples, gz=False):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for key, members in samples:
            for ext, data in members:
                ti = tarfile.TarInfo(key + "." + ext)
                ti.size = len(data)
                ti.mtime = 0
                t.addfile(ti, io.BytesIO(data))
    data = b.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


def npy(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


frames = [rng.standard_normal((n, 4)).astype("<f2") for n in (2, 1, 3)]
samples = [("%09d" % i, [("npy", npy(frames[i])), ("txt", ("a dog; a cat %d" % i).encode()),
                         ("json", json.dumps({"videoID": "v%d" % i, "duration": i}).encode())]) for i in range(3)]
put("wds", "shard.tar", shard(samples))
put("wds", "shard_gz.tar.gz", shard(samples[:2], gz=True))
put("wds", "shard_no_captions.tar", shard([("clips/v1.seg", [("npy", npy(frames[0]))]), ("x", [("mp4", b"\0" * 8)])]))

# ---- CSVs ----
put("csv", "captions.csv", "video,caption\na,\"hello cat, hello\"\nb.mp4,\"a \"\"quoted\"\" cat\"\r\n"
    "c.webm,\"two\nlines\"\n\na,cat\nnotvideo,hello\n")
put("csv", "captions_bom.csv", "\ufeffid,text\r\nv1,plain\r\nv2,\"x\"\r\n")
put("csv", "splits.csv", "tar_file,split\nds_000000,train\nds_000001,val\n\"ds_000002\",test\ntar_file,split\n"
    "ds_000003.tar,TRAIN\n# comment\n")
put("csv", "splits_unfilled.csv", "tar_file,split\nds_{tar_count+i:06},train\n")
put("csv", "split_ratio.csv", "0.8,0.1,0.1\n")

# ---- tokenizer text ----
for i, text in enumerate([
        "a dog catches a frisbee", "Hello, World! It's 3:45pm", "caf\u00c3\u00a9 \u00e2\u20ac\u2122 na\u00efve",
        "&amp;lt;b&amp;gt; &quot;quoted&quot; &eacute;&#233;&#x20AC; &notit;", "<start_of_text>a <end_of_text>b",
        "\u00ef\u00ac\u0081 \uff21\uff22 \u201ccurly\u201d \u2018s\u2019 \x1b[31mred\x1b[0m",
        "  many   spaces\tand\nlines\r\n", "\u6f22\u5b57 \u0391\u039b\u03a6\u0391 \u05e9\u05dc\u05d5\u05dd emoji \U0001f600",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]):
    put("tokenizer", "text%02d.txt" % i, text)
put("tokenizer", "invalid_utf8.txt", b"bad \xc3\x28 \xff\xfe \xe2\x82 end")

# ---- tiny CLIP checkpoints (safetensors written here) ----
def safetensors(tensors, meta=None):
    header, blobs, off = {}, [], 0
    for name, a in tensors:
        raw = a.tobytes()
        header[name] = {"dtype": {"float32": "F32", "float16": "F16"}[a.dtype.name], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


W, P, S, E, CTX, V, M = 8, 4, 8, 8, 6, 12, 16
G = S // P


def t(*shape, dt="float32"):
    return (rng.standard_normal(shape) * 0.1).astype(dt)


def openai(dt):
    ts = [("visual.conv1.weight", t(W, 3, P, P, dt=dt)), ("visual.class_embedding", t(W, dt=dt)),
          ("visual.positional_embedding", t(1 + G * G, W, dt=dt)),
          ("visual.ln_pre.weight", t(W, dt=dt)), ("visual.ln_pre.bias", t(W, dt=dt))]
    for tower in ("visual.transformer.resblocks.0.", "transformer.resblocks.0."):
        ts += [(tower + "ln_1.weight", t(W, dt=dt)), (tower + "ln_1.bias", t(W, dt=dt)),
               (tower + "attn.in_proj_weight", t(3 * W, W, dt=dt)), (tower + "attn.in_proj_bias", t(3 * W, dt=dt)),
               (tower + "attn.out_proj.weight", t(W, W, dt=dt)), (tower + "attn.out_proj.bias", t(W, dt=dt)),
               (tower + "ln_2.weight", t(W, dt=dt)), (tower + "ln_2.bias", t(W, dt=dt)),
               (tower + "mlp.c_fc.weight", t(M, W, dt=dt)), (tower + "mlp.c_fc.bias", t(M, dt=dt)),
               (tower + "mlp.c_proj.weight", t(W, M, dt=dt)), (tower + "mlp.c_proj.bias", t(W, dt=dt))]
        if tower.startswith("visual"):
            ts += [("visual.ln_post.weight", t(W, dt=dt)), ("visual.ln_post.bias", t(W, dt=dt)),
                   ("visual.proj", t(W, E, dt=dt)), ("token_embedding.weight", t(V, W, dt=dt)),
                   ("positional_embedding", t(CTX, W, dt=dt))]
    ts += [("ln_final.weight", t(W, dt=dt)), ("ln_final.bias", t(W, dt=dt)), ("text_projection", t(W, E, dt=dt)),
           ("logit_scale", np.array(4.6, dtype=dt))]
    return ts


def hf(dt):
    v, x = "vision_model.", "text_model."
    ts = [(v + "embeddings.patch_embedding.weight", t(W, 3, P, P, dt=dt)), (v + "embeddings.class_embedding", t(W, dt=dt)),
          (v + "embeddings.position_embedding.weight", t(1 + G * G, W, dt=dt)),
          (v + "pre_layrnorm.weight", t(W, dt=dt)), (v + "pre_layrnorm.bias", t(W, dt=dt)),
          (x + "embeddings.token_embedding.weight", t(V, W, dt=dt)),
          (x + "embeddings.position_embedding.weight", t(CTX, W, dt=dt))]
    for tower in (v + "encoder.layers.0.", x + "encoder.layers.0."):
        for n, shape in (("layer_norm1", (W,)), ("layer_norm2", (W,))):
            ts += [(tower + n + ".weight", t(*shape, dt=dt)), (tower + n + ".bias", t(*shape, dt=dt))]
        for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"):
            ts += [(tower + n + ".weight", t(W, W, dt=dt)), (tower + n + ".bias", t(W, dt=dt))]
        ts += [(tower + "mlp.fc1.weight", t(M, W, dt=dt)), (tower + "mlp.fc1.bias", t(M, dt=dt)),
               (tower + "mlp.fc2.weight", t(W, M, dt=dt)), (tower + "mlp.fc2.bias", t(W, dt=dt))]
    ts += [(v + "post_layernorm.weight", t(W, dt=dt)), (v + "post_layernorm.bias", t(W, dt=dt)),
           ("visual_projection.weight", t(E, W, dt=dt)), (x + "final_layer_norm.weight", t(W, dt=dt)),
           (x + "final_layer_norm.bias", t(W, dt=dt)), ("text_projection.weight", t(E, W, dt=dt))]
    return ts


put("safetensors", "clip_openai_f32.safetensors", safetensors(openai("float32")))
put("safetensors", "clip_hf_f16.safetensors", safetensors(hf("float16"), {"format": "pt"}))

shutil.rmtree(tmp)
for h in sorted(os.listdir(out)):
    files = os.listdir(os.path.join(out, h))
    print("%-12s %3d seeds, %7d bytes" % (h, len(files), sum(os.path.getsize(os.path.join(out, h, f)) for f in files)))
