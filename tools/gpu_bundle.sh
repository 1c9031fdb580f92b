#!/bin/bash
# gpu_bundle.sh: builds gpu-bundle/, everything tools/gpu_check.sh runs on a
# lent GPU machine (the `device` tool's `run`, carry ["gpu-bundle"]). That
# machine has the CUDA toolkit (cuBLAS, NCCL), PyTorch and a newer glibc, but
# none of vclip's Debian libraries and no network. So (`make gpu-bundle`):
#   - a separate build in build/gpu-bundle/obj with OPT=-O3 -march=x86-64-v3
#     (this machine's -march=native may not run on that CPU) and MPI=0, the
#     CUDA parts with the Makefile's nvcc variables;
#   - FFmpeg: Debian's libavcodec needs ~130 codec libraries (166 MB), so
#     vclip is linked against a static decode-only FFmpeg built here from
#     Debian's own source of the same version (same headers, same ABI):
#     apt-get source (deb-src lists in a private folder), cached in
#     build/gpu-bundle/ffmpeg;
#   - libarchive linked statically (its shared build pulls libxml2 and ICU);
#   - every other shared library the binaries need except glibc, libstdc++,
#     libgcc_s and the CUDA libraries (cuBLAS, NCCL, the driver: those of the
#     GPU machine) packed into gpu-bundle/lib.tar.gz (libcudart too, as a
#     fallback after the machine's own). gpu-bundle/env.sh unpacks it to
#     lib/ on first use and puts lib/ and the machine's CUDA library folders
#     on LD_LIBRARY_PATH (and PATH to bin/);
#   - a few short test videos (made here with Debian's ffmpeg) for the
#     end-to-end encode-video check;
#   - MANIFEST: git commit, what each binary is, the newest glibc/libstdc++
#     symbol versions they need, sizes.
# Then it checks the bundle: ldd with only lib/ finds everything, and in a
# minimal Debian root (tools/fresh-check.sh's cached debootstrap tarball,
# when present) `vclip version` and a CPU test suite run.
# Usage: tools/gpu_bundle.sh [--no-verify]     (env: OUT_DIR, GB_BUILD, JOBS)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT_DIR:-$ROOT/gpu-bundle}
GB=${GB_BUILD:-$ROOT/build/gpu-bundle}
OBJ=$GB/obj
JOBS=${JOBS:-2}
VERIFY=1
[ "${1:-}" = --no-verify ] && VERIFY=0
say() { printf 'gpu-bundle: %s\n' "$*"; }
die() { printf 'gpu-bundle: error: %s\n' "$*" >&2; exit 1; }
mkdir -p "$GB"

# ---- 1. static decode-only FFmpeg of the installed version ----------------
FF=$GB/ffmpeg
FF_VER=$(dpkg-query -W -f='${Version}' libavcodec-dev 2>/dev/null) || die "libavcodec-dev is not installed"
FF_UP=${FF_VER#*:}; FF_UP=${FF_UP%%-*}   # 7:5.1.9-0+deb12u1 -> 5.1.9
FF_ARGS="--disable-autodetect --disable-everything --disable-programs --disable-doc --disable-network
 --disable-x86asm --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc
 --enable-static --disable-shared --enable-pic --enable-zlib --enable-protocol=file,pipe
 --enable-demuxer=mov,matroska,avi,mpegts,mpegps,flv,ogg,h264,hevc,m4v,mpegvideo,image2,mjpeg
 --enable-decoder=h264,hevc,mpeg4,mpeg1video,mpeg2video,vp8,vp9,mjpeg,rawvideo,theora,msmpeg4v3,h263
 --enable-parser=h264,hevc,mpeg4video,mpegvideo,vp8,vp9,mjpeg,h263
 --enable-bsf=vp9_superframe_split,h264_mp4toannexb,hevc_mp4toannexb"
FF_ARGS=$(echo $FF_ARGS)
FF_SRC=$FF/ffmpeg-$FF_UP
FF_LIBS="$FF_SRC/libavformat/libavformat.a $FF_SRC/libavcodec/libavcodec.a $FF_SRC/libswscale/libswscale.a $FF_SRC/libavutil/libavutil.a"
if [ "$(cat "$FF/stamp" 2>/dev/null)" != "$FF_VER $FF_ARGS" ] || ! ls $FF_LIBS >/dev/null 2>&1; then
    say "building a static decode-only FFmpeg $FF_UP (Debian $FF_VER source) in $FF"
    mkdir -p "$FF/lists/partial" "$FF/parts"
    if [ ! -f "$FF/ffmpeg_$FF_UP.orig.tar.xz" ]; then
        cat > "$FF/parts/src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        o=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$FF/parts" -o "Dir::State::Lists=$FF/lists")
        (cd "$FF" && timeout 300 apt-get "${o[@]}" -q update >/dev/null &&
            timeout 300 apt-get "${o[@]}" -q source --download-only "ffmpeg=$FF_VER" >/dev/null 2>&1) ||
            die "cannot fetch Debian's ffmpeg $FF_VER source (apt-get source; offline?)"
    fi
    rm -rf "$FF_SRC"
    tar -C "$FF" -xf "$FF/ffmpeg_$FF_UP.orig.tar.xz"
    # the headers vclip compiles against must be this version's
    grep -q "LIBAVCODEC_VERSION_MINOR *$(sed -n 's/#define LIBAVCODEC_VERSION_MINOR *//p' \
        /usr/include/x86_64-linux-gnu/libavcodec/version.h)\$" "$FF_SRC/libavcodec/version.h" ||
        die "FFmpeg source $FF_UP does not match the installed libavcodec headers"
    (cd "$FF_SRC" && ./configure $FF_ARGS >"$FF/configure.log" 2>&1) || die "FFmpeg configure failed ($FF/configure.log)"
    (cd "$FF_SRC" && nice make -j"$JOBS" >"$FF/build.log" 2>&1) || die "FFmpeg build failed ($FF/build.log)"
    echo "$FF_VER $FF_ARGS" > "$FF/stamp"
fi

# ---- 2. vclip, the CUDA tests and the benches, portable -march ------------
# The inner make (VC_INNER=1: the outer one only installs Debian packages)
# (gpu_bundle.mk's gpu-bundle-list: what the Makefile offers today; the CUDA
# parts appear as the CUDA branches land) with the library list of the
# Makefile's PKGS minus FFmpeg, plus the static
# FFmpeg; RUNPATH $ORIGIN/../lib so the bundle finds its own libraries.
PKGS_NOAV=$(make -s --no-print-directory VC_INNER=1 -f Makefile -f tools/gpu_bundle.mk print-pkgs | tr ' ' '\n' |
    grep -v -E '^(openblas|libavformat|libavcodec|libswscale|libavutil)$' | tr '\n' ' ')
BLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -f $BLAS_DIR/libopenblas.so ] || BLAS_DIR=/usr/lib/x86_64-linux-gnu
# libarchive static too: the shared one pulls libxml2 and ICU (33 MB) for
# formats vclip never reads; tar + the decompression filters need only these
PKG_LIBS_GB="-L$BLAS_DIR -Wl,-rpath,$BLAS_DIR -lopenblas $(pkg-config --libs $PKGS_NOAV |
    sed 's/-larchive/-l:libarchive.a -lbz2 -l:liblz4.so.1 -l:libzstd.so.1 -llzma/') $FF_LIBS -lz -lm -lpthread"
MK=(make --no-print-directory -j"$JOBS" -f Makefile -f tools/gpu_bundle.mk VC_INNER=1 BUILD="$OBJ"
    OPT="-O3 -march=x86-64-v3" MPI=0 PKG_LIBS="$PKG_LIBS_GB" 'LDFLAGS=-fopenmp -Wl,-rpath,\$$ORIGIN/../lib')
say "building vclip, tests and benches in $OBJ (-march=x86-64-v3, MPI=0, static FFmpeg)"
# relink every time: the link lines above are not something make tracks
mapfile -t BINS < <("${MK[@]}" -s gpu-bundle-list | tr ' ' '\n' | sed '/^$/d')
rm -f "${BINS[@]}"
"${MK[@]}" gpu-bundle-targets >"$GB/make.log" 2>&1 || { tail -30 "$GB/make.log"; die "build failed ($GB/make.log)"; }

# ---- 3. copy binaries and libraries ---------------------------------------
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp/bin" "$OUT.tmp/lib"
for b in "${BINS[@]}"; do
    [ -f "$b" ] || continue
    install -m755 "$b" "$OUT.tmp/bin/$(basename "$b")"
    strip --strip-debug "$OUT.tmp/bin/$(basename "$b")"
done
# libraries: the transitive closure through ldd on this machine, minus what
# the GPU machine has and must use its own of
keep_system='^(linux-vdso|ld-linux-x86-64|libc|libm|libpthread|libdl|librt|libresolv|libutil|libstdc\+\+|libgcc_s|libcuda|libnvidia-.*|libcublas|libcublasLt|libnccl)\.so'
for f in "$OUT.tmp"/bin/*; do ldd "$f"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
while read -r name path; do
    echo "$name" | grep -q -E "$keep_system" && continue
    cp -L "$path" "$OUT.tmp/lib/$name"
done
# cudart: the machine's own where it has one (any 13.x runs what 13.0 built),
# else this copy: lib/fallback comes last on LD_LIBRARY_PATH
mkdir -p "$OUT.tmp/lib/fallback"
mv "$OUT.tmp"/lib/libcudart.so* "$OUT.tmp/lib/fallback/" 2>/dev/null || true
# lib/ travels as one lib.tar.gz (OpenBLAS alone is 36 MB, 9 MB gzipped);
# env.sh unpacks it on first use. gzip: every machine has it. Re-packed only
# when the libraries change.
key=$( (cd "$OUT.tmp/lib" && find . -type f -printf '%P %s\n' | sort && find . -type f -print0 | sort -z | xargs -0 md5sum) | md5sum | cut -c1-32)
if [ "$(cat "$GB/lib.tar.gz.key" 2>/dev/null)" != "$key" ] || [ ! -f "$GB/lib.tar.gz" ]; then
    say "packing $(find "$OUT.tmp/lib" -type f | wc -l) libraries ($(du -sm "$OUT.tmp/lib" | cut -f1) MB) into lib.tar.gz"
    tar -C "$OUT.tmp" -cf - lib | gzip -9 > "$GB/lib.tar.gz.tmp"
    mv "$GB/lib.tar.gz.tmp" "$GB/lib.tar.gz"
    echo "$key" > "$GB/lib.tar.gz.key"
fi
cp "$GB/lib.tar.gz" "$OUT.tmp/lib.tar.gz"
LIBS_MB=$(du -sm "$OUT.tmp/lib" | cut -f1)
LIBS_N=$(find "$OUT.tmp/lib" -type f | wc -l)
NEEDS=$(for f in "$OUT.tmp"/bin/* $(find "$OUT.tmp/lib" -type f); do objdump -T "$f" 2>/dev/null; done |
    grep -o -E 'GLIBC_2\.[0-9]+|GLIBCXX_3\.4\.[0-9]+|CXXABI_1\.3\.[0-9]+' | sort -u -V |
    awk -F_ '{m[$1]=$0} END {for (k in m) printf "%s ", m[k]}')
rm -rf "$OUT.tmp/lib"
# binaries linked with an rpath to the toolkit (test_cuda_real, nccl_smoke):
# the GPU machine's toolkit may live elsewhere; env.sh's LD_LIBRARY_PATH wins
# over RUNPATH.

# ---- 4. test videos for encode-video --------------------------------------
mkdir -p "$OUT.tmp/videos"
if command -v ffmpeg >/dev/null; then
    for i in 0 1 2 3 4 5 6 7; do
        ffmpeg -loglevel error -y -f lavfi -i "testsrc2=size=320x240:rate=25:duration=4,hue=h=$((i * 45))" \
            -c:v libx264 -preset veryfast -pix_fmt yuv420p "$OUT.tmp/videos/clip$i.mp4" </dev/null ||
            die "ffmpeg could not make the test videos"
    done
fi

# ---- 5. env.sh and MANIFEST -----------------------------------------------
cat > "$OUT.tmp/env.sh" <<'EOF'
# Sourced by tools/gpu_check.sh (or by hand: . gpu-bundle/env.sh): the bundle's
# libraries first, then the CUDA libraries of this machine (cuBLAS, NCCL),
# wherever the toolkit or PyTorch's wheels put them.
GB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
if [ ! -d "$GB_DIR/lib" ]; then
    rm -rf "$GB_DIR/lib.unpack" && mkdir "$GB_DIR/lib.unpack" &&
        gzip -dc "$GB_DIR/lib.tar.gz" | tar -C "$GB_DIR/lib.unpack" -xf - &&
        mv "$GB_DIR/lib.unpack/lib" "$GB_DIR/lib" && rmdir "$GB_DIR/lib.unpack" ||
        echo "gpu-bundle: cannot unpack $GB_DIR/lib.tar.gz" >&2
fi
gb_cuda_dirs() {
    for d in "${CUDA_HOME:-}/lib64" "${CUDA_HOME:-}/lib" /usr/local/cuda/lib64 /usr/local/cuda/lib \
             /usr/local/cuda-*/lib64 /usr/local/cuda-*/lib /usr/local/cuda-*/targets/x86_64-linux/lib; do
        { [ -e "$d/libcublas.so.13" ] || [ -e "$d/libnccl.so.2" ]; } && echo "$d"
    done
    python3 - 2>/dev/null <<'PY'
import importlib, os
for m in ("nvidia.cublas", "nvidia.nccl", "nvidia.cuda_runtime", "nvidia.cu13"):
    try:
        for p in importlib.import_module(m).__path__:
            for sub in ("lib", "lib64"):
                if os.path.isdir(os.path.join(p, sub)): print(os.path.join(p, sub))
    except Exception:
        pass
PY
    ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13|libnccl\.so\.2/ {print $NF}' | xargs -r -n1 dirname
}
GB_CUDA_LIBS=$(gb_cuda_dirs | awk '!seen[$0]++' | paste -sd: -)
export LD_LIBRARY_PATH="$GB_DIR/lib${GB_CUDA_LIBS:+:$GB_CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:$GB_DIR/lib/fallback"
export PATH="$GB_DIR/bin:$PATH"
EOF
GLIBC_NEED=$(echo "$NEEDS" | grep -o -E 'GLIBC_2\.[0-9]+' | sed 's/GLIBC_//')
cat >> "$OUT.tmp/env.sh" <<EOF
# built against glibc $GLIBC_NEED: an older one cannot load the binaries
gb_glibc=\$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print \$2}')
[ -n "\$gb_glibc" ] && [ "\$(printf '%s\\n' "\$gb_glibc" $GLIBC_NEED | sort -V | head -1)" != $GLIBC_NEED ] &&
    echo "gpu-bundle: this machine's glibc \$gb_glibc is older than the $GLIBC_NEED the bundle needs" >&2
true
EOF
{
    echo "vclip gpu-bundle built $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release; echo "$PRETTY_NAME"), glibc $(ldd --version | head -1 | awk '{print $NF}')"
    echo "git: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!gpu-bundle' || echo ' (with uncommitted changes)') on $(git rev-parse --abbrev-ref HEAD)"
    echo "ffmpeg: static decode-only $FF_UP (Debian $FF_VER)"
    echo "binaries:"
    for f in "$OUT.tmp"/bin/*; do
        cu=$(readelf -d "$f" | grep -o -E 'lib(cudart|cublas|nccl)[^]]*' | paste -sd, - || true)
        printf '  %-22s %6d KB  %s\n' "$(basename "$f")" $(($(stat -c %s "$f") / 1024)) "${cu:+CUDA: $cu}"
    done
    echo "needs at most: $NEEDS (the GPU machine's glibc and libstdc++ must be as new)"
    echo "lib.tar.gz: $LIBS_N libraries, $LIBS_MB MB unpacked; whole bundle $(du -sm "$OUT.tmp" | cut -f1) MB as carried"
} > "$OUT.tmp/MANIFEST"
cat "$OUT.tmp/MANIFEST"
size=$(du -sb "$OUT.tmp" | cut -f1)
[ "$size" -lt $((56 * 1024 * 1024)) ] || die "the bundle is $((size / 1048576)) MiB: over the 56 MiB it may take of the 64 MiB a run carries"
rm -rf "$OUT"
mv "$OUT.tmp" "$OUT"

# ---- 6. verify -------------------------------------------------------------
[ $VERIFY = 1 ] || exit 0
tools/gpu_bundle_verify.sh "$OUT"
