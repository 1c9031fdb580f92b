#!/usr/bin/python3
"""ONNX Runtime peer of `vclip bench encode-image --clip random`: the same
CLIP ViT-B/32 image tower as bench/torch_vit.py, exported to ONNX by PyTorch
and timed in onnxruntime on the CPU, every core, full graph optimisation.
Two steps, because PyTorch (Debian, /usr/bin/python3) and onnxruntime (PyPI,
the virtualenv `make ort-venv` makes in build/venv-ort) live in different
interpreters:
  /usr/bin/python3 bench/ort_vit.py export build/bench/vit_b32.onnx
  build/venv-ort/bin/python bench/ort_vit.py run build/bench/vit_b32.onnx [--batch B --seconds S]
`run` prints a summary line and, last, "images/s: X"."""
import argparse
import os
import resource
import sys
import time


def export(path, batch):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_vit import build_model
    m = build_model()
    tmp = path + ".tmp"
    # Traced with grad mode on: under no_grad nn.MultiheadAttention takes its fused
    # inference path (aten::_native_multi_head_attention), which ONNX cannot express.
    torch.onnx.export(m, torch.randn(batch, 3, 224, 224), tmp, input_names=["pixels"], output_names=["embeds"],
                      dynamic_axes={"pixels": {0: "batch"}, "embeds": {0: "batch"}}, opset_version=14)
    os.replace(tmp, path)
    print(f"exported the ViT-B/32 image tower to {path} (torch {torch.__version__}, opset 14)")


def run(path, batch, seconds):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = os.cpu_count()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    feed = {"pixels": x}
    sess.run(None, feed)  # warm-up
    n, t0 = 0, time.time()
    while n < 1 or time.time() - t0 < seconds:
        sess.run(None, feed)
        n += 1
    dt = (time.time() - t0) / n
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"onnxruntime {ort.__version__} threads={os.cpu_count()} ViT-B/32 batch {batch}: {dt * 1e3:.1f} ms/batch "
          f"over {n} batches, peak RSS {rss:.0f} MB")
    print(f"images/s: {batch / dt:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["export", "run"])
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10)
    a = ap.parse_args()
    if a.step == "export":
        export(a.model, a.batch)
    else:
        run(a.model, a.batch, a.seconds)


if __name__ == "__main__":
    main()
