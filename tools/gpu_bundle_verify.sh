#!/bin/bash
# gpu_bundle_verify.sh DIR: checks a gpu-bundle/ (tools/gpu_bundle.sh) the
# way the GPU machine will see it: in a minimal Debian root without vclip's
# libraries (tools/fresh-check.sh's cached debootstrap tarball, unpacked
# under /tmp/vclip-gpu-bundle-root), ldd of every binary finds every library
# except the GPU machine's own (cuBLAS, NCCL, the driver's libcuda), and
# `vclip version` and a CPU test suite (test_tensor) run. Without that
# tarball (or without root) the same runs here under `env -i` with only the
# bundle's lib/ on LD_LIBRARY_PATH, which proves less (the system's library
# folders are still searched); it says which one it did.
set -euo pipefail
B=$(cd "${1:?usage: gpu_bundle_verify.sh DIR}" && pwd)
cd "$(dirname "$0")/.."
say() { printf 'gpu-bundle verify: %s\n' "$*"; }
fail() { printf 'gpu-bundle verify: FAILED: %s\n' "$*" >&2; exit 1; }
allowed='^(libcublas|libcublasLt|libnccl|libcuda)\.so'
TARBALL=$(ls -t /var/cache/vclip-fresh/root-*.tar 2>/dev/null | head -1 || true)
# outside build/: the Makefile includes every *.d under build/ (etc/rc2.d...)
R=${GB_ROOT:-/tmp/vclip-gpu-bundle-root}
if [ -n "$TARBALL" ] && [ "$(id -u)" = 0 ]; then
    if [ ! -f "$R/.from" ] || [ "$(cat "$R/.from")" != "$TARBALL $(stat -c %Y "$TARBALL")" ]; then
        rm -rf --one-file-system "$R"
        mkdir -p "$R"
        tar --numeric-owner -C "$R" -xpf "$TARBALL"
        echo "$TARBALL $(stat -c %Y "$TARBALL")" > "$R/.from"
    fi
    for lib in hdf5 openblas avcodec archive cjson inih gomp; do
        if ls "$R"/usr/lib/x86_64-linux-gnu/lib$lib* >/dev/null 2>&1; then fail "the clean root has lib$lib: not a fair test"; fi
    done
    rm -rf "$R/gb" && mkdir -p "$R/gb" && cp -a "$B" "$R/gb/bundle"
    # the GPU machine has the CUDA toolkit: this one's, read-only, where the
    # bundle's env.sh looks (/usr/local/cuda), so cuBLAS and NCCL resolve
    CUDA_DIR=$(readlink -f /usr/local/cuda 2>/dev/null || true)
    if [ -d "$CUDA_DIR" ]; then
        mkdir -p "$R/usr/local/cuda"
        mountpoint -q "$R/usr/local/cuda" || mount --bind -o ro "$CUDA_DIR" "$R/usr/local/cuda"
        trap 'umount "$R/usr/local/cuda" 2>/dev/null || true' EXIT
    fi
    run() { chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp /bin/bash -c "cd /gb && $1"; }
    where="a clean Debian root ($(basename "$TARBALL"), chroot; no HDF5, OpenBLAS, FFmpeg, libgomp...; this machine's CUDA toolkit mounted at /usr/local/cuda)"
    IN=/gb/bundle
else
    run() { env -i PATH=/usr/bin:/bin HOME=/tmp /bin/bash -c "cd $B/.. && $1"; }
    where="this machine under env -i (no clean root: $( [ -n "$TARBALL" ] && echo 'not root' || echo 'no /var/cache/vclip-fresh tarball'))"
    IN=$B
fi
say "checking in $where"
missing=$(run ". $IN/env.sh; for f in $IN/bin/*; do ldd \$f | sed \"s|^|\$(basename \$f): |\"; done" |
    grep 'not found' || true)
bad=$(echo "$missing" | awk 'NF {print $2}' | grep -v -E "$allowed" || true)
[ -z "$bad" ] || fail "libraries not found: $(echo "$missing" | grep -v -E ": ($allowed)" | paste -sd';' -)"
say "ldd: every library found$( [ -n "$missing" ] && echo " except the GPU machine's own: $(echo "$missing" | awk '{print $2}' | sort -u | paste -sd' ' -)")"
out=$(run ". $IN/env.sh; vclip version") || fail "vclip version: $out"
say "vclip version: $(echo "$out" | paste -sd'|' -)"
if [ -x "$B/bin/test_tensor" ]; then
    out=$(run ". $IN/env.sh; CK_FORK=no timeout 300 test_tensor 2>&1") || fail "test_tensor: $(echo "$out" | tail -3)"
    say "test_tensor: $(echo "$out" | grep -E '^[0-9]+%' | tail -1)"
fi
# a decode through the static FFmpeg: encode-video of one test video (1
# frame per second) with a random ViT-B/32 on the CPU
if ls "$B"/videos/*.mp4 >/dev/null 2>&1; then
    v=$(cd "$B/videos" && ls *.mp4 | head -1)
    out=$(run ". $IN/env.sh; cd /tmp && vclip bench encode-image --clip random --save /tmp/gbv.safetensors >/dev/null &&
        timeout 300 vclip encode-video --clip /tmp/gbv.safetensors --out /tmp/gbv.h5 --fps 1 $IN/videos/$v 2>&1 &&
        vclip info /tmp/gbv.h5 2>&1; s=\$?; rm -f /tmp/gbv.safetensors /tmp/gbv.h5; exit \$s") ||
        fail "encode-video of $v: $(echo "$out" | tail -3)"
    say "encode-video (static FFmpeg + CPU tower): $(echo "$out" | grep -i -E 'video|frame' | tail -2 | paste -sd'|' - | cut -c1-200)"
fi
[ -d "$R/gb" ] && rm -rf "$R/gb"
say "ok"
