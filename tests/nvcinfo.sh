#!/bin/sh
# nvcinfo on an intact, a damaged, an unfinished and a non-.nvc file: what it prints and its exit status.
BUILD=${BUILD:-build}
info="$BUILD/nvcinfo"
[ -x "$info" ] || { echo "skip: $info not built"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect DESCRIPTION COMMAND-STATUS WANTED-STATUS PATTERN FILE
    if [ "$2" -ne "$3" ]; then echo "FAIL $1: exit $2, expected $3"; fail=1; fi
    if ! grep -q -- "$4" "$5"; then echo "FAIL $1: no line matching '$4' in:"; cat "$5"; fail=1; fi
}
"$BUILD/tests/test_stream" --write-corpus "$tmp" || { echo "cannot write the sample streams"; exit 1; }

"$info" "$tmp/seed1.nvc" > "$tmp/out" 2>&1
expect "intact stream" $? 0 "^frames       6 (2 I, 4 P), numbers 1..11" "$tmp/out"
grep -q "^index        2 I-frames (from the trailer)" "$tmp/out" || { echo "FAIL intact: index"; fail=1; }
grep -q "^       7  I " "$tmp/out" || { echo "FAIL intact: frame 7 line"; fail=1; }
grep -q "^       9  P-res " "$tmp/out" || { echo "FAIL intact: frame 9 line (P-frame without residual)"; fail=1; }
grep -q "^P-frames     1 full, 2 without motion, 1 without residual, 0 repeats" "$tmp/out" ||
    { echo "FAIL intact: P-frame kinds"; fail=1; }

"$info" -q - < "$tmp/seed1.nvc" > "$tmp/out" 2>&1
expect "stdin, quiet" $? 0 "^frames       6 " "$tmp/out"
! grep -q "^       7  I " "$tmp/out" || { echo "FAIL quiet: frame lines printed"; fail=1; }

# Damage one payload byte of the third frame (offset 233 + 60; its header is 29 bytes).
cp "$tmp/seed1.nvc" "$tmp/damaged.nvc"
printf '\377' | dd of="$tmp/damaged.nvc" bs=1 seek=293 conv=notrunc 2>/dev/null
"$info" "$tmp/damaged.nvc" > "$tmp/out" 2>&1
expect "damaged stream" $? 1 "^damaged: at offset 233: frame 5: payload CRC mismatch" "$tmp/out"
grep -q "^frames       5 (2 I, 3 P)" "$tmp/out" || { echo "FAIL damaged: the other 5 frames"; cat "$tmp/out"; fail=1; }

"$info" "$tmp/seed-unfinished.nvc" > "$tmp/out" 2>&1
expect "unfinished stream" $? 1 "no trailer: built by scanning" "$tmp/out"

"$info" Makefile > "$tmp/out" 2>&1
expect "not a stream" $? 1 "bad magic" "$tmp/out"
"$info" "$tmp/missing.nvc" > "$tmp/out" 2>&1
expect "missing file" $? 1 "No such file" "$tmp/out"
"$info" -x > "$tmp/out" 2>&1
expect "bad option" $? 2 "usage" "$tmp/out"
exit $fail
