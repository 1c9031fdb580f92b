#!/bin/sh
# Training-step speed and peak memory of vclip against the same pooler in
# PyTorch, run alternately in this one run (this machine is shared and noisy:
# medians of REPS runs each). Targets (issue 5): transformer >= 2x PyTorch's
# samples/s, LSTM >= 3x; peak RSS <= 60% of PyTorch's.
# Then the bf16 transformer step (issue 13): vclip --precision bf16 against
# PyTorch under torch.autocast("cpu", dtype=torch.bfloat16) and PyTorch
# float32, alternately in the same run: targets >= 1.1x autocast, >= 1.7x
# PyTorch float32, peak RSS <= 60% of PyTorch float32's. vclip's line also
# gives its products' rate as a share of the plain bf16 matmul roof at the
# step's shapes (target >= 85%).
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
# ---- bf16 ----
F=/tmp/vc_bench_$$
: > $F.v; : > $F.a; : > $F.t; : > $F.vm; : > $F.am; : > $F.tm; : > $F.roof
for i in $(seq "$REPS"); do
    out=$($V bench train --model transformer --precision bf16 --seconds "$S" 2>&1) || { echo "$out"; exit 1; }
    echo "$out" | grep -v '^samples/s:'
    echo "$out" | field "samples/s:" >> $F.v
    echo "$out" | field "peak RSS" >> $F.vm
    echo "$out" | sed -n 's/.* \([0-9]*\)% of it.*/\1/p' >> $F.roof
    out=$($PY "$DIR/torch_pooler.py" transformer --autocast --seconds "$S") || { echo "$out"; exit 1; }
    echo "$out" | grep -v '^samples/s:'
    echo "$out" | field "samples/s:" >> $F.a
    echo "$out" | field "peak RSS" >> $F.am
    out=$($PY "$DIR/torch_pooler.py" transformer --seconds "$S") || { echo "$out"; exit 1; }
    echo "$out" | grep -v '^samples/s:'
    echo "$out" | field "samples/s:" >> $F.t
    echo "$out" | field "peak RSS" >> $F.tm
done
v=$(median < $F.v); a=$(median < $F.a); t=$(median < $F.t)
vm=$(median < $F.vm); am=$(median < $F.am); tm=$(median < $F.tm); roof=$(median < $F.roof)
awk -v v="$v" -v a="$a" -v t="$t" -v vm="$vm" -v am="$am" -v tm="$tm" -v roof="$roof" -v n="$REPS" 'BEGIN {
    printf "transformer bf16 train step, median of %d: vclip bf16 %.1f samples/s, PyTorch autocast bf16 %.1f, PyTorch fp32 %.1f: %.2fx autocast (target >= 1.1x)%s, %.2fx fp32 (target >= 1.7x)%s\n",
           n, v, a, t, v / a, (v / a >= 1.1) ? " met" : " NOT met", v / t, (v / t >= 1.7) ? " met" : " NOT met";
    printf "transformer bf16 products: %s%% of the plain bf16 matmul roof (target >= 85%%)%s\n", roof, (roof >= 85) ? " met" : " NOT met";
    printf "transformer bf16 peak RSS: vclip %.0f MB, PyTorch autocast %.0f MB, PyTorch fp32 %.0f MB: %.2f of fp32 (target <= 0.60)%s\n",
           vm, am, tm, vm / tm, (vm / tm <= 0.60) ? " met" : " NOT met" }'
rm -f /tmp/vc_bench_$$.*
