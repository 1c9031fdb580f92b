#!/bin/sh
# Installs the Debian packages vclip builds and tests with. Needs root (or sudo).
set -e
PKGS="build-essential pkg-config libopenblas-dev check libhdf5-dev hdf5-tools libarchive-dev
      libinih-dev libcjson-dev python3-torch python3-numpy python3-h5py"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y $PKGS
