#!/usr/bin/env python3
"""Independent NumPy reference for eval/metrics.c (used by tests/test_metrics.c).

usage: ref_metrics.py IN.bin OUT.json

IN.bin (little-endian), written by the C test:
  b"VCMT", int32 version (1), int64 Nv, Nc, Nk, D,
  float32 V[Nv, D], float32 C[Nc, D], int64 cap_video[Nc],
  then if Nk > 0: float32 K[Nk, D], int64 labels[Nv].
OUT.json: per-query ranks of both directions (v2t: 0 for a video without
captions), the metrics of each direction and, with classes, top1/top5.

Rules (the spec, restated): with one true item (text->video, classes) its
rank is the number of candidates, itself included, scoring >= it; a video's
video->text rank is 1 + the number of OTHER videos' captions scoring >= its
best own caption (own captions never count against each other; a NaN other
caption counts against; if every own score is NaN, 1 + all other captions);
MdR is numpy.median of the ranks.
Scores are computed in float64; the C test feeds data whose dot products are
exact in float32 too, so ranks must agree exactly.
"""
import json
import struct
import sys

import numpy as np


def read_input(path):
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != b"VCMT":
        raise SystemExit("%s: bad magic" % path)
    (version,) = struct.unpack_from("<i", buf, 4)
    if version != 1:
        raise SystemExit("%s: unknown version %d" % (path, version))
    nv, nc, nk, d = struct.unpack_from("<4q", buf, 8)
    off = 40

    def take(dtype, count):
        nonlocal off
        a = np.frombuffer(buf, dtype=dtype, count=count, offset=off)
        off += a.nbytes
        return a

    V = take("<f4", nv * d).reshape(nv, d)
    C = take("<f4", nc * d).reshape(nc, d)
    cap = take("<i8", nc)
    K = labels = None
    if nk > 0:
        K = take("<f4", nk * d).reshape(nk, d)
        labels = take("<i8", nv)
    if off != len(buf):
        raise SystemExit("%s: %d bytes left over" % (path, len(buf) - off))
    return V, C, cap, K, labels


def true_ranks(S, truth):
    """S[q, x]; rank of column truth[q] in row q, ties against the model."""
    t = S[np.arange(S.shape[0]), truth]
    return (S >= t[:, None]).sum(axis=1)


def best_own_ranks(S, owner):
    """S[q, x]; candidate x belongs to query owner[x]; 1 + wrong candidates
    not strictly below the best non-NaN own score (all of them if none)."""
    nq = S.shape[0]
    out = np.zeros(nq, dtype=np.int64)
    for q in range(nq):
        mine = owner == q
        if not mine.any():
            continue
        row = S[q]
        own = row[mine]
        own = own[~np.isnan(own)]
        best = own.max() if own.size else np.nan
        # ~(row < nan) is True, so a NaN best counts every wrong candidate
        out[q] = 1 + int((~mine & ~(row < best)).sum())
    return out


def recall(ranks):
    r = ranks[ranks > 0].astype(np.float64)
    return {
        "R@1": 100.0 * np.mean(r <= 1),
        "R@5": 100.0 * np.mean(r <= 5),
        "R@10": 100.0 * np.mean(r <= 10),
        "MdR": float(np.median(r)),
        "MnR": float(np.mean(r)),
        "queries": int(r.size),
    }


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    V, C, cap, K, labels = read_input(sys.argv[1])
    V64, C64 = V.astype(np.float64), C.astype(np.float64)
    S = C64 @ V64.T  # [Nc, Nv]
    t2v = true_ranks(S, cap)
    v2t = best_own_ranks(S.T, cap)
    out = {
        "t2v_ranks": t2v.tolist(),
        "v2t_ranks": v2t.tolist(),
        "t2v": recall(t2v),
        "v2t": recall(v2t),
        "v2t_excluded": int((v2t == 0).sum()),
    }
    if K is not None:
        Sk = V64 @ K.astype(np.float64).T  # [Nv, Nk]
        truth = Sk[np.arange(Sk.shape[0]), labels]
        others = (Sk >= truth[:, None]).sum(axis=1) - 1  # other classes >= true
        out["cls_ranks"] = (others + 1).tolist()
        out["top1"] = 100.0 * float(np.mean(others < 1))
        out["top5"] = 100.0 * float(np.mean(others < 5))
    with open(sys.argv[2], "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
