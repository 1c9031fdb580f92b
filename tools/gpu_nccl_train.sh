#!/bin/bash
# gpu_nccl_train.sh VCLIP: a 1-rank NCCL training run on a GPU (issue 12),
# for tools/gpu_check.sh's "nccl" step. NCCL cannot put two ranks on one
# GPU and the lent machines have one, so this runs the data-parallel step's
# whole path with one rank: `VCLIP_COMM=nccl vclip train` with device = cuda
# takes the sharded loss, the embeddings' all-gather and its reduce-scatter,
# the gradient and loss all-reduces through NCCL on device memory. Its
# losses must match the plain single-GPU run of the same config within TOL
# (relative; default 1e-4: the two compute the same loss in two
# formulations, so only float32 roundings differ; a broken collective gives
# garbage or NaN). STEPS (default 8) steps of a tiny transformer pooler.
# Prints one line and exits non-zero on a failure.
# Env: STEPS, TOL, PY, LAUNCH (a prefix for the NCCL run, e.g. "mpirun -np 1"
# where NCCL needs MPI to start: the emulated build), DEVICE (default cuda).
set -u
V=${1:?usage: gpu_nccl_train.sh VCLIP}
STEPS=${STEPS:-8}
TOL=${TOL:-1e-4}
DEVICE=${DEVICE:-cuda}
W=$(mktemp -d /tmp/vclip-nccl.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$V" synth --out "$W/synth.h5" --videos 256 --dim 64 --max-frames 12 --seed 4 > "$W/synth.log" 2>&1 ||
    { echo "nccl-train: vclip synth failed: $(tail -1 "$W/synth.log")"; exit 1; }
cat > "$W/run.ini" <<INI
[data]
file = $W/synth.h5
frames = 12

[model]
type = transformer
layers = 1
heads = 4
text_head = linear

[train]
device = $DEVICE
batch = 32
steps = $STEPS
lr = 1e-3
warmup = 2
seed = 0
log_every = 1
eval_every = $STEPS
out_dir = $W/plain
INI
"$V" train "$W/run.ini" > "$W/plain.log" 2>&1 ||
    { echo "nccl-train: the plain $DEVICE run failed: $(tail -1 "$W/plain.log")"; exit 1; }
# shellcheck disable=SC2086
VCLIP_COMM=nccl ${LAUNCH:-} "$V" train "$W/run.ini" --set "train.out_dir=$W/nccl" > "$W/nccl.log" 2>&1 ||
    { echo "nccl-train: the NCCL run failed: $(grep -v '^step ' "$W/nccl.log" | tail -1)"; exit 1; }
grep -q '^comm nccl' "$W/nccl.log" ||
    { echo "nccl-train: the run did not go through the NCCL comm: $(head -3 "$W/nccl.log" | paste -sd'|' -)"; exit 1; }
"${PY:-python3}" - "$W" "$STEPS" "$TOL" "$(grep '^comm nccl' "$W/nccl.log")" <<'PY'
import json, sys
w, steps, tol, comm = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
def losses(d):
    out = []
    for line in open(f"{w}/{d}/log.jsonl"):
        e = json.loads(line)
        if e.get("event") == "step":
            out.append(e["loss"])
    return out
a, b = losses("plain"), losses("nccl")
if len(a) != steps or len(b) != steps:
    print(f"nccl-train: {len(a)} plain and {len(b)} NCCL steps logged, expected {steps}")
    sys.exit(1)
worst = max(abs(x - y) / (1 + abs(y)) for x, y in zip(b, a))
ok = worst <= tol
print(f"nccl-train: {steps} steps through {comm.split(':')[0]} against the plain run: losses within {worst:.2g} "
      f"(tolerance {tol:g}) {'ok' if ok else 'DIFFER'}; final loss {b[-1]:.4f}")
sys.exit(0 if ok else 1)
PY
