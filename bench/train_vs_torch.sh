#!/bin/sh
# Training-step speed and peak memory of vclip against the same pooler in
# PyTorch, run alternately in this one run (this machine is shared and noisy:
# medians of REPS runs each). Targets (issue 5): transformer >= 2x PyTorch's
# samples/s, LSTM >= 3x; peak RSS <= 60% of PyTorch's.
# Usage: bench/train_vs_torch.sh [VCLIP] [PYTHON]   (env REPS, SECONDS_PER_RUN)
V=${1:-build/vclip}
PY=${2:-/usr/bin/python3}
REPS=${REPS:-3}
S=${SECONDS_PER_RUN:-10}
DIR=$(dirname "$0")
if ! $PY -c 'import torch' 2>/dev/null; then
    echo "SKIP: training speed against PyTorch ($PY cannot import torch)"
    exit 0
fi
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s|.*$1 \([0-9.]*\).*|\1|p" | tail -1; }
for model in transformer lstm; do
    : > /tmp/vc_bench_$$.v; : > /tmp/vc_bench_$$.t; : > /tmp/vc_bench_$$.vm; : > /tmp/vc_bench_$$.tm
    for i in $(seq "$REPS"); do
        out=$($V bench train --model $model --seconds "$S") || { echo "$out"; exit 1; }
        echo "$out" | grep -v '^samples/s:'
        echo "$out" | field "samples/s:" >> /tmp/vc_bench_$$.v
        echo "$out" | field "peak RSS" >> /tmp/vc_bench_$$.vm
        out=$($PY "$DIR/torch_pooler.py" $model --seconds "$S") || { echo "$out"; exit 1; }
        echo "$out" | grep -v '^samples/s:'
        echo "$out" | field "samples/s:" >> /tmp/vc_bench_$$.t
        echo "$out" | field "peak RSS" >> /tmp/vc_bench_$$.tm
    done
    v=$(median < /tmp/vc_bench_$$.v); t=$(median < /tmp/vc_bench_$$.t)
    vm=$(median < /tmp/vc_bench_$$.vm); tm=$(median < /tmp/vc_bench_$$.tm)
    want=2; [ $model = lstm ] && want=3
    awk -v m=$model -v v="$v" -v t="$t" -v vm="$vm" -v tm="$tm" -v w=$want 'BEGIN {
        printf "%s train step, median of runs: vclip %.1f samples/s, PyTorch %.1f samples/s: speed ratio %.2fx (target >= %dx)\n", m, v, t, v / t, w;
        printf "%s peak RSS: vclip %.0f MB, PyTorch %.0f MB: ratio %.2f (target <= 0.60)\n", m, vm, tm, vm / tm }'
done
rm -f /tmp/vc_bench_$$.*
