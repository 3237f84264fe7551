#!/bin/sh
# Every graph of the shipped model (models/default.nvm: encoder and decoder sub-networks, the warp, the context
# graphs and the linear paths included) run on random inputs by the C engine and by the exact Python integer mirror
# (tools/train/nvcint.py) at a random quality: identical bytes; so do the encoder's block analyses (blobs).
# test_nvcint runs each case with the scalar and the SIMD kernels and with 1 and 3 threads. This is what lets
# training simulate the decoder exactly.
set -e
BUILD=${BUILD:-build}
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skip: /usr/bin/python3 with numpy is needed"; exit 77; }
[ -f models/default.nvm ] || { echo "skip: no models/default.nvm"; exit 77; }
D=$(mktemp -d /tmp/nvc-model-mirror-XXXXXX)
trap 'rm -rf "$D"' EXIT
# a 64x128 luma picture: latents 4x8, hyper-latents 1x2, every graph at a few rows and columns
/usr/bin/python3 tools/train/nvcint.py --model-cases models/default.nvm 64x128 "$D" 11 >"$D/graphs"
n=0
for g in $(cat "$D/graphs"); do
    out=$("$BUILD/tests/test_nvcint" "$D/$g" "$g" 2>&1) || { echo "$g: C engine != Python mirror"; echo "$out"; exit 1; }
    echo "$g: $(echo "$out" | tail -1)"
    n=$((n + 1))
done
# 14: the analysis, hyper-encoder, hyper-decoder and synthesis of each of the three latents, and the context graphs
# of the I and residual latents (the block-vector motion latent, 2 channels, has none)
[ "$n" -ge 14 ] || { echo "only $n graphs in the model (14 with the context graphs)"; exit 1; }
echo "$n graphs: C == Python mirror"
# the encoder's block analyses (blobs i_analysis_exact, p_res_enc_exact; codec/block_analysis.h), C == mirror
for b in i_analysis_exact p_res_enc_exact; do
    /usr/bin/python3 tools/train/nvcint.py --analysis-case models/default.nvm $b 64x128 "$D/$b" 12
    out=$("$BUILD/tests/test_block_analysis" "$D/$b" $b 2>&1) || { echo "$b: C != Python mirror"; echo "$out"; exit 1; }
    echo "$b: $(echo "$out" | tail -1)"
done
