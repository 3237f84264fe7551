/* Interleaved rANS: the encoder (scalar) and the scalar reference decoder; dispatch to the AVX2 decoder.
 * The maths and the byte layout are explained in rans.h. */
#include "entropy/rans.h"

#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"

#define MAX_ESCAPE_PREFIX 16 /* Exp-Golomb prefix zeros: escaped magnitudes are < 2^17 */
#define MAX_ESCAPE_STEPS (4 + MAX_ESCAPE_PREFIX) /* sign, zeros, one, nb bits, k bits */

/* The runs' symbol total and longest run. */
static void run_lengths(const nvc_rans_run *runs, int nruns, size_t *total, size_t *longest)
{
    *total = *longest = 0;
    for (int r = 0; r < nruns; r++) {
        *total += runs[r].n;
        *longest = runs[r].n > *longest ? runs[r].n : *longest;
    }
}

/* The derived layout's lane count (rans.h). */
static int derived_lanes(size_t total, size_t longest)
{
    size_t lanes = total >> NVC_RANS_SYMBOLS_PER_LANE_LOG2;
    lanes = lanes < 1 ? 1 : lanes;
    lanes = lanes < longest ? lanes : longest;
    return lanes < NVC_RANS_LANES ? (int)lanes : NVC_RANS_LANES;
}

/* The most lanes a signalled substream may have. */
static int max_lanes(size_t longest)
{
    return longest < NVC_RANS_LANES ? (int)longest : NVC_RANS_LANES;
}

/* NVC_RANS_LANES_CHOSEN: the lane count for a substream of `symbols` that takes `bytes` with `max` lanes (rans.h):
 * the most lanes whose ~3 bytes each stay within 0.4% of the substream, at least 8 (one AVX2 vector) from
 * 65536 symbols on, where decoding time matters. Below that one lane decodes in well under a millisecond, and
 * the 8 lanes' states (~33 bytes) were 1-2% of a low-rate frame: the first channel slice of a 768x576 latent
 * has 13 824 symbols (8 channels), mostly zeros (session 13: training footage -0.4% / -1.0% with 8192 -> 65536). */
#define LANE_COST_BYTES 3       /* what a lane costs (rans.h) */
#define LANES_BUDGET_PER_MILLE 4 /* of the substream's bytes */
#define LANES_FLOOR_SYMBOLS 65536 /* from here on at least one AVX2 vector of lanes */
static int chosen_lanes(size_t bytes, size_t symbols, int max)
{
    static const int counts[] = { 32, 24, 16, 8, 4, 2, 1 };
    const int floor = symbols >= LANES_FLOOR_SYMBOLS ? 8 : 1;
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        if (counts[i] <= max && ((size_t)counts[i] * LANE_COST_BYTES * 1000 <= bytes * LANES_BUDGET_PER_MILLE ||
                                 counts[i] <= floor))
            return counts[i];
    return 1;
}

static int indices_valid(const nvc_cdf_set *cdf, const nvc_rans_run *runs, int nruns)
{
    for (int r = 0; r < nruns; r++) {
        const nvc_rans_run *run = &runs[r];
        if (!run->n)
            continue;
        size_t count = run->index_step ? run->n : 1;
        unsigned max = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (count >= 64 && (nvc_cpu_flags() & NVC_CPU_AVX2))
            max = nvc_rans_max_index_avx2(run->index, count);
        else
#endif
            for (size_t i = 0; i < count; i++)
                max = run->index[i] > max ? run->index[i] : max;
        if ((int)max >= cdf->ntables)
            return 0;
    }
    return 1;
}

/* The raw steps of an escaped value d of table t, in decoding order: bits[k] bits of value vals[k].
 * Sign (1 if below lo), Exp-Golomb(k) of u = distance beyond the range - 1: nb zeros, a one, the nb bits of
 * q = (u >> k) + 1 below its leading one, then the k low bits of u. Returns the step count. */
static int escape_steps(const nvc_cdf_table *t, int d, unsigned *bits, uint32_t *vals)
{
    const uint32_t u = d > t->hi ? (uint32_t)(d - t->hi - 1) : (uint32_t)(t->lo - 1 - d);
    const uint32_t q = (u >> t->escape_k) + 1;
    unsigned nb = 0, n = 0;
    while ((q >> (nb + 1)) != 0)
        nb++;
    bits[n] = 1, vals[n++] = d < t->lo;
    for (unsigned z = 0; z < nb; z++)
        bits[n] = 1, vals[n++] = 0;
    bits[n] = 1, vals[n++] = 1;
    if (nb)
        bits[n] = nb, vals[n++] = q - (1u << nb);
    if (t->escape_k)
        bits[n] = (unsigned)t->escape_k, vals[n++] = u & ((1u << t->escape_k) - 1);
    return (int)n;
}

unsigned nvc_rans_escape_bits(const nvc_cdf_table *t, int d)
{
    unsigned bits[MAX_ESCAPE_STEPS], total = 0;
    uint32_t vals[MAX_ESCAPE_STEPS];
    const int n = escape_steps(t, d, bits, vals);
    for (int k = 0; k < n; k++)
        total += bits[k];
    return total;
}

/* ---- encoder ---- */

typedef struct encoder {
    uint32_t x[NVC_RANS_LANES];
    uint8_t *p; /* words are written backwards from the end of the buffer */
} encoder;

static inline void put_word(encoder *e, uint32_t w)
{
    e->p -= 2;
    e->p[0] = (uint8_t)w;
    e->p[1] = (uint8_t)(w >> 8);
}

/* C(s, x) with renormalisation first (x_max = ((L >> 12) << 16) * f = f << 20). */
static inline void enc_symbol(encoder *e, int lane, uint32_t f, uint32_t c)
{
    uint32_t x = e->x[lane];
    if (x >= f << (32 - NVC_CDF_PREC_BITS)) {
        put_word(e, x);
        x >>= 16;
    }
    e->x[lane] = ((x / f) << NVC_CDF_PREC_BITS) + x % f + c;
}

/* Raw step: b bits of v (x_max = 2^(32-b)). */
static inline void enc_raw(encoder *e, int lane, unsigned b, uint32_t v)
{
    uint32_t x = e->x[lane];
    if ((x >> (32 - b)) != 0) {
        put_word(e, x);
        x >>= 16;
    }
    e->x[lane] = x << b | v;
}

/* Symbol of the coded value d in table t. */
static int symbol_of(const nvc_cdf_table *t, int d)
{
    return d >= t->lo && d <= t->hi ? d - t->lo : t->nsym - 1;
}

/* Encodes run symbols [i0, i0 + count), one group, in exact reverse of the decoding order. */
static void encode_group(encoder *e, const nvc_cdf_set *cdf, const nvc_rans_run *run, size_t i0, int count)
{
    for (int j = count - 1; j >= 0; j--) { /* escapes' raw steps come last in decoding order */
        const size_t i = i0 + (size_t)j;
        const nvc_cdf_table *t = &cdf->table[run->index[i * run->index_step]];
        const int d = run->y[i] - run->mean[i * run->mean_step];
        if (d >= t->lo && d <= t->hi)
            continue;
        unsigned bits[MAX_ESCAPE_STEPS];
        uint32_t vals[MAX_ESCAPE_STEPS];
        for (int k = escape_steps(t, d, bits, vals) - 1; k >= 0; k--)
            enc_raw(e, j, bits[k], vals[k]);
    }
    for (int j = count - 1; j >= 0; j--) {
        const size_t i = i0 + (size_t)j;
        const nvc_cdf_table *t = &cdf->table[run->index[i * run->index_step]];
        const int s = symbol_of(t, run->y[i] - run->mean[i * run->mean_step]);
        enc_symbol(e, j, t->freq[s], t->cum[s]);
    }
}

/* Encodes with exactly `lanes` lanes, the lane byte first when `signalled`. */
static int encode_lanes(const nvc_cdf_set *cdf, const nvc_rans_run *runs, int nruns, size_t n, int lanes,
                        int signalled, uint8_t **out, size_t *size)
{
    /* Every step emits at most one word: one step per symbol, MAX_ESCAPE_STEPS more per escape. */
    size_t escapes = 0;
    for (int r = 0; r < nruns; r++)
        for (size_t i = 0; i < runs[r].n; i++) {
            const nvc_cdf_table *t = &cdf->table[runs[r].index[i * runs[r].index_step]];
            const int d = runs[r].y[i] - runs[r].mean[i * runs[r].mean_step];
            escapes += d < t->lo || d > t->hi;
        }
    const size_t cap = 1 + 4 * (size_t)lanes + 2 * n + 2 * MAX_ESCAPE_STEPS * escapes;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return NVC_ENOMEM;
    encoder e;
    for (int l = 0; l < NVC_RANS_LANES; l++)
        e.x[l] = NVC_RANS_L;
    e.p = buf + cap;
    for (int r = nruns - 1; r >= 0; r--) {
        const nvc_rans_run *run = &runs[r];
        if (!run->n)
            continue;
        size_t i0 = (run->n - 1) / (size_t)lanes * (size_t)lanes;
        for (;; i0 -= (size_t)lanes) {
            const size_t left = run->n - i0;
            encode_group(&e, cdf, run, i0, left < (size_t)lanes ? (int)left : lanes);
            if (!i0)
                break;
        }
    }
    for (int l = lanes - 1; l >= 0; l--) {
        e.p -= 4;
        e.p[0] = (uint8_t)e.x[l];
        e.p[1] = (uint8_t)(e.x[l] >> 8);
        e.p[2] = (uint8_t)(e.x[l] >> 16);
        e.p[3] = (uint8_t)(e.x[l] >> 24);
    }
    if (signalled)
        *--e.p = (uint8_t)lanes;
    *size = (size_t)(buf + cap - e.p);
    memmove(buf, e.p, *size);
    *out = buf;
    return 0;
}

int nvc_rans_encode(const nvc_cdf_set *cdf, const nvc_rans_run *runs, int nruns, int lanes, uint8_t **out,
                    size_t *size)
{
    size_t n, longest;
    run_lengths(runs, nruns, &n, &longest);
    *out = NULL;
    *size = 0;
    if (lanes < NVC_RANS_LANES_CHOSEN || lanes > NVC_RANS_LANES || !indices_valid(cdf, runs, nruns))
        return NVC_EINVAL;
    if (!n)
        return 0;
    if (lanes == NVC_RANS_LANES_DERIVED)
        return encode_lanes(cdf, runs, nruns, n, derived_lanes(n, longest), 0, out, size);
    const int max = max_lanes(longest);
    if (lanes > 0)
        return encode_lanes(cdf, runs, nruns, n, lanes < max ? lanes : max, 1, out, size);
    int err = encode_lanes(cdf, runs, nruns, n, max, 1, out, size);
    const int chosen = err ? max : chosen_lanes(*size, n, max);
    if (chosen != max) { /* coded again with fewer lanes: ~3 bytes less per lane */
        free(*out);
        *out = NULL;
        *size = 0;
        err = encode_lanes(cdf, runs, nruns, n, chosen, 1, out, size);
    }
    return err;
}

/* ---- decoder ---- */

static inline int dec_raw(nvc_rans_dec *d, int lane, unsigned b, uint32_t *v)
{
    uint32_t x = d->state[lane];
    *v = x & ((1u << b) - 1);
    x >>= b;
    int err = nvc_rans_dec_refill(d, &x);
    d->state[lane] = x;
    return err;
}

/* Mirrors escape_steps(). */
static int dec_escape(nvc_rans_dec *d, int lane, const nvc_cdf_table *t, int mean, int16_t *y)
{
    uint32_t sign, bit, rest = 0, low = 0;
    unsigned nb = 0;
    if (dec_raw(d, lane, 1, &sign))
        return NVC_EINVALDATA;
    for (;;) {
        if (dec_raw(d, lane, 1, &bit))
            return NVC_EINVALDATA;
        if (bit)
            break;
        if (++nb > MAX_ESCAPE_PREFIX)
            return NVC_EINVALDATA;
    }
    if ((nb && dec_raw(d, lane, nb, &rest)) || (t->escape_k && dec_raw(d, lane, (unsigned)t->escape_k, &low)))
        return NVC_EINVALDATA;
    const int64_t u = ((((int64_t)1 << nb) + rest - 1) << t->escape_k) | low;
    const int64_t v = mean + (sign ? t->lo - 1 - u : t->hi + 1 + u);
    if (v < INT16_MIN || v > INT16_MAX)
        return NVC_EINVALDATA;
    *y = (int16_t)v;
    return 0;
}

int nvc_rans_dec_escapes(nvc_rans_dec *d, const nvc_rans_run *run, size_t i0, uint32_t mask)
{
    while (mask) {
        const int j = __builtin_ctz(mask);
        mask &= mask - 1;
        const size_t i = i0 + (size_t)j;
        const nvc_cdf_table *t = &d->cdf->table[run->index[i * run->index_step]];
        if (dec_escape(d, j, t, run->mean[i * run->mean_step], &run->y[i]))
            return NVC_EINVALDATA;
    }
    return 0;
}

/* Scalar decode of run symbols [start, n), start a multiple of lanes, group by group. */
static int decode_run_scalar(nvc_rans_dec *d, const nvc_rans_run *run, size_t start, int lanes)
{
    for (size_t i0 = start; i0 < run->n; i0 += (size_t)lanes) {
        const size_t left = run->n - i0;
        const int count = left < (size_t)lanes ? (int)left : lanes;
        uint32_t escaped = 0;
        for (int j = 0; j < count; j++) {
            const size_t i = i0 + (size_t)j;
            const unsigned table = run->index[i * run->index_step];
            int value;
            if (nvc_rans_dec_step(d, j, table, &value))
                return NVC_EINVALDATA;
            if (value == NVC_CDF_ESCAPE)
                escaped |= 1u << j;
            else
                nvc_rans_store(&run->y[i], run->mean[i * run->mean_step], value);
        }
        if (escaped && nvc_rans_dec_escapes(d, run, i0, escaped))
            return NVC_EINVALDATA;
    }
    return 0;
}

int nvc_rans_decode(const nvc_cdf_set *cdf, const nvc_rans_run *runs, int nruns, int signalled,
                    const uint8_t *buf, size_t size)
{
    size_t n, longest;
    run_lengths(runs, nruns, &n, &longest);
    if (!indices_valid(cdf, runs, nruns))
        return NVC_EINVAL;
    if (!n)
        return size == 0 ? 0 : NVC_EINVALDATA;
    nvc_rans_dec d;
    memset(&d, 0, sizeof(d));
    d.buf = buf;
    d.size = size;
    d.cdf = cdf;
    int lanes = derived_lanes(n, longest);
    if (signalled) {
        if (size < 1 || buf[0] < 1 || buf[0] > max_lanes(longest))
            return NVC_EINVALDATA;
        lanes = buf[0];
        d.pos = 1;
    }
    if (size - d.pos < 4 * (size_t)lanes)
        return NVC_EINVALDATA;
    for (int l = 0; l < lanes; l++, d.pos += 4) {
        d.state[l] = (uint32_t)buf[d.pos] | (uint32_t)buf[d.pos + 1] << 8 | (uint32_t)buf[d.pos + 2] << 16 |
                     (uint32_t)buf[d.pos + 3] << 24;
        if (d.state[l] < NVC_RANS_L)
            return NVC_EINVALDATA;
    }
    for (int l = lanes; l < NVC_RANS_LANES; l++)
        d.state[l] = NVC_RANS_L;
#if defined(__x86_64__) || defined(__i386__)
    const int simd = (nvc_cpu_flags() & NVC_CPU_AVX2) != 0;
#endif
    for (int r = 0; r < nruns; r++) {
        size_t start = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (simd && lanes % 8 == 0 && runs[r].n >= (size_t)lanes) {
            long done = nvc_rans_decode_run_avx2(&d, &runs[r], 0, lanes);
            if (done < 0)
                return NVC_EINVALDATA;
            start = (size_t)done;
        }
#endif
        if (decode_run_scalar(&d, &runs[r], start, lanes))
            return NVC_EINVALDATA;
    }
    /* Final-state check: every lane back at the encoder's initial state, every byte read. */
    for (int l = 0; l < NVC_RANS_LANES; l++)
        if (d.state[l] != NVC_RANS_L)
            return NVC_EINVALDATA;
    return d.pos == size ? 0 : NVC_EINVALDATA;
}
