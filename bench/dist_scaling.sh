#!/bin/sh
# Data-parallel overhead (issue 12): the transformer pooler's training step at
# one global batch, as 1 process x 2 threads and as 2 MPI processes x 1
# thread each, run alternately (this machine is shared and noisy: medians of
# REPS runs). The gap is what splitting the batch over processes costs: the
# all-gather of the embeddings, the reduce-scatter of their gradients, the
# all-reduce of the gradient buffer, and smaller matrix products per process.
# Target: 2 x 1 within 10% of 1 x 2. Also prints what each step sends, and
# the 2 x 1 step with the gradient all-reduce as one call after the backward
# ([train] grad_bucket_mb = 0) next to it in buckets of BUCKET_MB started
# during the backward.
# Usage: bench/dist_scaling.sh [VCLIP]
#        (env REPS, SECONDS_PER_RUN, BATCH, MODEL_ARGS, BUCKET_MB)
V=${1:-build/vclip}
REPS=${REPS:-3}
S=${SECONDS_PER_RUN:-8}
B=${BATCH:-128}
M=${MODEL_ARGS:---layers 4 --dim 512 --frames 32}
BK=${BUCKET_MB:-25}
if ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: data-parallel overhead (no mpirun; Debian openmpi-bin)"; exit 0
fi
if $V version | grep -q '^MPI: not built in'; then
    echo "SKIP: data-parallel overhead ($V was built without MPI)"; exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s|.*$1 \([0-9.]*\).*|\1|p" | tail -1; }
t=/tmp/vc_dist_$$; : > $t.one; : > $t.two; : > $t.bk; : > $t.w2; : > $t.wb
two_by_one() { # $1: bucket MB; prints the run, appends samples/s to $2 and the waiting share to $3
    out=$(OMP_NUM_THREADS=1 mpirun --oversubscribe --bind-to none -np 2 $V bench train --model transformer $M --batch "$B" \
          --seconds "$S" --grad-bucket-mb "$1") || { echo "$out"; rm -f $t.*; exit 1; }
    echo "$out" | grep -v '^samples/s:'
    echo "$out" | field "samples/s:" >> "$2"
    echo "$out" | field "collectives" >> "$3"
}
for i in $(seq "$REPS"); do
    out=$(OMP_NUM_THREADS=2 $V bench train --model transformer $M --batch "$B" --seconds "$S") || { echo "$out"; exit 1; }
    echo "$out" | field "samples/s:" >> $t.one
    two_by_one 0 $t.two $t.w2
    two_by_one "$BK" $t.bk $t.wb
done
a=$(median < $t.one); b=$(median < $t.two); c=$(median < $t.bk); w2=$(median < $t.w2); wb=$(median < $t.wb)
awk -v a="$a" -v b="$b" -v c="$c" -v B="$B" -v bk="$BK" -v w2="$w2" -v wb="$wb" 'BEGIN {
    printf "transformer step, global batch %d, median of runs: 1 process x 2 threads %.1f samples/s, " \
           "2 processes x 1 thread %.1f samples/s: overhead %.1f%% (target < 10%%)\n", B, a, b, 100 * (a - b) / a
    printf "gradient all-reduce of the 2 x 1 step, median of runs: one call after the backward %.1f samples/s " \
           "(waiting in collectives %.1f%% of the step), buckets of %g MB during the backward %.1f samples/s (%.1f%%): " \
           "%+.1f%%; overhead against 1 x 2 with buckets %.1f%%\n", b, w2, bk, c, wb, 100 * (c - b) / b, 100 * (a - c) / a }'
rm -f $t.*
