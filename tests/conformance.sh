#!/bin/sh
# Conformance: every testvectors/*.nvc listed in testvectors/md5.txt decodes to the listed MD5 (all frames) with
# 1, 2 and 4 threads, and with SIMD off (NVC_CPU_MASK=0). The streams need the model they were made with; when
# libnvc embeds another one (the model was retrained without regenerating them) this FAILS: a commit that changes
# models/default.nvm must also run `sh testvectors/make.sh`, or the player test and users get stale streams.
BUILD=${BUILD:-build}
EXAMPLE=$BUILD/nvc_example
LIST=testvectors/md5.txt
[ -x "$EXAMPLE" ] || { echo "SKIP: $EXAMPLE not built"; exit 77; }
[ -f "$LIST" ] || { echo "SKIP: no $LIST"; exit 77; }
T=$(mktemp -d /tmp/nvc-conformance-XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
checked=0
while read -r name frames md5; do
    s=testvectors/$name
    [ -f "$s" ] || { echo "FAIL: $s listed but missing"; fails=$((fails + 1)); continue; }
    for mode in "1" "2" "4" "2 nosimd"; do
        set -- $mode
        if [ "$2" = nosimd ]; then mask=0; else mask=; fi
        NVC_CPU_MASK=$mask "$EXAMPLE" --threads "$1" "$s" >"$T/out" 2>"$T/err"
        rc=$?
        if [ $rc != 0 ] && grep -qi "model" "$T/err"; then
            echo "FAIL: $s was made with another model than the one in libnvc ($(head -n 1 "$T/err"))"
            echo "FAIL: regenerate the test vectors with the model, in the same commit: sh testvectors/make.sh"
            exit 1
        fi
        got=$(sed -n 's/^total //p' "$T/out")
        n=$(grep -vc '^total' "$T/out")
        if [ $rc != 0 ] || [ "$got" != "$md5" ] || [ "$n" != "$frames" ]; then
            echo "FAIL: $s, $1 threads${2:+, $2}: exit $rc, $n frames, MD5 $got; expected $frames frames, $md5"
            cat "$T/err"
            fails=$((fails + 1))
        fi
        checked=$((checked + 1))
    done
done <"$LIST"
[ $checked -gt 0 ] || { echo "FAIL: nothing checked"; exit 1; }
[ $fails = 0 ] || exit 1
echo "conformance: $checked decodes matched"
