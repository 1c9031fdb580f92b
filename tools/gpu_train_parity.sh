#!/bin/bash
# gpu_train_parity.sh VCLIP [DEVICE_A DEVICE_B]: every pooler trains STEPS
# (20) steps with `vclip train` on DEVICE_A (default cuda) and on DEVICE_B
# (default cpu), same synthetic data, seed and config, TF32 off; the logged
# losses must agree within TOL (relative, default 2e-3: float32 summation
# orders differ between the backends and compound over 20 AdamW steps at a
# larger size than tests/test_cuda_train.c's; a wrong kernel moves them by
# far more). The real-GPU twin of tests/test_cuda_train.c's emulated check,
# run by tools/gpu_check.sh. Prints one line per pooler and exits non-zero
# if any differs or fails. (With DEVICE_A = DEVICE_B = cpu it checks itself.)
# PREC=bf16 trains both in bf16 ([train] precision; cuBLAS GemmEx on cuda,
# oneDNN on the cpu, which must have AVX512_BF16: without it the cpu run
# says it computes in float32 and the pooler is skipped), with the same TOL:
# at these shapes bf16 moves the losses only 9e-6 (lstm) .. 3.4e-4
# (transformer) from float32's (measured on the cpu), and the emulated cuda
# backend's bf16 runs were 3e-7 .. 1.3e-4 from the cpu's. So the losses
# catch a wrong kernel, not a run that quietly computed in float32: for
# that DEVICE_A also trains in fp32, and its bf16 losses must differ from
# those (tests/test_cuda_train.c compares weights, which tell them apart).
# Env: STEPS, TOL, POOLERS, PREC (fp32|bf16), PY.
set -u
V=${1:?usage: gpu_train_parity.sh VCLIP [DEVICE_A DEVICE_B]}
A=${2:-cuda}
Bd=${3:-cpu}
STEPS=${STEPS:-20}
TOL=${TOL:-2e-3}
PREC=${PREC:-fp32}
case $PREC in
    fp32) SIDES="a b"; POOLERS=${POOLERS:-transformer lstm mean wavg mlp_mean tokenlearner cross_attn} ;;
    # r: DEVICE_A in fp32; mean has no matrix products, so nothing to run in bf16
    bf16) SIDES="a b r"; POOLERS=${POOLERS:-transformer lstm wavg mlp_mean tokenlearner cross_attn} ;;
    *) echo "parity: PREC=$PREC: fp32 or bf16"; exit 2 ;;
esac
PY=${PY:-python3}
W=$(mktemp -d /tmp/vclip-parity.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$V" synth --out "$W/synth.h5" --videos 512 --seed 3 > "$W/synth.log" 2>&1 ||
    { echo "parity: vclip synth failed: $(tail -1 "$W/synth.log")"; exit 1; }
extra() {
    case $1 in
        transformer) echo "layers = 2
heads = 8
text_head = linear" ;;
        mean) echo "text_head = linear" ;;
        tokenlearner) echo "tokens = 8
layers = 1
heads = 8
hidden = 64" ;;
        cross_attn) echo "tokens = 8
heads = 8
mlp_layers = 1" ;;
        mlp_mean) echo "mlp_layers = 2" ;;
    esac
}
fail=0
for p in $POOLERS; do
    for side in $SIDES; do
        d=$A; [ $side = b ] && d=$Bd
        prec=$PREC; [ $side = r ] && prec=fp32
        tag=$p-${d//:/_}-$prec-$side
        cat > "$W/$tag.ini" <<EOF
[data]
file = $W/synth.h5
frames = 16

[model]
type = $p
$(extra "$p")

[train]
batch = 64
steps = $STEPS
lr = 1e-3
warmup = 2
seed = 0
log_every = 1
eval_every = 1000000
device = $d
tf32 = false
precision = $prec
out_dir = $W/$tag
EOF
        if ! "$V" train "$W/$tag.ini" > "$W/$tag.log" 2>&1; then
            echo "parity $p $PREC: vclip train on $d failed: $(grep -v '^\s*$' "$W/$tag.log" | tail -1 | cut -c1-160)"
            fail=1
            continue 2
        fi
        if [ "$prec" != fp32 ] && grep -q 'computing in float32' "$W/$tag.log"; then
            echo "parity $p $PREC: skipped: on $d $(grep -m1 'computing in float32' "$W/$tag.log" | cut -c1-140)"
            continue 2
        fi
    done
    # compare the step losses of the two runs (and, in bf16, DEVICE_A's with its fp32 run)
    ref=; [ "$PREC" != fp32 ] && ref=$W/$p-${A//:/_}-fp32-r/log.jsonl
    "$PY" - "$W/$p-${A//:/_}-$PREC-a/log.jsonl" "$W/$p-${Bd//:/_}-$PREC-b/log.jsonl" "$p $PREC" "$A" "$Bd" "$TOL" \
        "$STEPS" $ref <<'PY' || fail=1
import json, sys
fa, fb, name, da, db, tol, steps = sys.argv[1:8]
def losses(f):
    return {r["step"]: r["loss"] for r in map(json.loads, open(f)) if r.get("event") == "step"}
a, b = losses(fa), losses(fb)
common = sorted(set(a) & set(b))
if len(common) < int(steps):
    print(f"parity {name}: only {len(common)} common logged steps of {steps} ({da}: {len(a)}, {db}: {len(b)})")
    sys.exit(1)
worst = max(abs(a[s] - b[s]) / (1 + abs(b[s])) for s in common)
ok = worst <= float(tol)
extra = ""
if len(sys.argv) > 8:  # the fp32 run on da: bf16 must have changed something
    r = losses(sys.argv[8])
    gap = max((abs(a[s] - r[s]) / (1 + abs(r[s])) for s in common if s in r), default=0.0)
    extra = f"; against fp32 on {da} {gap:.2e}" + ("" if gap > 0 else " (the same losses: bf16 did not run)")
    ok = ok and gap > 0
s = common[-1]
print(f"parity {name}: {len(common)} steps, loss {a[common[0]]:.5f} -> {a[s]:.5f} on {da}, {b[s]:.5f} on {db}; "
      f"largest relative difference {worst:.2e} (tolerance {tol}){extra} {'ok' if ok else 'DIFFERS'}")
sys.exit(0 if ok else 1)
PY
done
exit $fail
