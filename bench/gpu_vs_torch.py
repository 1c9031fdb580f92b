#!/usr/bin/env python3
"""vclip against PyTorch eager on the same GPU, in one run (issue 11 section 4,
issue 13's GPU tower). tools/gpu_check.sh runs it on a lent GPU machine.

  - the pooler training step (transformer: B=128, T=32, D=512, 4 layers, 8
    heads; LSTM: the same B, T, D), fp32 and TF32, for both sides: samples/s,
    the ratio, peak GPU memory of each (the process's, read with nvidia-smi
    while it runs, the same way for both; PyTorch's allocator peak beside it);
    the transformer also in bf16 (issue 13): vclip `--precision bf16` against
    PyTorch under torch.autocast(dtype=torch.bfloat16) on the same device;
  - the step's matrix products as a share of plain cuBLAS (torch.matmul at
    the same shapes and precision: forward, input- and weight-gradient of
    every projection, as `vclip bench train` does against sgemm on the CPU);
  - the CLIP ViT-B/32 image tower (bench/torch_vit.py) in PyTorch fp16 eager
    against vclip's bf16 and fp16 towers: images/s and the ratio.

Every measurement runs in its own child process (this script with --worker),
so one side's allocator cache or CUDA context does not count against the
other. The vclip side is `vclip bench train --device cuda [--tf32 | --precision bf16]` and
`vclip bench encode-image --clip random --device cuda --precision P`; where
the binary was built without CUDA, or its bench lacks an option, that line
says NOT BUILT or NOT READY and no number is printed for it.

--tiny --device cpu runs the PyTorch half on tiny shapes on the CPU (what
this script's own check does where there is no GPU).
Usage: gpu_vs_torch.py [--vclip BIN] [--device cuda|cpu] [--seconds S] [--tiny]
                       [--parts transformer,lstm,vit] [--json FILE]"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FULL = dict(batch=128, frames=32, dim=512, layers=4, heads=8, vit_batch=256, vit_width=768, vit_layers=12)
TINY = dict(batch=8, frames=4, dim=32, layers=1, heads=2, vit_batch=2, vit_width=64, vit_layers=1)


# ---------------------------------------------------------------- workers
def torch_setup(device, mode):
    """fp32 = IEEE float32 products everywhere; tf32 = TF32 tensor cores for
    matmul and cuDNN (the LSTM), as vclip's --tf32; bf16 = float32 set up as
    fp32, the step then runs under autocast to bf16 (worker_pooler)."""
    import torch
    import warnings
    warnings.filterwarnings("ignore")
    tf32 = mode == "tf32"
    try:  # PyTorch >= 2.9: one setting per backend and op; the legacy flags must not be mixed in
        new_api = [torch.backends.cuda.matmul, torch.backends.cudnn.conv, torch.backends.cudnn.rnn]
        for o in new_api:
            getattr(o, "fp32_precision")
    except (AttributeError, AssertionError):
        new_api = None
    if new_api:
        for o in new_api:
            o.fp32_precision = "tf32" if tf32 else "ieee"
    else:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
    if device == "cpu":
        torch.set_num_threads(os.cpu_count())
    return torch


def sync(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_alloc(torch, device):
    return torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan")


def worker_pooler(a, sh):
    """The PyTorch twin of `vclip bench train`: bench/torch_pooler.py's step."""
    torch = torch_setup(a.device, a.mode)
    sys.path.insert(0, HERE)
    from torch_pooler import training_step
    B = sh["batch"]
    # bf16: PyTorch's own mixed precision (torch.autocast to bfloat16: float32
    # master weights and optimiser, the products in bf16), on a CPU too
    step = training_step(a.model, B, sh["frames"], sh["dim"], sh["layers"], sh["heads"], device=a.device,
                         autocast=a.mode == "bf16")

    for _ in range(3):
        step()
    sync(torch, a.device)
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < a.seconds:
        loss = step()
        n += 1
    sync(torch, a.device)
    dt = (time.perf_counter() - t0) / n
    return dict(samples_s=B / dt, ms_step=dt * 1e3, steps=n, loss=loss, alloc_mb=peak_alloc(torch, a.device),
                torch=torch.__version__, cudnn=torch.backends.cudnn.version() if a.device != "cpu" else None)


def matmul_work(model, sh):
    """Multiply-add work x 2 of one training step's products, and the
    (out, in) shapes of its projections (tools/cmd_bench.c's count)."""
    N, D, T, L = sh["batch"] * sh["frames"], sh["dim"], sh["frames"], sh["layers"]
    if model == "transformer":
        return 3.0 * L * (24.0 * N * D * D + 4.0 * N * T * D), [(3 * D, D), (D, D), (4 * D, D), (D, 4 * D)]
    return 40.0 * N * D * D, [(4 * D, D)]


def worker_matmul(a, sh):
    """Plain cuBLAS through torch.matmul on the step's shapes: forward
    X W^T, input gradient Y W, weight gradient Y^T X, each projection (bf16:
    bf16 operands, float32 accumulation inside cuBLAS)."""
    torch = torch_setup(a.device, a.mode)
    dev = torch.device(a.device)
    dt = torch.bfloat16 if a.mode == "bf16" else torch.float32
    R = sh["batch"] * sh["frames"]
    _, shapes = matmul_work(a.model, sh)
    mats = []
    for O, In in shapes:
        mats.append((torch.randn(R, In, device=dev, dtype=dt), torch.randn(O, In, device=dev, dtype=dt),
                     torch.randn(R, O, device=dev, dtype=dt), O, In))

    def once():
        fl = 0.0
        for X, W, Y, O, In in mats:
            torch.matmul(X, W.t())
            torch.matmul(Y, W)
            torch.matmul(Y.t(), X)
            fl += 6.0 * R * O * In
        return fl

    once()
    sync(torch, a.device)
    fl, t0 = 0.0, time.perf_counter()
    while time.perf_counter() - t0 < min(a.seconds, 2.0):
        for _ in range(10):
            fl += once()
        sync(torch, a.device)
    return dict(gflops=fl / (time.perf_counter() - t0) * 1e-9)


def worker_vit(a, sh):
    """bench/torch_vit.py's ViT-B/32 image tower, fp16 (or fp32 on a CPU), eval, inference_mode."""
    torch = torch_setup(a.device, "fp32")
    sys.path.insert(0, HERE)
    from torch_vit import build_model
    dev = torch.device(a.device)
    dtype = torch.float16 if a.device != "cpu" else torch.float32
    m = build_model(32, sh["vit_width"], sh["vit_layers"]).to(dev, dtype)
    x = torch.randn(sh["vit_batch"], 3, 224, 224, device=dev, dtype=dtype)
    with torch.inference_mode():
        for _ in range(3):
            m(x)
        sync(torch, a.device)
        n, t0 = 0, time.perf_counter()
        while n < 3 or time.perf_counter() - t0 < a.seconds:
            m(x)
            n += 1
        sync(torch, a.device)
        dt = (time.perf_counter() - t0) / n
    return dict(images_s=sh["vit_batch"] / dt, ms_batch=dt * 1e3, dtype=str(dtype).replace("torch.", ""),
                alloc_mb=peak_alloc(torch, a.device))


# ---------------------------------------------------------------- parent
def smi(query):
    out = subprocess.run(["nvidia-smi", query, "--format=csv,noheader,nounits"], capture_output=True, text=True,
                         timeout=5).stdout
    return [[x.strip() for x in line.split(",")] for line in out.splitlines() if line.strip()]


class GpuMem:
    """Largest GPU memory nvidia-smi shows for one process while it runs; where
    it lists no processes (some VMs), the device's used memory above what was
    used before the child started (one child runs at a time)."""

    def __init__(self, pid, enabled):
        self.pid, self.peak, self.ok, self.stop = pid, 0.0, False, threading.Event()
        self.base, self.dev_peak = None, 0.0
        self.t = threading.Thread(target=self.run, daemon=True) if enabled else None
        if self.t:
            try:
                self.base = float(smi("--query-gpu=memory.used")[0][0])
            except (OSError, subprocess.SubprocessError, IndexError, ValueError):
                self.base = None
            self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                for p in smi("--query-compute-apps=pid,used_memory"):
                    if len(p) == 2 and p[0] == str(self.pid) and p[1].isdigit():
                        self.peak, self.ok = max(self.peak, float(p[1])), True
                if self.base is not None:
                    self.dev_peak = max(self.dev_peak, float(smi("--query-gpu=memory.used")[0][0]) - self.base)
            except (OSError, subprocess.SubprocessError, IndexError, ValueError):
                return
            self.stop.wait(0.1)

    def done(self):
        self.stop.set()
        if self.t:
            self.t.join()
        if self.ok:
            return self.peak
        return self.dev_peak if self.base is not None and self.dev_peak > 0 else float("nan")


def run_child(cmd, gpu, timeout):
    """Runs cmd; returns (rc, output, peak GPU MiB by nvidia-smi or nan)."""
    t0 = time.time()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        return 127, str(e), float("nan")
    mem = GpuMem(p.pid, gpu)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        out += f"\n(timed out after {time.time() - t0:.0f} s)"
        return 124, out, mem.done()
    return p.returncode, out, mem.done()


def torch_child(a, kind, model, mode, gpu):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--model", model, "--mode", mode,
           "--device", a.device, "--seconds", str(a.seconds)] + (["--tiny"] if a.tiny else [])
    rc, out, mem = run_child(cmd, gpu, a.timeout)
    lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
    if rc or not lines:
        return None, out.strip().splitlines()[-1] if out.strip() else f"exit {rc}", mem
    return json.loads(lines[-1][7:]), None, mem


def vclip_state(vclip):
    """'ok', or the reason the vclip half cannot run (NOT BUILT ...)."""
    if not vclip:
        return "NOT BUILT: no vclip binary given (--vclip)"
    try:
        ver = subprocess.run([vclip, "version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"NOT BUILT: {vclip} does not run ({e})"
    if ver.returncode:
        return f"NOT BUILT: {vclip} version exits {ver.returncode}: {(ver.stderr or ver.stdout).strip()[:200]}"
    text = ver.stdout
    if not re.search(r"\bCUDA\b", text) or re.search(r"CUDA: *not built", text, re.I):
        return "NOT BUILT: this vclip has no CUDA backend (`vclip version`: " + " | ".join(text.strip().splitlines()) + ")"
    return "ok"


def num(pattern, text):
    m = re.findall(pattern, text)
    return float(m[-1]) if m else None


def not_ready(out):
    """A bench that rejects --device/--tf32/--precision is not ready; other failures are failures."""
    if re.search(r"unknown option (--device|--tf32|--precision)|unknown (precision|device)|not (supported|implemented)", out, re.I):
        return "NOT READY: " + out.strip().splitlines()[-1][:200]
    return "FAILED: " + (out.strip().splitlines()[-1][:200] if out.strip() else "no output")


def vclip_pooler(a, sh, model, mode, gpu):
    cmd = [a.vclip, "bench", "train", "--model", model, "--batch", str(sh["batch"]), "--frames", str(sh["frames"]),
           "--dim", str(sh["dim"]), "--layers", str(sh["layers"]), "--heads", str(sh["heads"]),
           "--seconds", str(a.seconds), "--device", a.device] + (["--tf32"] if mode == "tf32" else []) + \
          (["--precision", "bf16"] if mode == "bf16" else [])
    rc, out, mem = run_child(cmd, gpu, a.timeout)
    sps = num(r"samples/s: *([0-9.]+)", out)
    if rc or sps is None:
        return None, not_ready(out), mem
    if mode == "bf16" and re.search(r"computing in float32", out):  # the device has no bf16 products: no bf16 number
        return None, "NOT READY: " + re.findall(r".*computing in float32.*", out)[0].strip()[:200], mem
    own = num(r"peak (?:GPU|device) memory[^0-9]*([0-9.]+) *M", out)
    return dict(samples_s=sps, alloc_mb=own if own is not None else float("nan")), None, mem


def vclip_vit(a, sh, prec, gpu):
    cmd = [a.vclip, "bench", "encode-image", "--clip", "random", "--batch", str(sh["vit_batch"]),
           "--seconds", str(a.seconds), "--device", a.device, "--precision", prec]
    rc, out, mem = run_child(cmd, gpu, a.timeout)
    ips = num(r"images/s: *([0-9.]+)", out)
    if rc or ips is None:
        return None, not_ready(out), mem
    return dict(images_s=ips), None, mem


def fmt(x, f="{:.1f}"):
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f.format(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vclip", default=None)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per child process")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--parts", default="transformer,lstm,vit")
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", choices=["pooler", "matmul", "vit"])
    ap.add_argument("--model", default="transformer")
    ap.add_argument("--mode", default="fp32")
    a = ap.parse_args()
    sh = TINY if a.tiny else FULL
    if a.worker:
        r = {"pooler": worker_pooler, "matmul": worker_matmul, "vit": worker_vit}[a.worker](a, sh)
        print("RESULT " + json.dumps(r), flush=True)
        return 0
    gpu = a.device.startswith("cuda")
    state = vclip_state(a.vclip)
    parts = [p for p in a.parts.split(",") if p]
    rows, results, bad = [], {}, False
    print(f"gpu_vs_torch: device {a.device}, {'tiny' if a.tiny else 'full'} shapes {sh}, {a.seconds:g} s per measurement",
          flush=True)
    print(f"gpu_vs_torch: vclip {a.vclip or '-'}: {state}", flush=True)
    for model in [p for p in parts if p in ("transformer", "lstm")]:
        work, _ = matmul_work(model, sh)
        for mode in ("fp32", "tf32", "bf16") if model == "transformer" else ("fp32", "tf32"):
            key = f"{model} {mode}"
            t, terr, tmem = torch_child(a, "pooler", model, mode, gpu)
            mm, mmerr, _ = torch_child(a, "matmul", model, mode, gpu)
            if state == "ok":
                v, verr, vmem = vclip_pooler(a, sh, model, mode, gpu)
            else:
                v, verr, vmem = None, state.split(":")[0], float("nan")
            plain = mm["gflops"] if mm else None
            r = dict(torch=t, torch_err=terr, torch_smi_mb=tmem, vclip=v, vclip_err=verr, vclip_smi_mb=vmem,
                     plain_gflops=plain, work_gflop=work * 1e-9)
            results[key] = r
            bad |= t is None or (state == "ok" and v is None and not (verr or "").startswith("NOT READY"))
            tsps = t["samples_s"] if t else None
            vsps = v["samples_s"] if v else None
            share = lambda sps: 100 * work / (sh["batch"] / sps) / (plain * 1e9) if sps and plain else None
            print(f"{key}: PyTorch eager {fmt(tsps)} samples/s ({terr or 'ok'}; peak {fmt(tmem, '{:.0f}')} MiB by nvidia-smi, "
                  f"{fmt(t['alloc_mb'] if t else None, '{:.0f}')} MiB allocator) | vclip {fmt(vsps)} samples/s "
                  f"({verr or 'ok'}; peak {fmt(vmem, '{:.0f}')} MiB by nvidia-smi) | plain cuBLAS (torch.matmul) "
                  f"{fmt(plain)} GFLOP/s{'' if plain else ' (' + str(mmerr) + ')'}", flush=True)
            rows.append((key, fmt(vsps), fmt(tsps), fmt(vsps / tsps if vsps and tsps else None, "{:.2f}x"),
                         fmt(vmem, "{:.0f}"), fmt(tmem, "{:.0f}"),
                         fmt(vmem / tmem if v and tmem and not math.isnan(vmem) else None, "{:.2f}"),
                         fmt(share(vsps), "{:.0f}%"), fmt(share(tsps), "{:.0f}%"), verr or ""))
    if "vit" in parts:
        t, terr, tmem = torch_child(a, "vit", "vit", "fp16", gpu)
        results["vit torch"] = dict(r=t, err=terr, smi_mb=tmem)
        bad |= t is None
        tips = t["images_s"] if t else None
        print(f"ViT-B/32 image tower batch {sh['vit_batch']}: PyTorch eager {t['dtype'] if t else '?'} {fmt(tips)} images/s "
              f"({terr or 'ok'}; peak {fmt(tmem, '{:.0f}')} MiB by nvidia-smi)", flush=True)
        for prec in ("bf16", "fp16"):
            if state == "ok":
                v, verr, vmem = vclip_vit(a, sh, prec, gpu)
            else:
                v, verr, vmem = None, state.split(":")[0], float("nan")
            results[f"vit vclip {prec}"] = dict(r=v, err=verr, smi_mb=vmem)
            vips = v["images_s"] if v else None
            print(f"ViT-B/32 vclip {prec}: {fmt(vips)} images/s ({verr or 'ok'}; peak {fmt(vmem, '{:.0f}')} MiB by nvidia-smi)",
                  flush=True)
            rows.append((f"ViT-B/32 {prec} vs torch fp16", fmt(vips), fmt(tips),
                         fmt(vips / tips if vips and tips else None, "{:.2f}x"), fmt(vmem, "{:.0f}"), fmt(tmem, "{:.0f}"),
                         fmt(vmem / tmem if v and tmem and not math.isnan(vmem) else None, "{:.2f}"), "-", "-", verr or ""))
    hdr = ("step", "vclip/s", "torch/s", "ratio", "vclip MiB", "torch MiB", "mem ratio", "vclip mm%", "torch mm%", "note")
    w = [max(len(str(r[i])) for r in rows + [hdr]) for i in range(len(hdr))]
    print("\ngpu_vs_torch summary (samples/s or images/s; MiB = peak process GPU memory by nvidia-smi;"
          " mm% = the step's matrix products as a share of plain cuBLAS on the same shapes)")
    for r in [hdr] + rows:
        print("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip())
    print("targets (issue 11): transformer TF32 >= 2x, fp32 >= 1.3x, LSTM >= 1.5x, mm% >= 80%, memory <= 0.60;"
          " issue 13: ViT bf16/fp16 >= 1.2x PyTorch fp16; transformer bf16 against PyTorch autocast bf16"
          " (mm% against plain bf16 cuBLAS)")
    if a.json:
        with open(a.json + ".tmp", "w") as f:
            json.dump(dict(shapes=sh, device=a.device, vclip_state=state, results=results), f, indent=1)
        os.replace(a.json + ".tmp", a.json)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
