/* The encoder's rate-distortion optimised quantisation (codec/rdoq.h): symbol costs against the tables and the
 * Exp-Golomb escape; on random blocks every value only moves toward its mean, the cost (bits + lambda * squared
 * error, recomputed in double from scratch) never grows, the error it returns is the error of the latent it
 * returns, the result is the same on 1 and 3 threads, and with lambda 0 every value takes the cheapest of its
 * candidates; the loader rejects malformed blobs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/rdoq.h"
#include "entropy/ctxplane.h"
#include "entropy/cdf.h"
#include "entropy/threadpool.h"
#include "nvc/nvc.h"
#include "testutil.h"

static unsigned long long seed = 0x2545F4914F6CDD1DULL;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

/* A blob of c channels onto pc packed channels in r x r blocks, nq qualities, random weights and steps. */
static uint8_t *make_blob(int c, int pc, int r, int nq, size_t *size)
{
    const size_t n = (size_t)pc * r * r;
    *size = 24 + (size_t)c * n * 2 + (size_t)nq * c * 4;
    uint8_t *b = calloc(1, *size), *p = b + 24;
    memcpy(b, "NVSB", 4);
    b[4] = 1;
    put32(b + 8, (uint32_t)c);
    put32(b + 12, (uint32_t)pc);
    put32(b + 16, (uint32_t)r);
    put32(b + 20, (uint32_t)nq);
    for (size_t i = 0; i < (size_t)c * n; i++, p += 2) {
        const int w = (int)(test_rand(&seed) % 65535) - 32767;
        p[0] = (uint8_t)(w & 255);
        p[1] = (uint8_t)((w >> 8) & 255);
    }
    for (int k = 0; k < nq * c; k++, p += 4) {
        const float s = (float)(test_rand(&seed) % 1000 + 1) * 1e-6f; /* a latent unit moves samples by < ~33 */
        uint32_t bits;
        memcpy(&bits, &s, 4);
        put32(p, bits);
    }
    return b;
}

static void test_load(void)
{
    size_t size;
    uint8_t *blob = make_blob(3, 2, 4, 2, &size);
    nvc_synth_basis b;
    char msg[160];
    CHECK_EQ_INT(nvc_synth_basis_load(&b, blob, size, msg, sizeof msg), 0);
    CHECK_EQ_INT(b.n, 32);
    /* norm2 = |step w_k|^2 */
    for (int q = 0; q < 2; q++)
        for (int k = 0; k < 3; k++) {
            double s = 0;
            for (int i = 0; i < 32; i++)
                s += (double)b.w[k * 32 + i] * b.w[k * 32 + i];
            s *= (double)b.step[q * 3 + k] * b.step[q * 3 + k];
            CHECK(fabs(b.norm2[q * 3 + k] - s) <= 1e-5 * s);
        }
    nvc_synth_basis_free(&b);
    CHECK_EQ_INT(nvc_synth_basis_load(&b, blob, size - 1, msg, sizeof msg), NVC_EMODEL);
    CHECK_EQ_INT(nvc_synth_basis_load(&b, blob, 10, msg, sizeof msg), NVC_EMODEL);
    uint8_t *bad = malloc(size);
    const struct { size_t off; uint8_t v; } edits[] = { { 0, 'X' }, { 4, 2 }, { 8, 0 }, { 12, 0 }, { 16, 0 }, { 20, 0 },
                                                        { 16, 17 } };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        memcpy(bad, blob, size);
        bad[edits[e].off] = edits[e].v;
        CHECK_EQ_INT(nvc_synth_basis_load(&b, bad, size, msg, sizeof msg), NVC_EMODEL);
    }
    /* a NaN step, a step of 2^-3 */
    const uint32_t nan = 0x7FC00000u, big = 0x3E000000u;
    memcpy(bad, blob, size);
    put32(bad + size - 4, nan);
    CHECK_EQ_INT(nvc_synth_basis_load(&b, bad, size, msg, sizeof msg), NVC_EMODEL);
    memcpy(bad, blob, size);
    put32(bad + size - 8, big);
    CHECK_EQ_INT(nvc_synth_basis_load(&b, bad, size, msg, sizeof msg), NVC_EMODEL);
    free(bad);
    free(blob);
}

/* Exp-Golomb of order k of m: 2 floor(log2(m / 2^k + 1)) + 1 + k bits (docs/entropy.md), counted bit by bit. */
static int eg_len(unsigned m, int k)
{
    unsigned v = (m >> k) + 1;
    int bits = 0;
    while (v) {
        bits++;
        v >>= 1;
    }
    return 2 * (bits - 1) + 1 + k;
}

static void test_symbol_bits(const nvc_cdf_set *set)
{
    float *bits = nvc_rdoq_bits_table(set);
    CHECK(bits != NULL);
    for (int t = 0; t < set->ntables; t += 7) {
        const nvc_cdf_table *tb = &set->table[t];
        for (int v = -300; v <= 300; v++) {
            double want;
            if (v >= tb->lo && v <= tb->hi)
                want = log2(4096.0 / tb->freq[v - tb->lo]);
            else
                want = log2(4096.0 / tb->freq[tb->nsym - 1]) + 1 /* sign */ +
                       eg_len((unsigned)(v > tb->hi ? v - tb->hi - 1 : tb->lo - 1 - v), tb->escape_k);
            CHECK(fabs(nvc_rdoq_symbol_bits(tb, v) - want) < 1e-9);
            if (v >= -128 && v < 128)
                CHECK(fabsf(bits[t * 256 + v + 128] - (float)want) < 1e-5f);
        }
    }
    free(bits);
}

/* A random problem: latent [c][h][w], means, table indices and the error of each block. */
typedef struct {
    int c, h, w, q;
    int16_t *y, *mean;
    uint8_t *index;
    float *err;
} problem;

static void make_problem(problem *p, const nvc_synth_basis *b, int h, int w, int q, int ntables)
{
    p->c = b->c;
    p->h = h;
    p->w = w;
    p->q = q;
    const size_t nl = (size_t)b->c * h * w, ne = (size_t)h * w * b->n;
    p->y = malloc(nl * sizeof *p->y);
    p->mean = malloc(nl * sizeof *p->mean);
    p->index = malloc(nl);
    p->err = malloc(ne * sizeof *p->err);
    for (size_t i = 0; i < nl; i++) {
        p->mean[i] = (int16_t)(i % 5 == 0 ? (int)(test_rand(&seed) % 9) - 4 : 0);
        const int r = (int)(test_rand(&seed) % 100);
        const int v = r < 40 ? 0 : r < 80 ? (int)(test_rand(&seed) % 7) - 3 : (int)(test_rand(&seed) % 61) - 30;
        p->y[i] = (int16_t)(p->mean[i] + v);
        p->index[i] = (uint8_t)(test_rand(&seed) % (unsigned)ntables);
    }
    for (size_t i = 0; i < ne; i++)
        p->err[i] = (float)((int)(test_rand(&seed) % 41) - 20);
}

static void free_problem(problem *p)
{
    free(p->y);
    free(p->mean);
    free(p->index);
    free(p->err);
}

static nvc_rdoq_job job(const nvc_synth_basis *b, const nvc_cdf_set *set, const float *bits, problem *p, double lambda,
                        int c0, int c1)
{
    return (nvc_rdoq_job){ .basis = b, .set = set, .bits = bits, .quality = p->q, .lambda = lambda, .c0 = c0,
                           .c1 = c1, .y = p->y, .mean = p->mean, .index = p->index, .h = p->h, .w = p->w,
                           .err = p->err };
}

/* bits + lambda |e|^2 of block pos, e = err0 - sum_k (y - y0)_k step_k w_k (double, from scratch); *max_diff: the
 * largest difference between that e and err. */
static double block_cost(const nvc_synth_basis *b, const nvc_cdf_set *set, const problem *p0, const problem *p,
                         size_t pos, double lambda, double *max_diff)
{
    const size_t plane = (size_t)p->h * p->w;
    double bits = 0, d2 = 0;
    for (int k = 0; k < b->c; k++)
        bits += nvc_rdoq_symbol_bits(&set->table[p->index[k * plane + pos]],
                                     p->y[k * plane + pos] - p->mean[k * plane + pos]);
    for (int i = 0; i < b->n; i++) {
        double e = p0->err[pos * b->n + i];
        for (int k = 0; k < b->c; k++)
            e -= (double)(p->y[k * plane + pos] - p0->y[k * plane + pos]) * b->step[p->q * b->c + k] *
                 b->w[k * b->n + i];
        d2 += e * e;
        const double diff = fabs(e - p->err[pos * b->n + i]);
        *max_diff = diff > *max_diff ? diff : *max_diff;
    }
    return bits + lambda * d2;
}

static void copy_problem(problem *dst, const problem *src, const nvc_synth_basis *b)
{
    const size_t nl = (size_t)src->c * src->h * src->w, ne = (size_t)src->h * src->w * b->n;
    *dst = *src;
    dst->y = malloc(nl * sizeof *dst->y);
    dst->mean = malloc(nl * sizeof *dst->mean);
    dst->index = malloc(nl);
    dst->err = malloc(ne * sizeof *dst->err);
    memcpy(dst->y, src->y, nl * sizeof *dst->y);
    memcpy(dst->mean, src->mean, nl * sizeof *dst->mean);
    memcpy(dst->index, src->index, nl);
    memcpy(dst->err, src->err, ne * sizeof *dst->err);
}

/* The basis test_run and test_planes optimise with: 24 channels onto 6 packed channels, 8x8 blocks, 3 qualities
 * (the loader copies the blob). */
static void load_test_basis(nvc_synth_basis *b)
{
    size_t size;
    uint8_t *blob = make_blob(24, 6, 8, 3, &size);
    char msg[160];
    CHECK_EQ_INT(nvc_synth_basis_load(b, blob, size, msg, sizeof msg), 0);
    free(blob);
}

static void test_run(const nvc_cdf_set *set)
{
    nvc_synth_basis b;
    load_test_basis(&b);
    float *bits = nvc_rdoq_bits_table(set);
    nvc_pool *pool = nvc_pool_create(3);
    CHECK(bits && pool);
    const double lambdas[] = { 1e-4, 1e-3, 1e-2 };
    for (int li = 0; li < 3; li++) {
        problem p0, p1, p3;
        make_problem(&p0, &b, 5, 7, li, set->ntables);
        copy_problem(&p1, &p0, &b);
        copy_problem(&p3, &p0, &b);
        /* two slices, as the encoder runs them: the first channels, then the rest */
        for (int s = 0; s < 2; s++) {
            const nvc_rdoq_job j1 = job(&b, set, bits, &p1, lambdas[li], s ? 8 : 0, s ? 24 : 8);
            const nvc_rdoq_job j3 = job(&b, set, bits, &p3, lambdas[li], s ? 8 : 0, s ? 24 : 8);
            nvc_rdoq_run(&j1, NULL);
            nvc_rdoq_run(&j3, pool);
        }
        const size_t nl = (size_t)b.c * p0.h * p0.w, ne = (size_t)p0.h * p0.w * b.n;
        CHECK(!memcmp(p1.y, p3.y, nl * sizeof *p1.y));
        CHECK(!memcmp(p1.err, p3.err, ne * sizeof *p1.err));
        int moved = 0, toward = 1;
        for (size_t i = 0; i < nl; i++) {
            const int v0 = p0.y[i] - p0.mean[i], v1 = p1.y[i] - p1.mean[i];
            moved += v0 != v1;
            toward &= v1 == 0 || (v1 > 0) == (v0 > 0);
            toward &= abs(v1) <= abs(v0);
        }
        CHECK(toward);
        CHECK(moved > 0);
        printf("lambda %g: %d of %zu values moved\n", lambdas[li], moved, nl);
        double max_diff = 0;
        int lower = 1;
        for (size_t pos = 0; pos < (size_t)p0.h * p0.w; pos++) {
            double d0 = 0;
            const double before = block_cost(&b, set, &p0, &p0, pos, lambdas[li], &d0);
            const double after = block_cost(&b, set, &p0, &p1, pos, lambdas[li], &max_diff);
            lower &= after <= before + 1e-6 * before;
        }
        CHECK(lower);
        CHECK(max_diff < 1e-2);
        free_problem(&p1);
        free_problem(&p3);
        /* lambda 0: the error costs nothing, so every value ends at the cheapest of itself, one step toward its
         * mean and its mean */
        copy_problem(&p1, &p0, &b);
        const nvc_rdoq_job j0 = job(&b, set, bits, &p1, 0.0, 0, 24);
        nvc_rdoq_run(&j0, NULL);
        int cheapest = 1;
        for (size_t i = 0; i < nl; i++) {
            const nvc_cdf_table *t = &set->table[p0.index[i]];
            const int v0 = p0.y[i] - p0.mean[i], v1 = p1.y[i] - p1.mean[i];
            double least = nvc_rdoq_symbol_bits(t, v0);
            if (v0) {
                const double one = nvc_rdoq_symbol_bits(t, v0 > 0 ? v0 - 1 : v0 + 1), zero = nvc_rdoq_symbol_bits(t, 0);
                least = one < least ? one : least;
                least = zero < least ? zero : least;
            }
            cheapest &= fabs(nvc_rdoq_symbol_bits(t, v1) - least) < 1e-6;
        }
        CHECK(cheapest);
        free_problem(&p1);
        free_problem(&p0);
    }
    nvc_pool_destroy(pool);
    free(bits);
    nvc_synth_basis_free(&b);
}

/* The skip mask leaves its channels alone; nvc_rdoq_planes moves only the planes' values, each toward the
 * prediction its (final) neighbours give, and keeps the error buffer exact. */
static void test_planes(const nvc_cdf_set *set)
{
    nvc_synth_basis b;
    load_test_basis(&b);
    float *bits = nvc_rdoq_bits_table(set), class_bits[NVC_CTXPLANE_CLASSES * 256];
    nvc_ctxplane_class_bits(class_bits);
    const unsigned planes = 0x13; /* channels 0, 1, 4 */
    problem p0, p1;
    make_problem(&p0, &b, 6, 9, 2, set->ntables);
    copy_problem(&p1, &p0, &b);
    nvc_rdoq_job j = job(&b, set, bits, &p1, 1e-3, 0, 24);
    j.skip = planes;
    nvc_rdoq_run(&j, NULL);
    const size_t plane = (size_t)p0.h * p0.w;
    int kept = 1;
    for (int k = 0; k < b.c; k++)
        if (planes >> k & 1)
            kept &= !memcmp(p0.y + k * plane, p1.y + k * plane, plane * sizeof *p0.y);
    CHECK(kept);
    problem p2;
    copy_problem(&p2, &p1, &b);
    j.y = p2.y;
    j.err = p2.err;
    j.lambda = 1e-5; /* bits weigh: some values move */
    nvc_rdoq_planes(&j, planes, class_bits);
    int moved = 0, toward = 1, others = 1;
    for (int k = 0; k < b.c; k++)
        for (size_t pos = 0; pos < plane; pos++) {
            const int v1 = p1.y[k * plane + pos], v2 = p2.y[k * plane + pos];
            if (!(planes >> k & 1)) {
                others &= v1 == v2;
                continue;
            }
            int pred;
            nvc_ctxplane_predict(p2.y + k * plane, p0.h, p0.w, 0, (int)(pos / p0.w), (int)(pos % p0.w), &pred);
            moved += v1 != v2;
            toward &= v1 == v2 || (abs(v2 - pred) < abs(v1 - pred) && (v2 - pred) * (v1 - pred) >= 0);
        }
    CHECK(others && toward && moved > 0);
    printf("block-mean planes: %d of %zu values moved toward their prediction\n", moved, 3 * plane);
    double max_diff = 0;
    for (size_t pos = 0; pos < plane; pos++)
        block_cost(&b, set, &p0, &p2, pos, 0, &max_diff);
    CHECK(max_diff < 1e-2);
    free_problem(&p0);
    free_problem(&p1);
    free_problem(&p2);
    free(bits);
    nvc_synth_basis_free(&b);
}

int main(void)
{
    nvc_cdf_set *set = NULL;
    CHECK_EQ_INT(nvc_cdf_set_gaussian(&set, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN,
                                      NVC_CDF_GAUSSIAN_SIGMA_MAX), 0);
    test_load();
    test_symbol_bits(set);
    test_run(set);
    test_planes(set);
    nvc_cdf_set_free(set);
    TEST_DONE();
}
