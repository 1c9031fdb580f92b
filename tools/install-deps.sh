#!/bin/sh
# Installs the Debian packages vclip builds and tests with (Debian 12).
# Needs root or sudo. Used by `make deps` (called by make, make test, make demo)
# and by .ci/run.
set -e
PKGS="build-essential pkg-config libopenblas-openmp-dev check libhdf5-dev hdf5-tools libarchive-dev
      libinih-dev libcjson-dev zlib1g-dev libpcre2-dev libutf8proc-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg python3-pil python3-venv python3-pip python3-torch python3-numpy python3-h5py"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-deps: not root and no sudo; install these Debian packages: $PKGS" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y $PKGS
