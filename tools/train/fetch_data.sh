#!/bin/sh
# Gather the nvc training data reproducibly from Debian packages into data/ (git-ignored).
#   tools/train/fetch_data.sh            (run from the repository root; no root needed except for opencv-doc)
# Sources (all Debian bookworm main):
#   opencv-doc                    /usr/share/doc/opencv-doc/examples/data: photos + vtest.avi, Megamind.avi
#                                 (must be installed: apt-get install opencv-doc)
#   plasma-workspace-wallpapers   /usr/share/wallpapers/*/contents/images*/ (largest version of each)
#   mate-backgrounds              /usr/share/backgrounds/mate/{nature,desktop,abstract}
#   lomiri-wallpapers-20.04       /usr/share/backgrounds/*.jpg
# The wallpaper packages are fetched with `apt-get download` and unpacked with `dpkg -x` (no install).
# Evaluation frames (frames 0..127 of every opencv-doc clip, and all of tree.avi) are never written to data/.
# The clips of python3-imageio and of npm packages are reserved for independent evaluation and never touched.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA="$ROOT/data"
mkdir -p "$DATA/debs" "$DATA/src"
if [ ! -d /usr/share/doc/opencv-doc/examples/data ]; then
  echo "opencv-doc is not installed: apt-get install opencv-doc" >&2; exit 1
fi
cd "$DATA/debs"
for p in plasma-workspace-wallpapers mate-backgrounds lomiri-wallpapers-20.04; do
  if ! ls ${p}_*.deb >/dev/null 2>&1; then apt-get download "$p"; fi
done
for d in *.deb; do
  n=${d%%_*}
  [ -d "$DATA/src/$n" ] || dpkg -x "$d" "$DATA/src/$n"
done
cd "$ROOT"
/usr/bin/python3 tools/train/prep_data.py --data "$DATA"
