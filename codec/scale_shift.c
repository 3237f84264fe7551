/* Scale shifts: see scale_shift.h. */
#include "codec/scale_shift.h"

#include "codec/rdoq.h"
#include "nvc/nvc.h"

static int in_skip(unsigned skip, int c)
{
    return c < 32 && (skip >> c & 1);
}

void nvc_shift_apply(uint8_t *index, const uint8_t *orig, int c0, int c1, size_t plane, unsigned skip,
                     const int8_t *shift, int ntables)
{
    for (int c = c0; c < c1; c++) {
        const int s = shift[c / NVC_SHIFT_GROUP];
        if (in_skip(skip, c))
            continue;
        uint8_t *dst = index + (size_t)c * plane;
        const uint8_t *src = orig + (size_t)c * plane;
        for (size_t p = 0; p < plane; p++) {
            const int t = src[p] + s;
            dst[p] = (uint8_t)(t < 0 ? 0 : t >= ntables ? ntables - 1 : t);
        }
    }
}

/* The bits of a group's values [c0, c1) with their tables shifted by s. */
static double group_bits(const int16_t *y, const int16_t *mean, const uint8_t *orig, int c0, int c1, size_t plane,
                         unsigned skip, const float *bits, const nvc_cdf_set *set, int s)
{
    double total = 0;
    for (int c = c0; c < c1; c++) {
        if (in_skip(skip, c))
            continue;
        const size_t o = (size_t)c * plane;
        float sum = 0; /* per channel in float, then double: a fixed order, the same result everywhere */
        for (size_t p = 0; p < plane; p++) {
            int t = orig[o + p] + s;
            t = t < 0 ? 0 : t >= set->ntables ? set->ntables - 1 : t;
            sum += nvc_rdoq_value_bits(bits, set, t, y[o + p] - mean[o + p]);
        }
        total += sum;
    }
    return total;
}

typedef struct choose_job {
    const int16_t *y, *mean;
    const uint8_t *orig;
    int g0, c1;
    size_t plane;
    unsigned skip;
    const float *bits;
    const nvc_cdf_set *set;
    int8_t *shift;
    double saved[256 / NVC_SHIFT_GROUP]; /* per group, summed in order afterwards */
} choose_job;

/* Group j->g0 + i: the bits are close to convex in the shift, so walk from 0 in the direction that saves, while
 * it does. */
static void choose_group(void *ctx, int i, int worker)
{
    (void)worker;
    choose_job *j = ctx;
    const int g = j->g0 + i, a = g * NVC_SHIFT_GROUP, b = a + NVC_SHIFT_GROUP < j->c1 ? a + NVC_SHIFT_GROUP : j->c1;
    const double at0 = group_bits(j->y, j->mean, j->orig, a, b, j->plane, j->skip, j->bits, j->set, 0);
    double best = at0;
    int s = 0;
    for (int dir = 1; dir >= -1 && s == 0; dir -= 2)
        for (int t = dir; t >= -NVC_SHIFT_MAX && t <= NVC_SHIFT_MAX; t += dir) {
            const double cost = group_bits(j->y, j->mean, j->orig, a, b, j->plane, j->skip, j->bits, j->set, t);
            if (cost >= best)
                break;
            best = cost;
            s = t;
        }
    j->shift[g] = (int8_t)s;
    j->saved[i] = at0 - best;
}

double nvc_shift_choose(const int16_t *y, const int16_t *mean, const uint8_t *orig, int c0, int c1, size_t plane,
                        unsigned skip, const float *bits, const nvc_cdf_set *set, int8_t *shift, nvc_pool *pool)
{
    double saved = 0;
    const int g0 = (c0 + NVC_SHIFT_GROUP - 1) / NVC_SHIFT_GROUP, g1 = (c1 + NVC_SHIFT_GROUP - 1) / NVC_SHIFT_GROUP;
    for (int g = g0; g < g1;) { /* at most 32 groups (256 channels) a pool run */
        const int n = g1 - g < 256 / NVC_SHIFT_GROUP ? g1 - g : 256 / NVC_SHIFT_GROUP;
        choose_job j = { y, mean, orig, g, c1, plane, skip, bits, set, shift, { 0 } };
        nvc_pool_run(pool, n, choose_group, &j);
        for (int i = 0; i < n; i++)
            saved += j.saved[i];
        g += n;
    }
    return saved;
}

static unsigned zigzag(int s)
{
    return s > 0 ? 2u * (unsigned)s : 2u * (unsigned)-s - (s < 0);
}

/* Bits of the order-0 Exp-Golomb code of u: 2 floor(log2(u + 1)) + 1. */
static int code_bits(unsigned u)
{
    int nb = 0;
    while ((u + 1) >> (nb + 1))
        nb++;
    return 2 * nb + 1;
}

size_t nvc_shift_code_size(const int8_t *shift, int n)
{
    size_t bits = 0;
    for (int g = 0; g < n; g++)
        bits += (size_t)code_bits(zigzag(shift[g]));
    return (bits + 7) / 8;
}

void nvc_shift_write(const int8_t *shift, int n, uint8_t *out)
{
    const size_t size = nvc_shift_code_size(shift, n);
    for (size_t i = 0; i < size; i++)
        out[i] = 0;
    size_t pos = 0;
    for (int g = 0; g < n; g++) {
        const unsigned v = zigzag(shift[g]) + 1;
        const int len = code_bits(v - 1), nb = len / 2;
        pos += (size_t)nb; /* nb zero bits, then v in nb + 1 bits */
        for (int k = nb; k >= 0; k--, pos++)
            if (v >> k & 1)
                out[pos / 8] |= (uint8_t)(0x80u >> (pos % 8));
    }
}

int nvc_shift_read(const uint8_t *data, size_t size, int n, int8_t *shift)
{
    size_t pos = 0;
    const size_t end = size * 8;
    for (int g = 0; g < n; g++) {
        int nb = 0;
        while (pos < end && !(data[pos / 8] >> (7 - pos % 8) & 1)) {
            pos++;
            if (++nb > 3) /* zigzag(NVC_SHIFT_MAX) + 1 = 15 has 3 bits after its leading 1 */
                return NVC_EINVALDATA;
        }
        if (pos + (size_t)nb + 1 > end)
            return NVC_EINVALDATA;
        unsigned v = 0;
        for (int k = 0; k <= nb; k++, pos++)
            v = v << 1 | (unsigned)(data[pos / 8] >> (7 - pos % 8) & 1);
        const unsigned u = v - 1;
        const int s = u & 1 ? -(int)((u + 1) / 2) : (int)(u / 2);
        if (s < -NVC_SHIFT_MAX || s > NVC_SHIFT_MAX)
            return NVC_EINVALDATA;
        shift[g] = (int8_t)s;
    }
    if ((pos + 7) / 8 != size) /* bytes after the last code */
        return NVC_EINVALDATA;
    for (; pos < end; pos++) /* the padding */
        if (data[pos / 8] >> (7 - pos % 8) & 1)
            return NVC_EINVALDATA;
    return 0;
}
