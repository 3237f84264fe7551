#!/bin/sh
# nvenc-ref end to end: options and errors (bad usage 2, unreadable input / odd size 1, no output file left
# behind), then a real clip (tests/data/vtest_144x80.y4m, and the same frames through libav from an .avi):
# the stream is complete (nvcinfo), the --recon output equals what the library's decoder outputs (frame MD5s
# from nvc_example, 1 and 2 threads), --frames and --gop are honoured. Needs a model: $NVC_TEST_MODEL, else the
# one embedded in libnvc (models/default.nvm at build time); SKIP without one.
BUILD=${BUILD:-build}
ENC=$BUILD/nvenc-ref
EXAMPLE=$BUILD/nvc_example
CLIP=tests/data/vtest_144x80.y4m
T=$(mktemp -d /tmp/nvc-nvenc-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$ENC" ] || { echo "SKIP: $ENC not built (needs libavformat-dev: scripts/deps.sh)"; exit 77; }
run() { timeout 120 "$ENC" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
expect() { [ "$rc" = "$1" ] || { cat "$T/err"; fail "nvenc-ref $2: exit $rc, expected $1"; }; }
expect_err() { grep -qi -- "$1" "$T/err" || { cat "$T/err"; fail "nvenc-ref $2: no message matching '$1'"; }; }

# ---- usage ----
run --help; expect 0 --help; grep -q -- "--quality" "$T/out" || fail "--help does not list --quality"
run --version; expect 0 --version; grep -q "nvenc-ref (nvc) [0-9]" "$T/out" || fail "--version: $(cat "$T/out")"
run; expect 2 "(no arguments)"; expect_err "no input" "(no arguments)"
run "$CLIP"; expect 2 "(no -o)"; expect_err "-o" "(no -o)"
run --bogus "$CLIP" -o "$T/x.nvc"; expect 2 --bogus; expect_err "unknown option" --bogus
run -q 64 "$CLIP" -o "$T/x.nvc"; expect 2 "-q 64"; expect_err "0..63" "-q 64"
run --gop abc "$CLIP" -o "$T/x.nvc"; expect 2 "--gop abc"
run --threads "$CLIP" -o "$T/x.nvc"; expect 2 "--threads without a number"

# ---- unreadable input, odd size: exit 1, a message, no output file ----
run "$T/missing.y4m" -o "$T/x.nvc"; expect 1 "(missing input)"; expect_err "missing.y4m" "(missing input)"
head -c 3000 /dev/urandom >"$T/garbage.mp4"
run "$T/garbage.mp4" -o "$T/x.nvc"; expect 1 "(garbage input)"
if command -v ffmpeg >/dev/null; then
    ffmpeg -loglevel error -y -i "$CLIP" -vf format=yuv444p,crop=143:80:0:0 -c:v rawvideo -pix_fmt yuv444p "$T/odd.nut" 2>/dev/null &&
        { run "$T/odd.nut" -o "$T/x.nvc"; expect 1 "(odd width)"; expect_err "even" "(odd width)"; }
fi
[ ! -e "$T/x.nvc" ] || fail "an output file was left after a failure"
[ -z "$(ls "$T" | grep -v -e garbage -e odd -e out -e err)" ] || fail "temporary files left: $(ls "$T")"

# ---- a real clip ----
run --quiet --gop 4 -q 20 --recon "$T/rec.y4m" "$CLIP" -o "$T/a.nvc"
if [ "$rc" != 0 ] && grep -qi "model" "$T/err"; then echo "SKIP: no model: $(cat "$T/err")"; exit 77; fi
expect 0 "(encode)"
[ ! -s "$T/err" ] && [ ! -s "$T/out" ] || fail "--quiet printed: $(cat "$T/out" "$T/err")"
"$BUILD/nvcinfo" "$T/a.nvc" >"$T/info" 2>&1 || { cat "$T/info"; fail "nvcinfo on the encoder's output"; }
grep -q "^frames       5 (2 I, 3 P), numbers 0..4" "$T/info" || { cat "$T/info"; fail "frames"; }
grep -q "^picture      144x80" "$T/info" || fail "size"
grep -q "^gop          4" "$T/info" || fail "gop"
grep -q "^frame rate   10/1" "$T/info" || fail "frame rate"
if command -v ffmpeg >/dev/null; then
    ffmpeg -loglevel error -i "$T/rec.y4m" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $6}' >"$T/rec.md5"
    [ "$(wc -l <"$T/rec.md5")" = 5 ] || fail "--recon has $(wc -l <"$T/rec.md5") frames"
    for t in 1 2; do
        "$EXAMPLE" --threads $t "$T/a.nvc" | grep -v '^total' | awk '{print $3}' >"$T/dec.md5" || fail "nvc_example"
        cmp -s "$T/rec.md5" "$T/dec.md5" || { paste "$T/rec.md5" "$T/dec.md5"; fail "decoder ($t threads) != --recon"; }
    done
    # the same pictures through libav from another container give the same stream
    ffmpeg -loglevel error -y -i "$CLIP" -c:v rawvideo -pix_fmt yuv420p "$T/clip.avi" &&
        { run --quiet --gop 4 -q 20 "$T/clip.avi" -o "$T/b.nvc"; expect 0 "(.avi input)"; }
    cmp -s "$T/a.nvc" "$T/b.nvc" || fail "the .avi input gives another stream than the .y4m"
    # --plain-rounding: the latents as the analysis rounds them (by default rate-distortion optimised): another,
    # larger stream, which also decodes to its reconstruction
    run --quiet --gop 4 -q 20 --plain-rounding --recon "$T/plain.y4m" "$CLIP" -o "$T/p.nvc"; expect 0 --plain-rounding
    [ "$(stat -c %s "$T/p.nvc")" -gt "$(stat -c %s "$T/a.nvc")" ] ||
        fail "--plain-rounding: $(stat -c %s "$T/p.nvc") bytes, the default $(stat -c %s "$T/a.nvc")"
    ffmpeg -loglevel error -i "$T/plain.y4m" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $6}' >"$T/rec.md5"
    "$EXAMPLE" --threads 2 "$T/p.nvc" | grep -v '^total' | awk '{print $3}' >"$T/dec.md5" || fail "nvc_example"
    cmp -s "$T/rec.md5" "$T/dec.md5" || fail "--plain-rounding: decoder != --recon"
fi
# I-frames at q + 45 by default (--i-offset; clamped to 63), P-frames at q; --fixed-gop --full-p: the plain structure
grep -q "^       0  I      63 " "$T/info" || { cat "$T/info"; fail "I-frame quality (q 20 + default offset 45, clamped)"; }
run --quiet --gop 2 -q 20 --fixed-gop --full-p --i-offset -30 "$CLIP" -o "$T/e.nvc"; expect 0 "--full-p --i-offset"
"$BUILD/nvcinfo" "$T/e.nvc" >"$T/info" 2>&1
grep -q "^frames       5 (3 I, 2 P)" "$T/info" || { cat "$T/info"; fail "--fixed-gop --gop 2"; }
grep -q "^       2  I       0 " "$T/info" || { cat "$T/info"; fail "--i-offset -30 at q 20: I-frames at quality 0"; }
grep -q "^       3  P      20 " "$T/info" || { cat "$T/info"; fail "--full-p: a P-frame with motion and residual"; }
! grep -q "^P-frames" "$T/info" || { cat "$T/info"; fail "--full-p: P-frames without motion or residual"; }
run --i-offset 64 "$CLIP" -o "$T/f.nvc"; expect 2 "(--i-offset 64)"
run --key-refine -1 "$CLIP" -o "$T/f.nvc"; expect 2 "(--key-refine -1)"
run --quiet --frames 2 --gop 1 "$CLIP" -o "$T/c.nvc"; expect 0 "--frames 2"
"$BUILD/nvcinfo" "$T/c.nvc" | grep -q "^frames       2 (2 I, 0 P)" || fail "--frames 2 --gop 1"
# --lanes: every non-empty substream of this small clip has that many lanes (its runs are long enough for 8, not
# for 32: capped), and the stream still decodes to the reconstruction; out of range refused
run --quiet --lanes 8 --recon "$T/g.y4m" "$CLIP" -o "$T/g.nvc"; expect 0 "--lanes 8"
"$BUILD/nvcinfo" -v "$T/g.nvc" >"$T/info" 2>&1
grep "segment [0-9]*:" "$T/info" | grep -q ":8" || { cat "$T/info"; fail "--lanes 8: no substream with 8 lanes"; }
! grep "segment [0-9]*:" "$T/info" | grep -q ":32" || { cat "$T/info"; fail "--lanes 8: a substream with 32 lanes"; }
if command -v ffmpeg >/dev/null; then
    ffmpeg -loglevel error -i "$T/g.y4m" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $6}' >"$T/rec.md5"
    "$EXAMPLE" --threads 2 "$T/g.nvc" | grep -v '^total' | awk '{print $3}' >"$T/dec.md5" || fail "nvc_example"
    [ -s "$T/rec.md5" ] && cmp -s "$T/rec.md5" "$T/dec.md5" || fail "--lanes 8: decoder != --recon"
fi
run --lanes 33 "$CLIP" -o "$T/h.nvc"; expect 2 "(--lanes 33)"; expect_err "0..32" "(--lanes 33)"
# Automatic substreams: from the size (576x320: 5 for the latents y, one per 64 Ki symbols plus one for the second
# channel slice), fewer where each would carry less than 4 KiB (a low-rate latent); the same pictures as with the
# size's count (a fixed structure: the encoder's frame-kind decisions weigh bytes), each decoded to its --recon
if command -v ffmpeg >/dev/null; then
    ffmpeg -loglevel error -y -i "$CLIP" -frames:v 3 -vf scale=576:320 -pix_fmt yuv420p "$T/big.y4m" || fail "ffmpeg scale"
    for n in 0 5; do
        run --quiet -q 0 --gop 4 --fixed-gop --full-p --substreams $n --recon "$T/sub$n.y4m" "$T/big.y4m" -o "$T/sub$n.nvc"
        expect 0 "--substreams $n"
        "$BUILD/nvcinfo" "$T/sub$n.nvc" | awk '$1 ~ /^[0-9]+$/ { print $2, $NF }' >"$T/sub$n.y"
        ffmpeg -loglevel error -i "$T/sub$n.y4m" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $6}' >"$T/rec$n.md5"
        "$EXAMPLE" --threads 2 "$T/sub$n.nvc" | grep -v '^total' | awk '{print $3}' >"$T/dec.md5" || fail "nvc_example"
        [ -s "$T/dec.md5" ] && cmp -s "$T/rec$n.md5" "$T/dec.md5" || fail "--substreams $n: decoder != --recon"
    done
    grep -q "^P .*/5$" "$T/sub5.y" || { cat "$T/sub5.y"; fail "--substreams 5: the residual latent in 5 substreams"; }
    grep -q "^P .*/2$" "$T/sub0.y" || { cat "$T/sub0.y"; fail "automatic substreams at q0: the residual in 2"; }
    cmp -s "$T/rec0.md5" "$T/rec5.md5" || fail "automatic and 5 substreams: other pictures"
    [ "$(stat -c %s "$T/sub0.nvc")" -lt "$(stat -c %s "$T/sub5.nvc")" ] || fail "automatic substreams: not smaller"
fi
# A model without context graphs (the shipped one with them removed: each latent in one piece, as the models
# before session 7 coded it) encodes and decodes to the same pictures; its I-frame's latent segment has one
# substream where the shipped model's has one per channel slice (2 at this size); both code the block means in a
# segment of their own.
if [ -f models/default.nvm ] && [ -x "$BUILD/nvplay" ] && command -v ffmpeg >/dev/null &&
   /usr/bin/python3 -c 'import numpy' 2>/dev/null && /usr/bin/python3 - models/default.nvm "$T/noctx.nvm" <<'PY'
import sys
sys.path.insert(0, "tools/train")
import nvm
m = nvm.read_nvm(sys.argv[1])
n = len(m.graphs)
m.graphs = [g for g in m.graphs if "_ctx" not in g.name]
if len(m.graphs) == n:
    sys.exit(1)   # no context graphs to remove
nvm.write_nvm(sys.argv[2], m)
PY
then
    # a fixed structure and plain rounding, so that the encoder's rate-dependent decisions (frame kinds, latent
    # values) cannot differ
    run --quiet --gop 4 -q 20 --fixed-gop --full-p --plain-rounding --model "$T/noctx.nvm" --recon "$T/n.y4m" "$CLIP" \
        -o "$T/n.nvc"
    expect 0 "--model (no context graphs)"
    run --quiet --gop 4 -q 20 --fixed-gop --full-p --plain-rounding --recon "$T/s.y4m" "$CLIP" -o "$T/s.nvc"
    expect 0 "(shipped model)"
    # column 8: segment 1, the latent (segment 2 holds the block means)
    for f in s n; do "$BUILD/nvcinfo" "$T/$f.nvc" | awk '$1 == "0" && $2 == "I" { print $8 }' >"$T/$f.iy"; done
    grep -q '/1$' "$T/n.iy" && grep -q '/2$' "$T/s.iy" ||
        fail "I-frame latent substreams: $(cat "$T/n.iy") without context graphs, $(cat "$T/s.iy") with"
    timeout 60 "$BUILD/nvplay" --model "$T/noctx.nvm" -o "$T/nd.y4m" "$T/n.nvc" 2>"$T/err" || fail "nvplay --model"
    for f in n nd s; do
        ffmpeg -loglevel error -i "$T/$f.y4m" -f framemd5 - | grep -v '^#' | awk -F', *' '{print $6}' >"$T/$f.md5"
    done
    [ -s "$T/n.md5" ] && cmp -s "$T/n.md5" "$T/nd.md5" || fail "no-context model: decoder != --recon"
    # the context graphs move only rate: the same latents, the same pictures
    cmp -s "$T/n.md5" "$T/s.md5" || fail "no-context model: other pictures than the shipped model's"
fi
# the summary without --quiet
run --threads 2 --substreams 3 "$CLIP" -o "$T/d.nvc"; expect 0 "(summary)"
grep -q "encoded 5 frames.*kbps.*PSNR" "$T/err" || { cat "$T/err"; fail "no summary line"; }
echo "nvenc-ref: all checks passed"
