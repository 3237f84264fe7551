#!/bin/sh
# The Python table builder (tools/train/cdf_tables.py, used by the model exporter) produces exactly the bytes
# of the C builder (entropy/cdf.c) for the default Gaussian set and for a second parameter set.
BUILD=${BUILD:-build}
command -v python3 >/dev/null 2>&1 || { echo "skip: no python3"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$BUILD/tests/test_entropy_cdf" --write "$tmp/c.bin" || { echo "C writer failed"; exit 1; }
python3 tools/train/cdf_tables.py --out "$tmp/py.bin" || { echo "python builder failed"; exit 1; }
cmp "$tmp/c.bin" "$tmp/py.bin" || { echo "C and Python default Gaussian sets differ"; exit 1; }
"$BUILD/tests/test_entropy_cdf" --write "$tmp/c2.bin" 17 0.3 200 || { echo "C writer failed"; exit 1; }
python3 tools/train/cdf_tables.py --out "$tmp/py2.bin" --k 17 --sigma-min 0.3 --sigma-max 200 || exit 1
cmp "$tmp/c2.bin" "$tmp/py2.bin" || { echo "C and Python sets (17, 0.3, 200) differ"; exit 1; }
echo "C and Python table sets identical ($(wc -c < "$tmp/c.bin") and $(wc -c < "$tmp/c2.bin") bytes)"
