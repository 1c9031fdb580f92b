#!/bin/sh
# Data-parallel overhead (issue 12): the transformer pooler's training step at
# one global batch, as 1 process x 2 threads and as 2 MPI processes x 1
# thread each, run alternately (this machine is shared and noisy: medians of
# REPS runs). The gap is what splitting the batch over processes costs: the
# all-gather of the embeddings, the reduce-scatter of their gradients, the
# all-reduce of the gradient buffer, and smaller matrix products per process.
# Target: 2 x 1 within 10% of 1 x 2. Also prints what each step sends.
# Usage: bench/dist_scaling.sh [VCLIP]   (env REPS, SECONDS_PER_RUN, BATCH, MODEL_ARGS)
V=${1:-build/vclip}
REPS=${REPS:-3}
S=${SECONDS_PER_RUN:-8}
B=${BATCH:-128}
M=${MODEL_ARGS:---layers 4 --dim 512 --frames 32}
if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: data-parallel overhead (no mpirun; Debian openmpi-bin)"; exit 0
fi
if $V version | grep -q '^MPI: not built in'; then
    echo "SKIP: data-parallel overhead ($V was built without MPI)"; exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s|.*$1 \([0-9.]*\).*|\1|p" | tail -1; }
one=/tmp/vc_dist_$$.1; two=/tmp/vc_dist_$$.2; : > $one; : > $two
for i in $(seq "$REPS"); do
    out=$(OMP_NUM_THREADS=2 $V bench train --model transformer $M --batch "$B" --seconds "$S") || { echo "$out"; exit 1; }
    echo "$out" | field "samples/s:" >> $one
    out=$(OMP_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np 2 $V bench train --model transformer $M --batch "$B" \
          --seconds "$S") || { echo "$out"; exit 1; }
    echo "$out" | grep -v '^samples/s:'
    echo "$out" | field "samples/s:" >> $two
done
a=$(median < $one); b=$(median < $two)
awk -v a="$a" -v b="$b" -v B="$B" 'BEGIN {
    printf "transformer step, global batch %d, median of runs: 1 process x 2 threads %.1f samples/s, " \
           "2 processes x 1 thread %.1f samples/s: overhead %.1f%% (target < 10%%)\n", B, a, b, 100 * (a - b) / a }'
rm -f $one $two
