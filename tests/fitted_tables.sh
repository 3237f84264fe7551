#!/bin/sh
# entropy/fitted_cdf.c is what tools/train/fit_tables.py makes from the committed counts (tools/train/fit/
# counts.txt): the fitted table sets of format 3.1 are reproducible from the repository (the counts themselves:
# tools/train/fit_tables.sh, which needs the training data).
command -v /usr/bin/python3 >/dev/null || { echo "skip: no /usr/bin/python3"; exit 77; }
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 tools/train/fit_tables.py tools/train/fit/counts.txt "$tmp" || exit 1
cmp "$tmp" entropy/fitted_cdf.c || { echo "entropy/fitted_cdf.c differs from what fit_tables.py makes"; exit 1; }
echo "entropy/fitted_cdf.c: reproduced from tools/train/fit/counts.txt"
