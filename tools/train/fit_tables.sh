#!/bin/sh
# Fits format 3.1's table sets (entropy/fitted_cdf.c; docs/entropy.md "Fitted tables") to the shipped model:
#
#     make && tools/train/fit_tables.sh          (from the repository root; needs data/ from fetch_data.sh)
#
# 1. Encodes training footage with build/nvenc-ref --gaussian-tables (the Gaussian set, as the statistics are
#    of the Gaussian tables' indices): 30 frames each of vtest.avi from frame 400 and Megamind.avi from frame 170
#    (both in the training split: frames 0..127 are the evaluation reserve) at q 0, 16, 32, 48, 63, GOP 32; and
#    12 training photos of 480 to 720 lines (data/manifest.json, a fixed random choice) as I-frames at q45 and
#    q63 (the qualities I-frames are coded at).
# 2. build/symbol_stats counts what each table coded -> tools/train/fit/counts.txt.
# 3. tools/train/fit_tables.py fits the sets -> entropy/fitted_cdf.c.
# ~10 minutes on 2 cores.
set -e
BUILD=${BUILD:-build}
DATA=/usr/share/doc/opencv-doc/examples/data
OUT=tools/train/fit
T=$(mktemp -d /tmp/nvc-fit-XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -f data/manifest.json ] || { echo "fit_tables.sh: data/manifest.json missing: run tools/train/fetch_data.sh"; exit 1; }
mkdir -p "$OUT"
ENC="$BUILD/nvenc-ref --gaussian-tables --quiet"
ffmpeg -nostdin -loglevel error -y -i "$DATA/vtest.avi" -vf "select='between(n,400,429)'" -vsync 0 -pix_fmt yuv420p "$T/vt400.y4m"
ffmpeg -nostdin -loglevel error -y -i "$DATA/Megamind.avi" -vf "select='between(n,170,199)'" -vsync 0 -pix_fmt yuv420p "$T/mm170.y4m"
for c in vt400 mm170; do
    for q in 0 16 32 48 63; do
        $ENC -q $q --gop 32 "$T/$c.y4m" -o "$T/${c}_$q.nvc"
    done
done
/usr/bin/python3 - "$T/photos.txt" <<'PY'
import json, random, sys
photos = [p for p in json.load(open('data/manifest.json'))['photos'] if p['split'] == 'train' and 480 <= p['h'] <= 720]
random.seed(1)
open(sys.argv[1], 'w').write('\n'.join('%s %d %d' % (p['file'], p['w'], p['h']) for p in random.sample(photos, 12)))
PY
while read -r f w h; do
    n=$(basename "$f" .yuv)
    ffmpeg -nostdin -loglevel error -y -f rawvideo -pix_fmt yuv420p -s "${w}x$h" -i "data/$f" -frames:v 1 \
        -vf "crop=trunc(iw/2)*2:trunc(ih/2)*2" "$T/$n.y4m"
    for q in 45 63; do
        $ENC -q $q --gop 1 --i-offset 0 "$T/$n.y4m" -o "$T/ph_${n}_$q.nvc"
    done
done <"$T/photos.txt"
"$BUILD/symbol_stats" "$T"/*.nvc >"$OUT/counts.txt"
/usr/bin/python3 tools/train/fit_tables.py "$OUT/counts.txt" entropy/fitted_cdf.c
echo "fit_tables.sh: $(wc -l <"$OUT/counts.txt") counts -> entropy/fitted_cdf.c"
