#!/bin/sh
# Plays the sample stream: 10 seconds of real footage (the first 240 frames of OpenCV's Megamind.avi, 720x528,
# 24 fps) encoded by build/nvenc-ref at quality 32. The stream is made on first use, and again whenever libnvc
# (and so, possibly, its model) is newer than it, because a stream only decodes with the model it was made with.
#     sh tools/play_sample.sh [nvplay options, e.g. --null or -o out.y4m]
BUILD=${BUILD:-build}
SRC=/usr/share/doc/opencv-doc/examples/data/Megamind.avi
S=$BUILD/sample.nvc
[ -x "$BUILD/nvplay" ] && [ -x "$BUILD/nvenc-ref" ] || { echo "play_sample: build first: make -j2" >&2; exit 1; }
if [ ! -s "$S" ] || [ "$BUILD/libnvc.a" -nt "$S" ]; then
    [ -r "$SRC" ] || { echo "play_sample: $SRC is missing (package opencv-doc: scripts/deps.sh)" >&2; exit 1; }
    echo "play_sample: encoding 10 s of $SRC into $S (once) ..." >&2
    "$BUILD/nvenc-ref" --quality 32 --gop 32 --frames 240 "$SRC" -o "$S" || exit 1
fi
exec "$BUILD/nvplay" "$@" "$S"
