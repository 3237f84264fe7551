#!/bin/sh
# Is a checkpoint better than the shipped model in the real codec? Exports CKPT to a temporary .nvm and runs
# tools/rd.py with it and with the shipped model (models/default.nvm, built into build/nvenc-ref) on *training*
# footage, so that choosing a checkpoint never tunes on the evaluation clips: 60 frames of vtest from frame 200
# and of Megamind from frame 130 (docs/model.md, "Training data"), the encoder's defaults, qualities 0..63.
# Prints the BD-rate of the candidate against the shipped model per clip (negative = fewer bits for the same
# PSNR) and both against x264 medium. About 3 minutes on 2 cores (the x264/x265 anchors are encoded once).
#
#     make && tools/train/accept.sh path/to/candidate.pt [extra nvenc-ref options for both]
#
# Why: session 6 found that the training validation (256x256 crops, 3-frame sequences) and export.py --check do
# not predict the clips: a QAT continuation within +-0.2 dB of the shipped model there was 11-20% worse here.
set -e
CKPT=${1:?usage: accept.sh CKPT [nvenc-ref options]}
shift
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLIPS=${CLIPS:-vtest.avi@200,Megamind.avi@130}
T=$(mktemp -d /tmp/nvc-accept-XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$ROOT/build/nvenc-ref" ] && [ -x "$ROOT/build/nvplay" ] || { echo "accept.sh: run make first" >&2; exit 1; }
/usr/bin/python3 "$ROOT/tools/train/export.py" --ckpt "$CKPT" --out "$T/candidate.nvm" | tail -1
/usr/bin/python3 "$ROOT/tools/rd.py" --build "$ROOT/build" --clips "$CLIPS" --variants nvc --nvc-args "$*" \
    --out "$T/shipped" --work "$T/w" >"$T/shipped.log"
/usr/bin/python3 "$ROOT/tools/rd.py" --build "$ROOT/build" --clips "$CLIPS" --variants nvc \
    --nvc-args "--model $T/candidate.nvm $*" --anchors-from "$T/shipped/rd.csv" --compare "$T/shipped/rd.csv" \
    --out "$T/candidate" --work "$T/w" >"$T/candidate.log"
echo "shipped model:"
grep "BD-rate nvc vs x264" "$T/shipped.log"
echo "candidate $CKPT:"
grep "BD-rate nvc vs x264\|BD-rate nvc vs nvc" "$T/candidate.log" | sed "s|$T/shipped/rd.csv|the shipped model|"
