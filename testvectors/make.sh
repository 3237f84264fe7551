#!/bin/sh
# Regenerates the conformance streams and their decoded MD5s (run it when models/default.nvm or the stream
# format changes):
#
#     make && sh testvectors/make.sh
#
# Each stream is cut from OpenCV's sample clips (package opencv-doc), encoded by build/nvenc-ref with the model
# built into libnvc, and checked on the way: the encoder's reconstruction (--recon) must equal what the decoder
# outputs (nvc_example). testvectors/md5.txt then lists "<stream> <frames> <MD5 of all decoded frames>", which
# tests/conformance.sh compares against every thread count and SIMD on/off.
set -e
BUILD=${BUILD:-build}
DATA=/usr/share/doc/opencv-doc/examples/data
DIR=$(dirname "$0")
T=$(mktemp -d /tmp/nvc-testvectors-XXXXXX)
trap 'rm -rf "$T"' EXIT

# name  source  ffmpeg filter  frames  nvenc-ref options (--fixed-gop --full-p where the P-frames must stay P
# with motion and residual; the megamind streams use the encoder's defaults: adaptive I-frames and P-frames
# that leave out motion and/or residual; at q0 they show several P-frame kinds, which ones depends on the model:
# build/nvcinfo lists them; the tree stream has 32-lane substreams, the widest AVX2 decoding, where the encoder
# would choose fewer: nvcinfo -v shows them, and at q52 every frame has scale shifts)
cat >"$T/list" <<EOF
vtest_64x64_q20_gop2 vtest.avi crop=64:64:300:200 4 -q 20 --gop 2 --fixed-gop --full-p --substreams 1
tree_352x288_q52_gop3 tree.avi scale=352:288 5 -q 52 --gop 3 --fixed-gop --full-p --substreams 4 --lanes 32
megamind_720x528_q32_gop4 Megamind.avi null 3 -q 32 --gop 4
vtest_200x136_q8_gop1 vtest.avi scale=200:150,crop=200:136 3 -q 8 --gop 1 --substreams 2
megamind_256x192_q0_gop8 Megamind.avi crop=256:192:100:100 6 -q 0 --gop 8
EOF

# Streams of earlier format versions (named *_v<major>.<minor>.nvc) are kept as they are, with their MD5 lines:
# they prove that the decoder still reads those versions (megamind_256x192_q0_gop8_v2.2.nvc: the stream of that
# name made by session 13's encoder, format 2.2, motion always hyperprior-coded; the _v2.3 one by session 14's, its
# P-frames with context-coded vectors and I-frames with context-coded block means in the fixed-width headers; the
# _v3.0 one by session 14's final encoder, compact headers, no scale shifts).
grep '_v[0-9]*\.[0-9]*\.nvc ' "$DIR/md5.txt" >"$T/md5.txt" || :
while read -r name src filter frames opts; do
    ffmpeg -nostdin -loglevel error -y -i "$DATA/$src" -frames:v "$frames" -vf "$filter" -pix_fmt yuv420p "$T/$name.y4m"
    # shellcheck disable=SC2086
    "$BUILD/nvenc-ref" --quiet $opts --recon "$T/$name.rec.y4m" "$T/$name.y4m" -o "$DIR/$name.nvc"
    rec=$(ffmpeg -nostdin -loglevel error -i "$T/$name.rec.y4m" -f rawvideo - | md5sum | cut -d' ' -f1)
    dec=$("$BUILD/nvc_example" "$DIR/$name.nvc" | sed -n 's/^total //p')
    n=$("$BUILD/nvc_example" "$DIR/$name.nvc" | grep -vc '^total')
    [ "$rec" = "$dec" ] || { echo "$name: encoder reconstruction $rec != decoder output $dec"; exit 1; }
    echo "$name.nvc $n $dec" >>"$T/md5.txt"
    echo "$name: $n frames, $(wc -c <"$DIR/$name.nvc") bytes, $dec"
done <"$T/list"
cp "$T/md5.txt" "$DIR/md5.txt"
