#!/bin/sh
# Installs the Debian packages nvc needs, only those missing. Safe to run repeatedly.
#   scripts/deps.sh          build + test dependencies (what CI needs)
#   scripts/deps.sh --train  also PyTorch/numpy for tools/train/
set -e
pkgs="build-essential pkg-config clang libclang-rt-14-dev libzstd-dev libavformat-dev libavcodec-dev \
libavutil-dev libswscale-dev libsdl2-dev ffmpeg xvfb xauth python3-numpy python3-matplotlib opencv-doc"
[ "$1" = "--train" ] && pkgs="$pkgs python3-torch"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends $missing
