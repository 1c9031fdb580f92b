#!/bin/sh
# CLIP ViT-B/32 image tower inference speed (random weights, batch 32) of
# vclip against PyTorch, run alternately in this one run (the machine is
# shared and noisy: medians of REPS runs each). Target (issue 6): faster than
# PyTorch (7.8 images/s on this machine kind) and ONNX Runtime (32.8).
# Usage: bench/bench_clip.sh [VCLIP] [PYTHON] [TORCH_PEER_SCRIPT]
#   (env REPS, SECONDS_PER_RUN, BATCH). The PyTorch peer is
#   /work/shared/peers/torch_vit_bench.py (same tower, inference_mode, every core);
#   without it only vclip runs.
V=${1:-build/vclip}
PY=${2:-/usr/bin/python3}
PEER=${3:-/work/shared/peers/torch_vit_bench.py}
REPS=${REPS:-3}
S=${SECONDS_PER_RUN:-10}
B=${BATCH:-32}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
run_peer=1
if [ ! -r "$PEER" ] || ! $PY -c 'import torch' 2>/dev/null; then
    echo "SKIP: PyTorch peer ($PEER missing or $PY cannot import torch)"
    run_peer=0
fi
: > /tmp/vc_clipb_$$.v; : > /tmp/vc_clipb_$$.t
for i in $(seq "$REPS"); do
    out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $V bench encode-image --clip random --batch "$B" \
          --seconds "$S") || { echo "$out"; exit 1; }
    echo "$out" | grep -v '^images/s:'
    echo "$out" | sed -n 's/^images\/s: \([0-9.]*\).*/\1/p' >> /tmp/vc_clipb_$$.v
    if [ $run_peer = 1 ]; then
        out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $PY "$PEER" "$B") || { echo "$out"; exit 1; }
        echo "$out"
        echo "$out" | sed -n 's/.*: \([0-9.]*\) images\/s.*/\1/p' >> /tmp/vc_clipb_$$.t
    fi
done
v=$(median < /tmp/vc_clipb_$$.v)
echo "vclip ViT-B/32 image tower, batch $B: median $v images/s over $REPS runs"
if [ $run_peer = 1 ]; then
    t=$(median < /tmp/vc_clipb_$$.t)
    echo "PyTorch same tower, batch $B: median $t images/s; vclip/PyTorch = $(echo "$v $t" | awk '{printf "%.2f", $1/$2}')"
fi
rm -f /tmp/vc_clipb_$$.v /tmp/vc_clipb_$$.t
echo "images/s: $v"
