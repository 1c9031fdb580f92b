#!/bin/sh
# Installs the Debian 12 packages vclip needs, by profile, only when something
# is missing (the checks cost well under a second when all is present):
#   tools/install-deps.sh build   what building and running build/vclip needs
#                                 (make, make demo); a failure here is fatal
#   tools/install-deps.sh test    build + what the tests build with (Check;
#                                 clang, compiler-rt, libomp, reference BLAS
#                                 for make fuzz and make test-tsan) and
#                                 the references they compare against (PyTorch,
#                                 h5py, NumPy, Pillow, h5dump, ffmpeg); when the
#                                 references cannot be installed the tests print
#                                 SKIP for them, so that part only warns
#   tools/install-deps.sh --list PROFILE   print the package names and exit
# Needs root or sudo when something is missing. Called by the Makefile before
# it computes any compiler flag (see its first lines) and by .ci/run.
set -e
PY=${PY:-/usr/bin/python3}
BLAS_OMP_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp

BUILD_PKGS="build-essential pkg-config libopenblas-openmp-dev libhdf5-dev libarchive-dev libinih-dev
  libcjson-dev zlib1g-dev libpcre2-dev libutf8proc-dev libavformat-dev libavcodec-dev libswscale-dev
  libavutil-dev libprotobuf-c-dev protobuf-c-compiler libcairo2-dev libopenmpi-dev openmpi-bin libdnnl-dev"
# pkg-config names of the libraries above (the Makefile's PKGS must stay a subset)
BUILD_PC="openblas hdf5 libarchive inih libcjson libavformat libavcodec libswscale libavutil
  libpcre2-8 zlib libutf8proc libprotobuf-c cairo ompi-c"
# Open MPI (ompi-c, mpirun) is built in by default so that `mpirun -np N
# build/vclip train` works after make; `make MPI=0` builds without it.
# clang + compiler-rt + LLVM's OpenMP (with its Archer tool) + the serial
# reference BLAS: make fuzz (libFuzzer) and make test-tsan (ThreadSanitizer)
TEST_BUILD_PKGS="check clang libclang-rt-14-dev libomp-14-dev libblas-dev"
TEST_REF_PKGS="ca-certificates hdf5-tools ffmpeg python3 python3-venv python3-pip python3-torch python3-numpy
  python3-h5py python3-pil"

profile=${1:-build}
if [ "$profile" = --list ]; then
    case "$2" in
        build) echo $BUILD_PKGS ;;
        test) echo $BUILD_PKGS $TEST_BUILD_PKGS $TEST_REF_PKGS ;;
        *) echo "install-deps: --list build|test" >&2; exit 2 ;;
    esac
    exit 0
fi
case "$profile" in build|test) ;; *) echo "install-deps: unknown profile '$profile' (build or test)" >&2; exit 2 ;; esac

build_ok() {
    command -v cc >/dev/null 2>&1 && command -v pkg-config >/dev/null 2>&1 &&
    pkg-config --exists $BUILD_PC && [ -e $BLAS_OMP_DIR/libopenblas.so ] &&
    [ -e /usr/include/oneapi/dnnl/dnnl.h ] &&
    command -v protoc-c >/dev/null 2>&1 && command -v mpirun >/dev/null 2>&1
}
test_build_ok() {
    pkg-config --exists check && command -v clang >/dev/null 2>&1 &&
    ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 &&
    ls /usr/lib/llvm-*/lib/libarcher.so >/dev/null 2>&1 && [ -e /usr/lib/x86_64-linux-gnu/blas/libblas.so ]
}
test_refs_ok() {
    command -v h5dump >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1 &&
    "$PY" -c 'import torch, h5py, numpy, PIL, venv, ensurepip' >/dev/null 2>&1
}

SUDO=""
apt_install() {   # apt_install WHAT PKG...: 0 when installed
    what=$1; shift
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
            echo "install-deps: $what missing; not root and no sudo; install these Debian packages: $*" >&2
            return 1
        fi
    fi
    echo "install-deps: installing $what: $*"
    if [ -z "$UPDATED" ]; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q || return 1
        UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$@"
}

if ! build_ok; then
    apt_install "build dependencies" $BUILD_PKGS || { echo "install-deps: cannot install the build dependencies" >&2; exit 1; }
    build_ok || { echo "install-deps: build dependencies still missing after install (pkg-config: $BUILD_PC)" >&2; exit 1; }
fi
[ "$profile" = build ] && exit 0

if ! test_build_ok; then
    apt_install "the test build tools (Check, clang)" $TEST_BUILD_PKGS ||
        { echo "install-deps: cannot install Check, clang, compiler-rt, libomp, reference BLAS" >&2; exit 1; }
fi
if ! test_refs_ok; then
    apt_install "test references" $TEST_REF_PKGS ||
        echo "install-deps: warning: test references (PyTorch, h5py, NumPy, Pillow, h5dump, ffmpeg) not installed; their tests will print SKIP" >&2
fi
exit 0
