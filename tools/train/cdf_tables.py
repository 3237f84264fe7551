#!/usr/bin/python3
"""CDF table sets for the entropy coder, bit-identical to entropy/cdf.c.

The model exporter uses this to build the Gaussian scale tables and to quantise learned factorized priors, and
to serialise them in the byte format of docs/entropy.md ("Table set format") for embedding in the .nvm file.
Every floating-point operation below is an IEEE-754 double +, -, *, / performed in the same order as in
entropy/cdf.c, so the results are the same bits; tests/test_entropy_cdf_py.sh checks it.

    python3 tools/train/cdf_tables.py --out tables.bin [--k 64 --sigma-min 0.11 --sigma-max 64]
"""
import argparse
import struct

PREC_BITS = 12
TOTAL = 1 << PREC_BITS
MIN_VALUE, MAX_VALUE = -127, 127
MAX_SYMBOLS = 256
MAX_ESCAPE_K = 16
GAUSSIAN_K, GAUSSIAN_SIGMA_MIN, GAUSSIAN_SIGMA_MAX = 64, 0.11, 64.0

LN2 = 0.6931471805599453
TWO_OVER_SQRT_PI = 1.1283791670955126
INV_SQRT2 = 0.7071067811865476


def det_exp(y):
    halvings = 0
    while y > 0.125 or y < -0.125:
        y = y / 2.0
        halvings += 1
    term, total = 1.0, 1.0
    for n in range(1, 19):
        term = term * y / float(n)
        total = total + term
    for _ in range(halvings):
        total = total * total
    return total


def det_log(x):
    e = 0
    while x >= 2.0:
        x = x / 2.0
        e += 1
    while x < 1.0:
        x = x * 2.0
        e -= 1
    z = (x - 1.0) / (x + 1.0)
    z2 = z * z
    term, total = z, 0.0
    for k in range(30):
        total = total + term / float(2 * k + 1)
        term = term * z2
    return float(e) * LN2 + 2.0 * total


def det_erf(x):
    if x >= 8.0:
        return 1.0
    x2 = x * x
    term, total = x, x
    for n in range(1, 400):
        term = term * 2.0 * x2 / float(2 * n + 1)
        total = total + term
        if term < total * 1e-17:
            break
    r = TWO_OVER_SQRT_PI * det_exp(-x2) * total
    return 1.0 if r > 1.0 else r


def det_phi_centered(t, sigma):
    a = -t if t < 0 else t
    h = 0.5 * det_erf(a / sigma * INV_SQRT2)
    return -h if t < 0 else h


def gaussian_sigma(i, k, sigma_min, sigma_max):
    if k <= 1:
        return sigma_min
    step = det_log(sigma_max / sigma_min) / float(k - 1)
    return sigma_min * det_exp(step * float(i))


def quantize(prob):
    """Probabilities (floats >= 0, not all 0, 1..256 of them) -> integer frequencies >= 1 summing to 4096."""
    n = len(prob)
    if not 1 <= n <= MAX_SYMBOLS:
        raise ValueError("1..256 symbols")
    p = []
    for v in prob:
        v = float(v)
        if not 0.0 <= v <= 1.0:
            raise ValueError("probabilities must be in [0, 1]")
        p.append(int(v * 1099511627776.0))  # 2^40, truncation like the C cast
    total = sum(p)
    if total == 0:
        raise ValueError("all probabilities are 0")
    f = [max(1, (ps * TOTAL + total // 2) // total) for ps in p]
    s = sum(f)
    while s > TOTAL:
        best = -1
        for i in range(n):
            if f[i] <= 1:
                continue
            if best < 0 or p[i] * (2 * f[best] - 1) < p[best] * (2 * f[i] - 1):
                best = i
        f[best] -= 1
        s -= 1
    while s < TOTAL:
        best = 0
        for i in range(1, n):
            if p[i] * (2 * f[best] + 1) > p[best] * (2 * f[i] + 1):
                best = i
        f[best] += 1
        s += 1
    return f


def gaussian_table(sigma):
    """(lo, hi, escape_k, freqs) of one zero-mean discretised Gaussian table."""
    h = 0
    while h < MAX_VALUE and 1.0 - 2.0 * det_phi_centered(float(h) + 0.5, sigma) > 1.0 / 65536.0:
        h += 1
    k = 0
    while k < 12 and float(2 << k) <= sigma:
        k += 1
    prob = []
    inside = 0.0
    for v in range(-h, h + 1):
        pv = det_phi_centered(float(v) + 0.5, sigma) - det_phi_centered(float(v) - 0.5, sigma)
        prob.append(pv)
        inside = inside + pv
    tail = 1.0 - inside
    prob.append(tail if tail > 0.0 else 0.0)
    return -h, h, k, quantize(prob)


def gaussian_set(k=GAUSSIAN_K, sigma_min=GAUSSIAN_SIGMA_MIN, sigma_max=GAUSSIAN_SIGMA_MAX):
    if not (1 <= k <= 256 and sigma_min >= 0.01 and sigma_max >= sigma_min and sigma_max <= 1000.0):
        raise ValueError("bad Gaussian set parameters")
    return [gaussian_table(gaussian_sigma(i, k, sigma_min, sigma_max)) for i in range(k)]


def check_table(lo, hi, escape_k, freqs):
    if not (MIN_VALUE <= lo <= hi <= MAX_VALUE and 0 <= escape_k <= MAX_ESCAPE_K):
        raise ValueError("bad range or escape order")
    if len(freqs) != hi - lo + 2 or min(freqs) < 1 or sum(freqs) != TOTAL:
        raise ValueError("frequencies must be hi-lo+2 values >= 1 summing to 4096")


def serialize(tables):
    """tables: list of (lo, hi, escape_k, freqs) -> bytes (docs/entropy.md, "Table set format")."""
    if not 1 <= len(tables) <= 256:
        raise ValueError("1..256 tables")
    out = bytearray(b"NVCT" + struct.pack("<BBH", 1, PREC_BITS, len(tables)))
    for lo, hi, escape_k, freqs in tables:
        check_table(lo, hi, escape_k, freqs)
        out += struct.pack("<bbBB", lo, hi, escape_k, 0)
        out += struct.pack("<%dH" % len(freqs), *freqs)
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--k", type=int, default=GAUSSIAN_K)
    ap.add_argument("--sigma-min", type=float, default=GAUSSIAN_SIGMA_MIN)
    ap.add_argument("--sigma-max", type=float, default=GAUSSIAN_SIGMA_MAX)
    a = ap.parse_args()
    with open(a.out, "wb") as f:
        f.write(serialize(gaussian_set(a.k, a.sigma_min, a.sigma_max)))


if __name__ == "__main__":
    main()
