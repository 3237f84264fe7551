#!/bin/sh
# Runs every unit test binary (build/tests/test_*) and every shell test (tests/*.sh but this one),
# prints one line per test and ends with "N passed, N failed". Exit status: 0 only if all passed.
# A test binary or script exits 0 for pass, 77 for skip (missing optional tool), anything else fails;
# one running longer than TEST_TIMEOUT seconds (default 300) is stopped and fails.
BUILD=${BUILD:-build}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
limit=""
command -v timeout >/dev/null && limit="timeout -k 10 $TEST_TIMEOUT"
export BUILD
pass=0; fail=0; skip=0; failed=""
log_dir="$BUILD/test-logs"
mkdir -p "$log_dir"
run_one() {
    name=$1; shift
    start=$(date +%s)
    $limit "$@" > "$log_dir/$name.log" 2>&1
    rc=$?
    [ -n "$limit" ] && [ $rc -eq 124 ] && echo "(stopped after ${TEST_TIMEOUT}s)" >> "$log_dir/$name.log"
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "PASS $name (${secs}s)"
    elif [ $rc -eq 77 ]; then skip=$((skip+1)); echo "SKIP $name: $(tail -n 1 "$log_dir/$name.log")"
    else fail=$((fail+1)); failed="$failed $name"; echo "FAIL $name (exit $rc), last lines of $log_dir/$name.log:"; tail -n 20 "$log_dir/$name.log" | sed 's/^/    /'
    fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for s in tests/*.sh; do
    [ "$(basename "$s")" = run_tests.sh ] && continue
    [ -f "$s" ] || continue
    run_one "$(basename "$s" .sh)" sh "$s"
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
