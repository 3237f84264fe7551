/* The encoder's rate-distortion optimised quantisation (codec/rdoq.h). */
#include "codec/rdoq.h"

#include "entropy/ctxplane.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/le.h"
#include "entropy/rans.h"
#include "nvc/nvc.h"

#define MAX_N 4096 /* samples per block */

void nvc_synth_basis_free(nvc_synth_basis *b)
{
    free(b->w);
    free(b->step);
    free(b->norm2);
    memset(b, 0, sizeof *b);
}

#define BAD(...)                                                                                              \
    do {                                                                                                      \
        nvc_synth_basis_free(b);                                                                              \
        if (msg && msg_size)                                                                                  \
            snprintf(msg, msg_size, __VA_ARGS__);                                                             \
        return NVC_EMODEL;                                                                                    \
    } while (0)

int nvc_synth_basis_load(nvc_synth_basis *b, const uint8_t *blob, size_t size, char *msg, size_t msg_size)
{
    memset(b, 0, sizeof *b);
    uint32_t d[4];
    if (!nvc_blob_header(blob, size, "NVSB", d))
        BAD("synthesis basis: not a version 1 blob");
    const uint32_t c = d[0], pc = d[1], r = d[2], nq = d[3];
    if (c < 1 || c > 4096 || pc < 1 || pc > 64 || r < 1 || r > 16 || nq < 1 || nq > 256 || pc * r * r > MAX_N)
        BAD("synthesis basis: bad dimensions (%u channels, %u packed channels, r %u, %u qualities)", c, pc, r, nq);
    const size_t n = (size_t)pc * r * r;
    if (size != NVC_BLOB_HEADER + c * n * 2 + (size_t)nq * c * 4)
        BAD("synthesis basis: %zu bytes for its dimensions", size);
    b->c = (int)c;
    b->pc = (int)pc;
    b->r = (int)r;
    b->nq = (int)nq;
    b->n = (int)n;
    b->w = malloc(c * n * sizeof *b->w);
    b->step = malloc((size_t)nq * c * sizeof *b->step);
    b->norm2 = malloc((size_t)nq * c * sizeof *b->norm2);
    if (!b->w || !b->step || !b->norm2) {
        nvc_synth_basis_free(b);
        return NVC_ENOMEM;
    }
    const uint8_t *p = blob + NVC_BLOB_HEADER;
    for (size_t i = 0; i < c * n; i++, p += 2)
        b->w[i] = (int16_t)nvc_le16(p);
    for (size_t i = 0; i < (size_t)nq * c; i++, p += 4) {
        const uint32_t bits = nvc_le32(p);
        memcpy(&b->step[i], &bits, 4);
        /* |w| <= 32767 and a step below 2^-4 keep a latent unit's effect below 2048 sample levels */
        if (!isfinite(b->step[i]) || fabsf(b->step[i]) > 0.0625f)
            BAD("synthesis basis: step %zu is not a finite number below 2^-4", i);
    }
    for (size_t k = 0; k < c; k++) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += (double)b->w[k * n + i] * b->w[k * n + i];
        for (size_t q = 0; q < nq; q++)
            b->norm2[q * c + k] = (float)(s * b->step[q * c + k] * b->step[q * c + k]);
    }
    return 0;
}

double nvc_rdoq_symbol_bits(const nvc_cdf_table *t, int v)
{
    if (v >= t->lo && v <= t->hi)
        return log2((double)NVC_CDF_TOTAL / t->freq[v - t->lo]);
    return log2((double)NVC_CDF_TOTAL / t->freq[t->nsym - 1]) + nvc_rans_escape_bits(t, v);
}

float *nvc_rdoq_bits_table(const nvc_cdf_set *set)
{
    float *bits = malloc((size_t)set->ntables * 256 * sizeof *bits);
    if (bits)
        for (int t = 0; t < set->ntables; t++)
            for (int v = -128; v < 128; v++)
                bits[t * 256 + v + 128] = (float)nvc_rdoq_symbol_bits(&set->table[t], v);
    return bits;
}

float *nvc_rdoq_error(const nvc_synth_basis *b, const nvc_tensor *picture, const nvc_tensor *recon)
{
    const int r = b->r, h = picture->h / r, w = picture->w / r;
    float *err = malloc((size_t)h * w * b->n * sizeof *err);
    if (!err)
        return NULL;
    for (int y = 0; y < h * r; y++)
        for (int x = 0; x < w * r; x++) {
            const uint8_t *a = nvc_tensor_px(picture, y, x), *s = nvc_tensor_px(recon, y, x);
            float *e = err + ((size_t)(y / r) * w + x / r) * b->n + (y % r) * r + x % r;
            for (int c = 0; c < b->pc; c++)
                e[c * r * r] = (float)(a[c] - s[c]);
        }
    return err;
}

/* The bits of value v (any integer) with table t. */
static float value_bits(const nvc_rdoq_job *j, int t, int v)
{
    return nvc_rdoq_value_bits(j->bits, j->set, t, v);
}

/* Value y of channel k of a block whose error is e, at distance d != 0 from its target (the mean it is coded
 * against, or its prediction), costing bits[0] there, bits[1] one step toward the target and bits[2] on it: moves
 * it to the candidate where bits saved outweigh lambda x the error added, if any, and e follows. With
 * a = the change in latent units, dD = a^2 norm2 - 2 a <e, step w_k>. */
static void move_toward(const nvc_rdoq_job *j, int k, float *e, int16_t *y, int d, const float bits[3])
{
    const nvc_synth_basis *b = j->basis;
    const int n = b->n;
    const int16_t *wk = b->w + (size_t)k * n;
    const float step = b->step[j->quality * b->c + k], norm2 = b->norm2[j->quality * b->c + k];
    const float lambda = (float)j->lambda;
    float dot = 0;
    for (int i = 0; i < n; i++)
        dot += e[i] * wk[i];
    dot *= step;
    int best_a = 0;
    float best = 0;
    for (int cand = 0; cand < (d == 1 || d == -1 ? 1 : 2); cand++) {
        const int a = cand == 0 ? (d > 0 ? -1 : 1) : -d;
        const float cost = bits[1 + cand] - bits[0] + lambda * ((float)(a * a) * norm2 - 2 * (float)a * dot);
        if (cost < best) {
            best = cost;
            best_a = a;
        }
    }
    if (!best_a)
        return;
    *y = (int16_t)(*y + best_a);
    const float dd = (float)best_a * step;
    for (int i = 0; i < n; i++)
        e[i] -= dd * wk[i];
}

/* One block at latent position pos, e its error (n samples): its values toward their means, last channel first. */
static void block(const nvc_rdoq_job *j, size_t pos, float *e)
{
    const size_t plane = (size_t)j->h * j->w;
    for (int k = j->c1 - 1; k >= j->c0; k--) {
        const size_t at = k * plane + pos;
        const int v = j->y[at] - j->mean[at];
        if (!v || (k < 32 && (j->skip >> k & 1)))
            continue;
        const int t = j->index[at];
        const float bits[3] = { value_bits(j, t, v), value_bits(j, t, v > 0 ? v - 1 : v + 1), value_bits(j, t, 0) };
        move_toward(j, k, e, &j->y[at], v, bits);
    }
}

static void row_task(void *ctx, int row, int worker)
{
    (void)worker;
    const nvc_rdoq_job *j = ctx;
    for (int x = 0; x < j->w; x++) {
        const size_t pos = (size_t)row * j->w + x;
        block(j, pos, j->err + pos * j->basis->n);
    }
}

void nvc_rdoq_run(const nvc_rdoq_job *j, nvc_pool *pool)
{
    nvc_pool_run(pool, j->h, row_task, (void *)j);
}

/* A difference clamped to the -128..127 that class bit tables span. */
static int table_range(int d) { return d < -128 ? -128 : d > 127 ? 127 : d; }

void nvc_rdoq_planes(const nvc_rdoq_job *j, unsigned planes, const float *class_bits)
{
    const size_t plane = (size_t)j->h * j->w;
    for (int i = 0; i < j->h; i++)
        for (int x = 0; x < j->w; x++) {
            const size_t pos = (size_t)i * j->w + x;
            for (int k = 0; k < j->basis->c && k < 32; k++) {
                if (!(planes >> k & 1))
                    continue;
                int16_t *yk = j->y + k * plane;
                int pred;
                const float *cb = class_bits + 256 * nvc_ctxplane_predict(yk, j->h, j->w, 0, i, x, &pred) + 128;
                const int d = yk[pos] - pred;
                if (!d)
                    continue;
                const float bits[3] = { cb[table_range(d)], cb[table_range(d > 0 ? d - 1 : d + 1)], cb[0] };
                move_toward(j, k, j->err + pos * j->basis->n, &yk[pos], d, bits);
            }
        }
}
