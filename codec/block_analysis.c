/* The encoder's block analysis (codec/block_analysis.h). */
#include "codec/block_analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "codec/le.h"
#include "nvc/nvc.h"


void nvc_block_analysis_free(nvc_block_analysis *a)
{
    free(a->w);
    free(a->bias);
    free(a->scale);
    memset(a, 0, sizeof *a);
}

#define BAD(...)                                                                                              \
    do {                                                                                                      \
        if (msg && msg_size)                                                                                  \
            snprintf(msg, msg_size, __VA_ARGS__);                                                             \
        return NVC_EMODEL;                                                                                    \
    } while (0)

int nvc_block_analysis_load(nvc_block_analysis *a, const uint8_t *blob, size_t size, char *msg, size_t msg_size)
{
    memset(a, 0, sizeof *a);
    uint32_t d[4];
    if (!nvc_blob_header(blob, size, "NVBA", d))
        BAD("block analysis: not a version 1 blob");
    const uint32_t c_out = d[0], c_in = d[1], r = d[2], nq = d[3];
    if (c_out < 1 || c_out > 4096 || c_in < 1 || r < 1 || r > 16 || nq < 1 || nq > 256 ||
        (uint64_t)c_in * r * r > NVC_BLOCK_ANALYSIS_MAX_IN)
        BAD("block analysis: bad dimensions (%u outputs, %u inputs, r %u, %u qualities)", c_out, c_in, r, nq);
    const size_t n = (size_t)c_in * r * r;
    if (size != NVC_BLOB_HEADER + c_out * n * 2 + c_out * 8 + (size_t)nq * c_out * 8)
        BAD("block analysis: %zu bytes for its dimensions", size);
    a->c_out = (int)c_out;
    a->c_in = (int)c_in;
    a->r = (int)r;
    a->nq = (int)nq;
    a->n = (int)n;
    a->n16 = (int)((n + 15) / 16 * 16);
    a->w = aligned_alloc(32, (c_out * (size_t)a->n16 * 2 + 31) / 32 * 32);
    a->bias = malloc(c_out * sizeof *a->bias);
    a->scale = malloc((size_t)nq * c_out * sizeof *a->scale);
    if (!a->w || !a->bias || !a->scale) {
        nvc_block_analysis_free(a);
        return NVC_ENOMEM;
    }
    const uint8_t *p = blob + NVC_BLOB_HEADER;
    memset(a->w, 0, c_out * (size_t)a->n16 * 2); /* the padding of each row */
    for (size_t o = 0; o < c_out; o++)
        for (size_t i = 0; i < n; i++, p += 2)
            a->w[o * a->n16 + i] = (int16_t)nvc_le16(p);
    for (size_t o = 0; o < c_out; o++, p += 8)
        a->bias[o] = (int64_t)nvc_le64(p);
    for (size_t k = 0; k < (size_t)nq * c_out; k++, p += 8) {
        const uint64_t bits = nvc_le64(p);
        memcpy(&a->scale[k], &bits, 8);
        /* |acc| < 2^44 (2048 * 32767 * 255 + |bias|): a finite scale below 2^16 keeps acc * scale far from
         * the int64 conversion's limits; the clamp to the latent range does the rest */
        if (!isfinite(a->scale[k]) || fabs(a->scale[k]) > 65536.0) {
            nvc_block_analysis_free(a);
            BAD("block analysis: scale %zu is not a finite number below 2^16", k);
        }
    }
    for (size_t o = 0; o < c_out; o++)
        if (a->bias[o] > ((int64_t)1 << 40) || a->bias[o] < -((int64_t)1 << 40)) {
            nvc_block_analysis_free(a);
            BAD("block analysis: bias %zu out of range", o);
        }
    return 0;
}

void nvc_block_dot_c(const int16_t *w, const int16_t *x, int n16, int c_out, int64_t *out)
{
    for (int o = 0; o < c_out; o++, w += n16) {
        int64_t acc = 0;
        for (int i = 0; i < n16; i++)
            acc += (int32_t)w[i] * x[i];
        out[o] = acc;
    }
}

nvc_block_dot_fn nvc_block_dot_get(void)
{
    return (nvc_cpu_flags() & NVC_CPU_AVX2) ? nvc_block_dot_avx2 : nvc_block_dot_c;
}

/* Output channels per pass over a row of blocks: their weights (ROWS x n16 int16, 24 KB at 768 inputs) stay in
 * the L1 cache while every block of the row uses them, instead of all the weights (590 KB for the residual
 * analysis) streaming through it once per block. */
#define ROWS 16

typedef struct run_job {
    const nvc_block_analysis *a;
    const nvc_tensor *in;
    int n_in, quality;
    nvc_tensor *out;
    nvc_block_dot_fn dot;
    int16_t *x;   /* per worker [out->w][n16]: the gathered inputs of one row of blocks */
    int64_t *acc; /* per worker [out->w][c_out] */
} run_job;

static void run_row(void *ctx, int by, int worker)
{
    const run_job *j = ctx;
    const nvc_block_analysis *a = j->a;
    const int bw = j->out->w, rr = a->r * a->r;
    int16_t *xs = j->x + (size_t)worker * bw * a->n16;
    int64_t *accs = j->acc + (size_t)worker * bw * a->c_out;
    const double *scale = a->scale + (size_t)j->quality * a->c_out;
    for (int bx = 0; bx < bw; bx++) {
        /* space_to_depth(r) of the concatenated inputs: input channel c, offset (dy, dx) -> c * r * r + dy * r + dx */
        int16_t *x = xs + (size_t)bx * a->n16;
        int c0 = 0;
        for (int t = 0; t < j->n_in; t++) {
            const nvc_tensor *in = &j->in[t];
            for (int dy = 0; dy < a->r; dy++)
                for (int dx = 0; dx < a->r; dx++) {
                    const uint8_t *px = nvc_tensor_px(in, by * a->r + dy, bx * a->r + dx);
                    for (int c = 0; c < in->c; c++)
                        x[(c0 + c) * rr + dy * a->r + dx] = px[c];
                }
            c0 += in->c;
        }
    }
    for (int o = 0; o < a->c_out; o += ROWS) {
        const int n = a->c_out - o < ROWS ? a->c_out - o : ROWS;
        for (int bx = 0; bx < bw; bx++)
            j->dot(a->w + (size_t)o * a->n16, xs + (size_t)bx * a->n16, a->n16, n, accs + (size_t)bx * a->c_out + o);
    }
    for (int bx = 0; bx < bw; bx++) {
        const int64_t *acc = accs + (size_t)bx * a->c_out;
        uint8_t *dst = nvc_tensor_px(j->out, by, bx);
        for (int o = 0; o < a->c_out; o++) {
            const double v = floor((double)(acc[o] + a->bias[o]) * scale[o] + 0.5);
            dst[o] = (uint8_t)(128 + (v < -128 ? -128 : v > 127 ? 127 : (int)v));
        }
    }
}

int nvc_block_analysis_run(const nvc_block_analysis *a, const nvc_tensor *in, int n_in, int quality, nvc_pool *pool,
                           nvc_tensor *latent)
{
    int c = 0;
    for (int t = 0; t < n_in; t++) {
        if (in[t].h != in[0].h || in[t].w != in[0].w || in[t].zp != 128)
            return NVC_EINVAL;
        c += in[t].c;
    }
    if (n_in < 1 || c != a->c_in || in[0].h % a->r || in[0].w % a->r || quality < 0 || quality >= a->nq)
        return NVC_EINVAL;
    int err = nvc_tensor_alloc(latent, a->c_out, in[0].h / a->r, in[0].w / a->r, 128);
    if (err)
        return err;
    const int workers = nvc_pool_threads(pool);
    run_job j = { a, in, n_in, quality, latent, nvc_block_dot_get(), NULL, NULL };
    const size_t nx = (size_t)workers * latent->w * a->n16;
    j.x = aligned_alloc(32, (nx * 2 + 31) / 32 * 32);
    j.acc = malloc((size_t)workers * latent->w * a->c_out * sizeof *j.acc);
    if (!j.x || !j.acc) {
        free(j.x);
        free(j.acc);
        nvc_tensor_release(latent);
        return NVC_ENOMEM;
    }
    memset(j.x, 0, nx * 2); /* the padding inputs stay 0 */
    nvc_pool_run(pool, latent->h, run_row, &j);
    free(j.x);
    free(j.acc);
    return 0;
}
