#!/bin/bash
# gpu_check.sh: everything vclip checks on a lent GPU machine, in one run of
# at most 9 minutes (GPU_CHECK_BUDGET seconds, default 530), every step under
# `timeout` and cut to what is left of the budget. Run it from the repository
# root with the bundle that `make gpu-bundle` built (tools/gpu_bundle.sh):
#     device run, carry ["gpu-bundle"], command "tools/gpu_check.sh"
# Steps, most important first (a step that cannot run says why):
#   machine      nvidia-smi, glibc, where cuBLAS/NCCL were found, ldd of the bundle
#   version      vclip version (CUDA, NCCL, MPI built in?)
#   cuda-real    the CUDA emulator's test against the real runtime and cuBLAS
#   suites       the bundle's test suites (the backend-op tests on the cuda
#                backend vs cpu and the training tests, where built with CUDA)
#   train-parity every pooler 20 steps on cuda against cpu (tools/gpu_train_parity.sh)
#   train-parity-bf16  the transformer, mlp_mean and lstm poolers the same in
#                bf16 ([train] precision = bf16; issue 13)
#   nccl         1-rank NCCL smoke test and a 1-rank NCCL training run
#                against the plain single-GPU one (issue 12)
#   gpu-vs-torch bench/gpu_vs_torch.py: pooler steps fp32/TF32 and the ViT-B/32
#                tower against PyTorch eager on this GPU (issues 11, 13)
#   memcheck     compute-sanitizer memcheck on a short CUDA run (exit status
#                recorded; unsupported on some machines)
#   loader       bench_loader's videos/s (the step must never wait on it)
#   encode-video encode-video --device cuda (bf16, fp16) on videos made here
#                with ffmpeg when the machine has it (else the bundle's test
#                videos): videos/s, frames/s and the bottleneck (issue 13)
# Ends with a summary table. Full output also goes to $OUT/gpu_check.log (and
# $OUT/gpu_vs_torch.json) when OUT is set, as the device tool sets it.
# Env: GPU_CHECK_BUDGET (s), GPU_BUNDLE (default gpu-bundle), GPU_CHECK_SECONDS
# (seconds per bench measurement, default 4), GPU_CHECK_ONLY (space-separated
# step names), PY (python with torch; default python3).
set -u
cd "$(dirname "$0")/.." || exit 2
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-530}
B=${GPU_BUNDLE:-gpu-bundle}
PY=${PY:-python3}
SECS=${GPU_CHECK_SECONDS:-4}
LOG=${OUT:+$OUT/gpu_check.log}
LOG=${LOG:-/tmp/gpu_check.$$.log}
TMPD=$(mktemp -d /tmp/gpu_check.XXXXXX)
trap 'rm -rf "$TMPD"' EXIT
: > "$LOG"
SUMMARY=()
left() { echo $((BUDGET - ($(date +%s) - START))); }
log() { printf '%s\n' "$*" | tee -a "$LOG"; }
want() { [ -z "${GPU_CHECK_ONLY:-}" ] || [[ " $GPU_CHECK_ONLY " == *" $1 "* ]]; }
# record NAME STATUS SECONDS NOTE
record() { SUMMARY+=("$(printf '%-21s %-11s %5ss  %s' "$1" "$2" "$3" "$4")"); log "== $1: $2 ($3 s) $4"; }
# step NAME LIMIT CMD...: runs CMD with timeout min(LIMIT, what is left - 10),
# output to the log and terminal; sets RC, OUTF, DT
step_run() {
    local name=$1 limit=$2; shift 2
    local l; l=$(left); l=$((l - 10))
    [ "$limit" -lt "$l" ] || limit=$l
    OUTF=$TMPD/$name.out
    if [ "$limit" -lt 5 ]; then RC=125; DT=0; echo "no time left" > "$OUTF"; return; fi
    log "-- $name: $* (timeout ${limit}s)"
    local t0; t0=$(date +%s)
    timeout -k 5 "$limit" "$@" > "$OUTF" 2>&1
    RC=$?
    DT=$(($(date +%s) - t0))
    tee -a "$LOG" < "$OUTF" | tail -n 40
    [ $RC = 124 ] || [ $RC = 137 ] && RC=124
}
status_of() { case $RC in 0) echo PASS;; 124) echo TIMEOUT;; 125) echo SKIPPED;; *) echo "FAIL($RC)";; esac; }
lastline() { grep -v '^\s*$' "$OUTF" | tail -1 | cut -c1-150; }

log "gpu_check: $(date -u +%FT%TZ) on $(hostname), budget ${BUDGET}s, bundle $B"
if [ ! -f "$B/env.sh" ]; then
    log "gpu_check: no $B/env.sh: build it with 'make gpu-bundle' and carry it (device run carry [\"$B\"])"
    exit 2
fi
. "$B/env.sh"
has() { [ -x "$B/bin/$1" ]; }
VC=$B/bin/vclip

# ---- machine ----
if want machine; then
    t0=$(date +%s)
    {
        echo "kernel $(uname -r), $(ldd --version 2>&1 | head -1)"
        echo "bundle: $(head -3 "$B/MANIFEST" | paste -sd'|' -)"
        echo "CUDA library folders: ${GB_CUDA_LIBS:-none found}"
        echo "torch: $($PY -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")' 2>&1 | tail -1)"
    } | tee -a "$LOG"
    step_run nvidia-smi 30 nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
    smi=$(tail -1 "$OUTF")
    miss=$(for f in "$B"/bin/*; do ldd "$f" 2>&1 | grep 'not found' | sed "s|^|$(basename "$f"): |"; done)
    [ -n "$miss" ] && log "ldd: $miss"
    if [ $RC = 0 ] && [ -z "$miss" ]; then st=PASS; else st=FAIL; fi
    record machine $st $(($(date +%s) - t0)) "${smi:0:90}${miss:+; missing libraries: $(echo "$miss" | awk '{print $1, $2}' | paste -sd, -)}"
fi

# ---- version ----
CUDA_BUILT=0
if want version; then
    step_run version 30 "$VC" version
    grep -q -E '\bCUDA\b' "$OUTF" && ! grep -q -i -E 'CUDA: *not built' "$OUTF" && CUDA_BUILT=1
    record version "$(status_of)" "$DT" "$(paste -sd'|' "$OUTF" | cut -c1-150)"
else
    "$VC" version 2>/dev/null | grep -q -E '\bCUDA\b' && CUDA_BUILT=1
fi

# ---- cuda-real ----
if want cuda-real; then
    if has test_cuda_real; then
        step_run cuda-real 90 "$B/bin/test_cuda_real"
        st=$(status_of); grep -q '^SKIP' "$OUTF" && st=SKIP
        record cuda-real "$st" "$DT" "$(grep -E '^[0-9]+%|SKIP|passed|failed' "$OUTF" | tail -1 | cut -c1-120)"
    else
        record cuda-real "NOT BUILT" 0 "no test_cuda_real in the bundle (built only where nvcc was found)"
    fi
fi

# ---- suites ----
# every test_* of the bundle but test_cuda_real; each says what it ran
if want suites; then
    for t in "$B"/bin/test_*; do
        n=$(basename "$t"); [ "$n" = test_cuda_real ] && continue
        [ -x "$t" ] || continue
        step_run "$n" 120 env CK_FORK=no VCLIP_BIN="$PWD/$VC" VCLIP_CUDA_BIN="$PWD/$VC" VC_PYTHON="$PY" "$t"
        st=$(status_of); grep -q '^SKIP' "$OUTF" && [ $RC = 0 ] && st="PASS+SKIP"
        on=$(ldd "$t" | grep -q -E 'libcudart|libcublas' && echo "real CUDA" || echo "CPU/emulated")
        record "$n" "$st" "$DT" "($on) $(grep -E '^[0-9]+%' "$OUTF" | tail -1 | cut -c1-110)"
    done
fi

# ---- train-parity ----
if want train-parity; then
    if [ $CUDA_BUILT = 1 ]; then
        step_run train-parity 150 env PY="$PY" tools/gpu_train_parity.sh "$VC" cuda cpu
        record train-parity "$(status_of)" "$DT" "$(grep -c ' ok$' "$OUTF") of $(grep -c '^parity' "$OUTF") poolers agree; $(grep -v ' ok$' "$OUTF" | grep '^parity' | head -1 | cut -c1-80)"
    else
        record train-parity "NOT BUILT" 0 "vclip has no CUDA backend"
    fi
fi

# ---- train-parity-bf16 ----
# three poolers (75 s at most): cuBLAS bf16 products on cuda against oneDNN's
# on the cpu, and cuda's bf16 losses not its fp32 ones; a cpu without
# AVX512_BF16 makes each pooler say "skipped"
if want train-parity-bf16; then
    if [ $CUDA_BUILT = 1 ]; then
        step_run train-parity-bf16 75 env PY="$PY" PREC=bf16 POOLERS="transformer mlp_mean lstm" \
            tools/gpu_train_parity.sh "$VC" cuda cpu
        st=$(status_of); grep -q ' skipped: ' "$OUTF" && [ $RC = 0 ] && st="PASS+SKIP"
        record train-parity-bf16 "$st" "$DT" "$(grep -c ' ok$' "$OUTF") of $(grep -c '^parity' "$OUTF") poolers agree; $(grep -v ' ok$' "$OUTF" | grep '^parity' | head -1 | cut -c1-80)"
    else
        record train-parity-bf16 "NOT BUILT" 0 "vclip has no CUDA backend"
    fi
fi

# ---- nccl ----
# the 1-rank smoke test of the comm's collectives, then a 1-rank NCCL
# training run (tools/gpu_nccl_train.sh: the data-parallel step through NCCL
# against the plain single-GPU run)
if want nccl; then
    if has nccl_smoke; then
        step_run nccl 60 "$B/bin/nccl_smoke"
        record nccl "$(status_of)" "$DT" "$(lastline)"
    else
        record nccl "NOT BUILT" 0 "no nccl_smoke in the bundle (make nccl-check needs nccl.h)"
    fi
    if [ $CUDA_BUILT = 1 ] && "$VC" version 2>/dev/null | grep -q '^NCCL: NCCL'; then
        step_run nccl-train 120 env PY="$PY" tools/gpu_nccl_train.sh "$VC"
        record nccl-train "$(status_of)" "$DT" "$(lastline)"
    else
        record nccl-train "NOT BUILT" 0 "vclip has no CUDA backend or no loadable NCCL: $("$VC" version 2>/dev/null | grep '^NCCL' | cut -c1-90)"
    fi
fi

# ---- gpu-vs-torch ----
if want gpu-vs-torch; then
    step_run gpu-vs-torch 300 env PYTHONUNBUFFERED=1 "$PY" bench/gpu_vs_torch.py --vclip "$VC" --device cuda \
        --seconds "$SECS" --timeout 90 ${OUT:+--json "$OUT/gpu_vs_torch.json"}
    st=$(status_of)
    [ $RC = 0 ] && [ $CUDA_BUILT = 0 ] && st="TORCH ONLY"
    record gpu-vs-torch "$st" "$DT" "$(grep -E '^transformer tf32 ' "$OUTF" | tr -s ' ' | cut -c1-120)"
    GVT=$OUTF
fi

# ---- memcheck ----
if want memcheck; then
    CS=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /opt/nvidia/*/compute-sanitizer* 2>/dev/null | head -1)
    if [ -z "$CS" ]; then
        record memcheck UNSUPPORTED 0 "compute-sanitizer not found"
    else
        if [ $CUDA_BUILT = 1 ]; then
            target=("$VC" bench train --model transformer --device cuda --batch 8 --frames 8 --dim 64 --layers 1 --heads 2 --seconds 1)
        elif has test_cuda_real; then
            target=("$B/bin/test_cuda_real")
        else
            target=()
        fi
        if [ ${#target[@]} = 0 ]; then
            record memcheck "NOT BUILT" 0 "no CUDA binary in the bundle"
        else
            step_run memcheck 120 "$CS" --tool memcheck --error-exitcode 99 "${target[@]}"
            st=$(status_of)
            [ $RC = 99 ] && st="ERRORS"
            grep -q -i -E 'not supported|device not supported|unable to (initialize|attach)' "$OUTF" && [ $RC != 0 ] && st=UNSUPPORTED
            record memcheck "$st" "$DT" "exit $RC on $(basename "${target[0]}") ${target[1]:-}: $(grep -E 'ERROR SUMMARY|Device not supported' "$OUTF" | tail -1 | cut -c1-90)"
        fi
    fi
fi

# ---- loader ----
if want loader; then
    if has bench_loader; then
        step_run loader 120 env TMPDIR="$TMPD" "$B/bin/bench_loader"
        record loader "$(status_of)" "$DT" "$(grep -E 'videos/s' "$OUTF" | sed 's/bench_loader: //' | sed -n '1p;$p' | cut -c1-70 | paste -sd';' -)"
    else
        record loader "NOT BUILT" 0 "no bench_loader in the bundle"
    fi
fi

# ---- encode-video ----
# on the CPU first (proves the bundle's static FFmpeg decodes there), then
# with --device cuda in bf16 and fp16 on a larger set: 48 videos of 8 s made
# here with ffmpeg (decoding on every CPU thread feeds the tower), else the
# bundle's 8 clips four times over. Each run prints videos/s, frames/s and
# which side (decoding or the tower) it waited on most; the tower alone on
# pre-decoded frames is gpu-vs-torch's ViT line.
if want encode-video; then
    vids=("$B"/videos/*.mp4)
    ck=$TMPD/vitb32.safetensors
    if [ ! -f "${vids[0]}" ]; then
        record encode-video SKIPPED 0 "no test videos in the bundle"
    elif ! timeout 120 "$VC" bench encode-image --clip random --save "$ck" >> "$LOG" 2>&1; then
        record encode-video FAIL 0 "could not write a random ViT-B/32 checkpoint"
    else
        step_run encode-cpu 90 "$VC" encode-video --clip "$ck" --out "$TMPD/enc_cpu.h5" "${vids[@]}"
        record encode-cpu "$(status_of)" "$DT" "${#vids[@]} videos on the CPU: $(lastline)"
        if [ $CUDA_BUILT = 0 ]; then
            record encode-cuda "NOT BUILT" 0 "vclip has no CUDA backend"
        else
            big=()
            FF=$(command -v ffmpeg || true)
            if [ -n "$FF" ] && [ "$(left)" -gt 120 ]; then
                mkdir -p "$TMPD/v"
                enc=$("$FF" -hide_banner -encoders 2>/dev/null | grep -q ' libx264 ' && echo "-c:v libx264 -preset ultrafast" || echo "-c:v mpeg4 -q:v 4")
                seq 0 47 | timeout 90 xargs -P "$(nproc)" -I{} sh -c \
                    "'$FF' -nostdin -loglevel error -y -f lavfi -i testsrc2=size=480x360:rate=30:duration=8 $enc -pix_fmt yuv420p '$TMPD/v/v{}.mp4'" \
                    >> "$LOG" 2>&1
                big=("$TMPD"/v/v*.mp4)
                [ -f "${big[0]}" ] || big=()
                log "encode-video: made ${#big[@]} videos (8 s, 480x360, 30 fps) with $FF"
            fi
            what="${#big[@]} videos made here with ffmpeg"
            if [ ${#big[@]} = 0 ]; then
                for k in 0 1 2 3; do for v in "${vids[@]}"; do ln -sf "$PWD/$v" "$TMPD/r${k}_$(basename "$v")"; done; done
                big=("$TMPD"/r*_*.mp4)
                what="the bundle's ${#vids[@]} clips x4 (no ffmpeg here)"
            fi
            for p in bf16 fp16; do
                step_run "encode-cuda-$p" 100 "$VC" encode-video --clip "$ck" --out "$TMPD/enc_cuda_$p.h5" --device cuda \
                    --precision $p --batch 128 --fps 4 "${big[@]}"
                st=$(status_of)
                grep -q -E 'unknown option (--device|--precision)' "$OUTF" && st="NOT READY"
                line=$(grep -E 'videos/s' "$OUTF" | tail -1 | sed 's/^vclip encode-video: //')
                record "encode-cuda-$p" "$st" "$DT" "$what: ${line:-$(lastline)}"
            done
        fi
    fi
fi

# ---- summary ----
{
    echo
    echo "gpu_check summary ($(($(date +%s) - START)) s of ${BUDGET}s budget)"
    printf '%-21s %-11s %6s  %s\n' step status time note
    printf '%s\n' "${SUMMARY[@]}"
    if [ -n "${GVT:-}" ] && [ -f "$GVT" ]; then
        echo
        sed -n '/^gpu_vs_torch summary/,$p' "$GVT"
    fi
} | tee -a "$LOG"
printf '%s\n' "${SUMMARY[@]}" | grep -q -E ' (FAIL|ERRORS|TIMEOUT)' && exit 1
exit 0
