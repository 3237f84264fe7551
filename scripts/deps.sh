#!/bin/sh
# Installs the Debian packages nvc needs, only those missing. Safe to run repeatedly.
#   scripts/deps.sh          build + test dependencies (what CI needs)
#   scripts/deps.sh --train  also PyTorch/numpy for tools/train/
# What each is for: build-essential, pkg-config (build; `make install` test); clang, libclang-rt-14-dev
# (libFuzzer targets); libzstd-dev (model weights); libav*-dev, libswscale-dev (nvplay output, RD harness);
# libsdl2-dev (nvplay window); ffmpeg (RD harness: x264/x265, clip conversion); xvfb, xauth, imagemagick
# (player test: window screenshot without a display); python3-numpy, python3-matplotlib (RD plots, conformance
# checks); opencv-doc (its sample images and clips: test and training material).
set -e
pkgs="build-essential pkg-config clang libclang-rt-14-dev libzstd-dev libavformat-dev libavcodec-dev \
libavutil-dev libswscale-dev libsdl2-dev ffmpeg xvfb xauth imagemagick python3-numpy python3-matplotlib opencv-doc"
[ "${1:-}" = "--train" ] && pkgs="$pkgs python3-torch"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "deps: not root and no sudo; as root run: apt-get install -y$missing" >&2
        exit 1
    fi
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
