/* The encoder's block analysis (codec/block_analysis.h): the AVX2 dot products equal the C reference and a
 * plain int64 sum, at the extremes of the weights and inputs; whole analyses agree across kernels and thread
 * counts; the loader rejects malformed blobs. The block search's 16x16 SAD (codec/motion_search.h): AVX2 equals
 * C on random, extreme and unaligned blocks of any stride. With arguments DIR BLOB it checks a case written by
 *   /usr/bin/python3 tools/train/nvcint.py --analysis-case MODEL BLOB HxW DIR SEED
 * (DIR/case.nvm, DIR/case.bin): the C analysis equals the Python mirror (tests/model_mirror.sh runs it). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/block_analysis.h"
#include "codec/cpu.h"
#include "codec/motion_search.h"
#include "network/model.h"
#include "nvc/nvc.h"
#include "testutil.h"

static unsigned long long seed = 0x9E3779B97F4A7C15ULL;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> 8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* A blob of c_out outputs of c_in * r * r inputs; extreme: weights +-32767 and the largest biases. */
static uint8_t *make_blob(int c_out, int c_in, int r, int nq, int extreme, size_t *size)
{
    const size_t n = (size_t)c_in * r * r;
    *size = 24 + (size_t)c_out * n * 2 + (size_t)c_out * 8 + (size_t)nq * c_out * 8;
    uint8_t *b = calloc(1, *size), *p = b + 24;
    memcpy(b, "NVBA", 4);
    b[4] = 1;
    put32(b + 8, (uint32_t)c_out);
    put32(b + 12, (uint32_t)c_in);
    put32(b + 16, (uint32_t)r);
    put32(b + 20, (uint32_t)nq);
    for (size_t i = 0; i < (size_t)c_out * n; i++, p += 2) {
        const int w = extreme ? ((test_rand(&seed) & 1) ? 32767 : -32767) : (int)(test_rand(&seed) % 65535) - 32767;
        p[0] = (uint8_t)(w & 255);
        p[1] = (uint8_t)((w >> 8) & 255);
    }
    for (int o = 0; o < c_out; o++, p += 8)
        put64(p, (uint64_t)(extreme ? (o & 1 ? -(1LL << 40) : (1LL << 40)) : (long long)(test_rand(&seed) % 2000001) - 1000000));
    for (int k = 0; k < nq * c_out; k++, p += 8) {
        const double s = ldexp((double)(test_rand(&seed) % 1000 + 1), -30) * ((test_rand(&seed) & 1) ? 1 : -1);
        uint64_t bits;
        memcpy(&bits, &s, 8);
        put64(p, bits);
    }
    return b;
}

static void test_dot(void)
{
    const int shapes[][2] = { { 1, 16 }, { 3, 32 }, { 4, 48 }, { 5, 768 }, { 13, 2048 }, { 8, 400 } };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int extreme = 0; extreme < 2; extreme++) {
            const int c_out = shapes[s][0], n16 = (shapes[s][1] + 15) / 16 * 16;
            int16_t *w = aligned_alloc(32, (size_t)c_out * n16 * 2 + 32), *x = aligned_alloc(32, (size_t)n16 * 2 + 32);
            for (int i = 0; i < c_out * n16; i++)
                w[i] = (int16_t)(extreme ? 32767 : (int)(test_rand(&seed) % 65535) - 32767);
            for (int i = 0; i < n16; i++)
                x[i] = (int16_t)(extreme ? 255 : (int)(test_rand(&seed) % 256));
            if (extreme && c_out > 1) /* a row of -32767: the most negative sum */
                for (int i = 0; i < n16; i++)
                    w[n16 + i] = -32767;
            int64_t ref[16], c[16], v[16];
            for (int o = 0; o < c_out; o++) {
                ref[o] = 0;
                for (int i = 0; i < n16; i++)
                    ref[o] += (int64_t)w[(size_t)o * n16 + i] * x[i];
            }
            nvc_block_dot_c(w, x, n16, c_out, c);
            for (int o = 0; o < c_out; o++)
                CHECK_EQ_INT(c[o], ref[o]);
            if (nvc_cpu_flags() & NVC_CPU_AVX2) {
                nvc_block_dot_avx2(w, x, n16, c_out, v);
                for (int o = 0; o < c_out; o++)
                    CHECK_EQ_INT(v[o], ref[o]);
            }
            free(w);
            free(x);
        }
}

static int analyse(const nvc_block_analysis *a, const nvc_tensor *in, int n_in, int q, int threads, unsigned mask,
                   nvc_tensor *out)
{
    nvc_cpu_set_mask(mask);
    nvc_pool *pool = nvc_pool_create(threads);
    const int err = nvc_block_analysis_run(a, in, n_in, q, pool, out);
    nvc_pool_destroy(pool);
    nvc_cpu_set_mask(~0u);
    return err;
}

/* Whole analyses of two 6-channel inputs: r 3 (108 inputs, padded to 112) and r 4 (192, extreme values). */
static void test_run(void)
{
    const int rs[] = { 3, 4 };
    for (int k = 0; k < 2; k++) {
        const int r = rs[k], c_out = 21, nq = 3;
        size_t size;
        uint8_t *blob = make_blob(c_out, 12, r, nq, k, &size);
        nvc_block_analysis a;
        char msg[160];
        CHECK_EQ_INT(nvc_block_analysis_load(&a, blob, size, msg, sizeof msg), 0);
        nvc_tensor in[2] = { { 0 } };
        for (int t = 0; t < 2; t++) {
            CHECK_EQ_INT(nvc_tensor_alloc(&in[t], 6, 5 * r, 7 * r, 128), 0);
            for (int y = 0; y < in[t].h; y++)
                for (int x = 0; x < in[t].w; x++)
                    for (int c = 0; c < 6; c++)
                        nvc_tensor_px(&in[t], y, x)[c] = (uint8_t)(k ? 255 * (test_rand(&seed) & 1) : test_rand(&seed));
        }
        for (int q = 0; q < nq; q++) {
            nvc_tensor ref = { 0 }, o = { 0 };
            CHECK_EQ_INT(analyse(&a, in, 2, q, 1, 0, &ref), 0);
            CHECK_EQ_INT(ref.h, 5);
            CHECK_EQ_INT(ref.w, 7);
            /* the formula, directly: space_to_depth order c * r * r + dy * r + dx over the concatenated inputs */
            int64_t acc = a.bias[c_out - 1];
            for (int t = 0; t < 2; t++)
                for (int c = 0; c < 6; c++)
                    for (int dy = 0; dy < r; dy++)
                        for (int dx = 0; dx < r; dx++)
                            acc += (int64_t)a.w[(size_t)(c_out - 1) * a.n16 + (t * 6 + c) * r * r + dy * r + dx] *
                                   nvc_tensor_px(&in[t], 4 * r + dy, 6 * r + dx)[c];
            double v = floor((double)acc * a.scale[q * c_out + c_out - 1] + 0.5);
            v = v < -128 ? -128 : v > 127 ? 127 : v;
            CHECK_EQ_INT(nvc_tensor_px(&ref, 4, 6)[c_out - 1], 128 + (int)v);
            CHECK_EQ_INT(analyse(&a, in, 2, q, 3, ~0u, &o), 0);
            CHECK(nvc_tensor_same(&ref, &o));
            nvc_tensor_release(&o);
            nvc_tensor_release(&ref);
        }
        nvc_tensor o = { 0 };
        CHECK_EQ_INT(analyse(&a, in, 2, nq, 1, ~0u, &o), NVC_EINVAL);  /* quality beyond the table */
        CHECK_EQ_INT(analyse(&a, in, 1, 0, 1, ~0u, &o), NVC_EINVAL);   /* 6 channels for 12 */
        for (int t = 0; t < 2; t++)
            nvc_tensor_release(&in[t]);
        nvc_block_analysis_free(&a);
        free(blob);
    }
}

static void test_load(void)
{
    size_t size;
    uint8_t *blob = make_blob(4, 2, 2, 2, 0, &size);
    nvc_block_analysis a;
    char msg[160];
    CHECK_EQ_INT(nvc_block_analysis_load(&a, blob, size, msg, sizeof msg), 0);
    nvc_block_analysis_free(&a);
    CHECK_EQ_INT(nvc_block_analysis_load(&a, blob, size - 1, msg, sizeof msg), NVC_EMODEL);
    CHECK_EQ_INT(nvc_block_analysis_load(&a, blob, 10, msg, sizeof msg), NVC_EMODEL);
    uint8_t *bad = malloc(size);
    const struct { size_t off; uint8_t v; } edits[] = { { 0, 'X' }, { 4, 2 }, { 8, 0 }, { 16, 0 }, { 20, 0 } };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        memcpy(bad, blob, size);
        bad[edits[e].off] = edits[e].v;
        CHECK_EQ_INT(nvc_block_analysis_load(&a, bad, size, msg, sizeof msg), NVC_EMODEL);
    }
    /* more than 2048 inputs (r 33 is also over 16) */
    memcpy(bad, blob, size);
    put32(bad + 12, 3000);
    CHECK_EQ_INT(nvc_block_analysis_load(&a, bad, size, msg, sizeof msg), NVC_EMODEL);
    /* a NaN scale, a bias beyond 2^40 */
    const size_t scale0 = size - 2 * 4 * 8, bias0 = scale0 - 4 * 8;
    memcpy(bad, blob, size);
    put64(bad + scale0, 0x7FF8000000000000ULL);
    CHECK_EQ_INT(nvc_block_analysis_load(&a, bad, size, msg, sizeof msg), NVC_EMODEL);
    memcpy(bad, blob, size);
    put64(bad + bias0, (1ULL << 40) + 1);
    CHECK_EQ_INT(nvc_block_analysis_load(&a, bad, size, msg, sizeof msg), NVC_EMODEL);
    free(bad);
    free(blob);
}

typedef struct {
    uint32_t c, h, w, zp;
} raw_head;

static int read_tensor(FILE *f, nvc_tensor *t)
{
    raw_head hd;
    if (fread(&hd, sizeof hd, 1, f) != 1 || hd.c > 4096 || hd.h > 4096 || hd.w > 4096 || hd.zp > 255)
        return 0;
    uint8_t *chw = malloc((size_t)hd.c * hd.h * hd.w + 1);
    int ok = chw && fread(chw, 1, (size_t)hd.c * hd.h * hd.w, f) == (size_t)hd.c * hd.h * hd.w &&
             !nvc_tensor_alloc(t, (int)hd.c, (int)hd.h, (int)hd.w, (int)hd.zp);
    if (ok)
        nvc_tensor_from_chw(t, chw);
    free(chw);
    return ok;
}

/* DIR/case.nvm's blob BLOB on DIR/case.bin (u32 quality, u32 n, n inputs, the expected latent; each tensor
 * u32 c, h, w, zp and c*h*w bytes). */
static int check_case(const char *dir, const char *name)
{
    char path[4096], msg[256];
    snprintf(path, sizeof path, "%s/case.nvm", dir);
    nvc_model *m = NULL;
    if (nvc_model_load_file(path, &m, msg, sizeof msg)) {
        fprintf(stderr, "%s: %s\n", path, msg);
        return 1;
    }
    size_t size = 0;
    const uint8_t *blob = nvc_model_blob(m, name, &size);
    nvc_block_analysis a;
    CHECK(blob && !nvc_block_analysis_load(&a, blob, size, msg, sizeof msg));
    snprintf(path, sizeof path, "%s/case.bin", dir);
    FILE *f = fopen(path, "rb");
    uint32_t q = 0, n = 0;
    nvc_tensor in[4] = { { 0 } }, expect = { 0 };
    CHECK(f && fread(&q, 4, 1, f) == 1 && fread(&n, 4, 1, f) == 1 && n >= 1 && n <= 4);
    for (uint32_t i = 0; i < n && !test_failures; i++)
        CHECK(read_tensor(f, &in[i]));
    if (!test_failures)
        CHECK(read_tensor(f, &expect));
    for (int k = 0; k < 3 && !test_failures; k++) {
        nvc_tensor o = { 0 };
        CHECK_EQ_INT(analyse(&a, in, (int)n, (int)q, k == 2 ? 3 : 1, k == 0 ? 0 : ~0u, &o), 0);
        CHECK(nvc_tensor_same(&o, &expect));
        nvc_tensor_release(&o);
    }
    if (f)
        fclose(f);
    for (int i = 0; i < 4; i++)
        nvc_tensor_release(&in[i]);
    nvc_tensor_release(&expect);
    if (blob)
        nvc_block_analysis_free(&a);
    nvc_model_free(m);
    TEST_DONE();
}

static void test_sad(void)
{
    static uint8_t a[48 * 40], b[112 * 40];
    int compared = 0;
    for (int run = 0; run < 1000; run++) {
        const int kind = run % 4; /* random, all 0 against all 255 (the largest SAD), equal, one pel apart */
        for (size_t i = 0; i < sizeof b; i++) {
            if (i < sizeof a)
                a[i] = kind == 1 ? 0 : (uint8_t)test_rand(&seed);
            b[i] = kind == 1 ? 255 : (uint8_t)test_rand(&seed);
        }
        const int n = kind == 2 ? 1 : 1 + (int)(test_rand(&seed) % 64);
        const ptrdiff_t as = 16 + (ptrdiff_t)(test_rand(&seed) % 25);
        const ptrdiff_t bs = kind == 2 ? as : 16 + n + (ptrdiff_t)(test_rand(&seed) % 25);
        const size_t oa = test_rand(&seed) % 7, ob = kind == 2 ? oa : test_rand(&seed) % 7; /* any alignment */
        if (kind == 2) /* b's block equals a's */
            memcpy(b, a, sizeof a);
        if (kind == 3)
            b[ob + (size_t)(test_rand(&seed) % 16) * bs + test_rand(&seed) % 16] ^= 0x80;
        const uint8_t *pa = a + oa, *pb = b + ob;
        int ref[64], simd[64];
        nvc_sad16x16_row_c(pa, as, pb, bs, n, ref);
        for (int k = 0; k < n; k++) {
            long long plain = 0;
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++)
                    plain += abs(pa[y * as + x] - pb[y * bs + x + k]);
            CHECK_EQ_INT(ref[k], plain);
        }
        if (kind == 1)
            CHECK_EQ_INT(ref[0], 256 * 255);
        if (kind == 2)
            CHECK_EQ_INT(ref[0], 0);
        if (nvc_cpu_flags() & NVC_CPU_AVX2) {
            nvc_sad16x16_row_avx2(pa, as, pb, bs, n, simd);
            CHECK(memcmp(simd, ref, (size_t)n * sizeof *ref) == 0);
            compared++;
        }
    }
    if (!(nvc_cpu_flags() & NVC_CPU_AVX2))
        printf("sad: no AVX2 here, C reference only\n");
    else
        CHECK_EQ_INT(compared, 1000);
}

int main(int argc, char **argv)
{
    if (argc == 3)
        return check_case(argv[1], argv[2]);
    test_sad();
    test_dot();
    test_run();
    test_load();
    TEST_DONE();
}
