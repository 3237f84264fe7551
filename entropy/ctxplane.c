/* Context-adaptive coding of small latent planes: the model is explained in ctxplane.h, the rANS maths in
 * rans.h. */
#include "entropy/ctxplane.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entropy/rans.h"
#include "nvc/nvc.h"

#define PREC_BITS 15
#define TOTAL (1u << PREC_BITS)
#define STATE_L NVC_RANS_L
#define RANGE 12                   /* |d| <= RANGE: a symbol of its own */
#define NSYM (2 * RANGE + 3)       /* escape below, -RANGE..RANGE, escape above */
#define CLASSES NVC_CTXPLANE_CLASSES
#define ADAPT_SHIFT 6
#define ESCAPE_FREQ 128            /* each escape's initial frequency */
#define MAX_PREFIX 7               /* Exp-Golomb zeros: |d| - 13 <= 242 < 2^8 - 1 */
#define MAX_STEPS (1 + MAX_PREFIX + 2) /* per value: the symbol, zeros, the one, the low bits */

/* Ratio of consecutive |d| in each class's initial table, in 1/256: fitted to the median differences of the
 * block search's fields on vtest and Megamind at q0 and q32 (2 x 58 frames each; docs/model.md, session 14). */
static const unsigned class_ratio[CLASSES] = { 13, 38, 69, 118, 169, 197, 210 };

typedef struct tables {
    uint16_t f[CLASSES * NVC_CTXPLANE_MAX_CHANNELS][NSYM];
} tables;

/* Class k's initial frequencies: ESCAPE_FREQ for each escape; the 25 values share the rest in proportion to
 * ratio^|d| (each at least 1), the rounding remainder going to d = 0. */
static void init_table(int k, uint16_t *f)
{
    uint64_t wgt[RANGE + 1], sum = 0;
    wgt[0] = 1u << 16;
    for (int n = 1; n <= RANGE; n++)
        wgt[n] = wgt[n - 1] * class_ratio[k] >> 8;
    for (int d = -RANGE; d <= RANGE; d++)
        sum += wgt[abs(d)];
    const uint64_t share = TOTAL - 2 * ESCAPE_FREQ - (2 * RANGE + 1);
    unsigned used = 2 * ESCAPE_FREQ;
    f[0] = f[NSYM - 1] = ESCAPE_FREQ;
    for (int d = -RANGE; d <= RANGE; d++) {
        f[d + RANGE + 1] = (uint16_t)(1 + wgt[abs(d)] * share / sum);
        used += f[d + RANGE + 1];
    }
    f[RANGE + 1] = (uint16_t)(f[RANGE + 1] + (TOTAL - used));
}

static void init_tables(tables *t, int c)
{
    for (int k = 0; k < CLASSES; k++)
        for (int ch = 0; ch < c; ch++)
            init_table(k, t->f[k * c + ch]);
}

/* After symbol s: every other symbol gives (f - 1) >> ADAPT_SHIFT of its frequency to s. */
static void adapt(uint16_t *f, int s)
{
    unsigned gain = 0;
    for (int t = 0; t < NSYM; t++) {
        if (t == s)
            continue;
        const unsigned d = (f[t] - 1u) >> ADAPT_SHIFT;
        f[t] = (uint16_t)(f[t] - d);
        gain += d;
    }
    f[s] = (uint16_t)(f[s] + gain);
}

static int median3(int a, int b, int c)
{
    const int lo = a < b ? a : b, hi = a < b ? b : a;
    return c < lo ? lo : c > hi ? hi : c;
}

int nvc_ctxplane_predict(const int16_t *y, int h, int w, int ch, int i, int j, int *pred)
{
    const int16_t *p = y + (size_t)ch * h * w;
    const int l = j > 0 ? p[(size_t)i * w + j - 1] : 0;
    int a;
    if (i == 0) {
        *pred = l;
        a = 2 * abs(l);
    } else {
        const int16_t *up = p + (size_t)(i - 1) * w;
        const int t = up[j], tr = j + 1 < w ? up[j + 1] : 0, tl = j > 0 ? up[j - 1] : 0;
        *pred = median3(l, t, tr);
        a = abs(l - t) + abs(t - tr) + abs(l - tl);
    }
    int k = 0;
    while (a > 0 && k < CLASSES - 1) { /* 0; 1; 2-3; 4-7; 8-15; 16-31; 32+ */
        k++;
        a >>= 1;
    }
    return k;
}

/* The symbol of difference d: 1..25 for |d| <= RANGE, else an escape (0 below, NSYM - 1 above). */
static int symbol_of(int d) { return d < -RANGE ? 0 : d > RANGE ? NSYM - 1 : d + RANGE + 1; }

/* An escape's Exp-Golomb prefix length nb for q = |d| - RANGE >= 1: the bits of q below its leading one. */
static unsigned escape_prefix(unsigned q)
{
    unsigned nb = 0;
    while (q >> (nb + 1))
        nb++;
    return nb;
}

/* The table of value (ch, i, j): its class's, of its channel. */
static int context(const int16_t *y, int c, int h, int w, int ch, int i, int j, int *pred)
{
    return nvc_ctxplane_predict(y, h, w, ch, i, j, pred) * c + ch;
}

void nvc_ctxplane_class_bits(float *bits)
{
    for (int k = 0; k < CLASSES; k++) {
        uint16_t f[NSYM];
        init_table(k, f);
        for (int d = -128; d <= 127; d++) {
            const int s = symbol_of(d);
            double b = log2((double)TOTAL / f[s]);
            if (s == 0 || s == NSYM - 1) /* Exp-Golomb of |d| - RANGE: 2 nb + 1 raw bits */
                b += 2 * escape_prefix((unsigned)abs(d) - RANGE) + 1;
            bits[k * 256 + d + 128] = (float)b;
        }
    }
}

static int check_dims(int c, int h, int w)
{
    return c < 1 || c > NVC_CTXPLANE_MAX_CHANNELS || h < 1 || w < 1 ? NVC_EINVAL : 0;
}

/* ---- encoder ---- */

typedef struct step {
    uint16_t a, b; /* symbol: frequency, start; raw: bits, value */
    uint8_t raw;
} step;

int nvc_ctxplane_encode(const int16_t *y, int c, int h, int w, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    if (check_dims(c, h, w))
        return NVC_EINVAL;
    const size_t n = (size_t)c * h * w;
    for (size_t k = 0; k < n; k++)
        if (y[k] < -128 || y[k] > 127)
            return NVC_EINVAL;
    tables *t = malloc(sizeof *t);
    step *steps = malloc(n * MAX_STEPS * sizeof *steps);
    uint8_t *buf = malloc(4 + 2 * n * MAX_STEPS); /* each step emits at most one word */
    if (!t || !steps || !buf) {
        free(t);
        free(steps);
        free(buf);
        return NVC_ENOMEM;
    }
    init_tables(t, c);
    /* forward, in decoding order: the steps with the frequencies the decoder will have */
    size_t ns = 0;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int ch = 0; ch < c; ch++) {
                int pred;
                uint16_t *f = t->f[context(y, c, h, w, ch, i, j, &pred)];
                const int d = y[((size_t)ch * h + i) * w + j] - pred;
                const int s = symbol_of(d);
                unsigned start = 0;
                for (int k = 0; k < s; k++)
                    start += f[k];
                steps[ns++] = (step){ .a = f[s], .b = (uint16_t)start, .raw = 0 };
                adapt(f, s);
                if (s == 0 || s == NSYM - 1) {
                    const unsigned q = (unsigned)abs(d) - RANGE, nb = escape_prefix(q); /* q = u + 1 */
                    for (unsigned z = 0; z < nb; z++)
                        steps[ns++] = (step){ .a = 1, .b = 0, .raw = 1 };
                    steps[ns++] = (step){ .a = 1, .b = 1, .raw = 1 };
                    if (nb)
                        steps[ns++] = (step){ .a = (uint16_t)nb, .b = (uint16_t)(q - (1u << nb)), .raw = 1 };
                }
            }
    /* backward: words written from the end of the buffer */
    uint32_t x = STATE_L;
    uint8_t *p = buf + 4 + 2 * n * MAX_STEPS;
    while (ns--) {
        const step *st = &steps[ns];
        const int emit = st->raw ? (x >> (32 - st->a)) != 0 : x >= (uint32_t)st->a << (32 - PREC_BITS);
        if (emit) {
            p -= 2;
            p[0] = (uint8_t)x;
            p[1] = (uint8_t)(x >> 8);
            x >>= 16;
        }
        x = st->raw ? x << st->a | st->b : ((x / st->a) << PREC_BITS) + x % st->a + st->b;
    }
    p -= 4;
    for (int k = 0; k < 4; k++)
        p[k] = (uint8_t)(x >> (8 * k));
    *size = (size_t)(buf + 4 + 2 * n * MAX_STEPS - p);
    memmove(buf, p, *size);
    *out = buf;
    free(t);
    free(steps);
    return 0;
}

/* ---- decoder ---- */

/* The decoder's state and word buffer: rans.h's, lane 0 (its refill rule is this coder's). */
typedef nvc_rans_dec decoder;

static int refill(decoder *d) { return nvc_rans_dec_refill(d, &d->state[0]); }

static int dec_raw(decoder *d, unsigned b, unsigned *v)
{
    *v = d->state[0] & ((1u << b) - 1);
    d->state[0] >>= b;
    return refill(d);
}

static int dec_symbol(decoder *d, uint16_t *f, int *s)
{
    const unsigned slot = d->state[0] & (TOTAL - 1);
    unsigned start = 0;
    int k = 0;
    while (start + f[k] <= slot) /* the frequencies sum to TOTAL > slot: ends at k < NSYM */
        start += f[k++];
    d->state[0] = f[k] * (d->state[0] >> PREC_BITS) + slot - start;
    *s = k;
    adapt(f, k);
    return refill(d);
}

int nvc_ctxplane_decode(const uint8_t *buf, size_t size, int c, int h, int w, int16_t *y)
{
    if (check_dims(c, h, w))
        return NVC_EINVAL;
    if (size < 4)
        return NVC_EINVALDATA;
    decoder d = { .state = { (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
                             (uint32_t)buf[3] << 24 },
                  .buf = buf, .size = size, .pos = 4 };
    if (d.state[0] < STATE_L)
        return NVC_EINVALDATA;
    tables *t = malloc(sizeof *t);
    if (!t)
        return NVC_ENOMEM;
    init_tables(t, c);
    int err = 0;
    for (int i = 0; i < h && !err; i++)
        for (int j = 0; j < w && !err; j++)
            for (int ch = 0; ch < c && !err; ch++) {
                int pred, s;
                if ((err = dec_symbol(&d, t->f[context(y, c, h, w, ch, i, j, &pred)], &s)))
                    break;
                int v = pred + s - (RANGE + 1);
                if (s == 0 || s == NSYM - 1) {
                    unsigned nb = 0, bit = 0, rest = 0;
                    while (!(err = dec_raw(&d, 1, &bit)) && !bit)
                        if (++nb > MAX_PREFIX) {
                            err = NVC_EINVALDATA;
                            break;
                        }
                    if (!err && nb)
                        err = dec_raw(&d, nb, &rest);
                    const int mag = (int)((1u << nb) + rest) + RANGE; /* u + 1 + RANGE = |d| */
                    v = pred + (s == 0 ? -mag : mag);
                }
                if (!err && (v < -128 || v > 127))
                    err = NVC_EINVALDATA;
                if (!err)
                    y[((size_t)ch * h + i) * w + j] = (int16_t)v;
            }
    free(t);
    if (!err && (d.state[0] != STATE_L || d.pos != d.size))
        err = NVC_EINVALDATA;
    return err;
}
