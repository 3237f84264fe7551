/* checkasm-style: every AVX2 kernel of the int8 engine against the scalar reference on random shapes
 * and values, saturation extremes included (weights +-64 and +-32 at the pair-sum bound, activations
 * 0/255, biases at the int32 accumulator bound, every shift 1..62, multipliers up to 2^30-1, convs with
 * an addend and A up to +-32767 / -32768), and results independent of the thread count. Skips (77)
 * without AVX2. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "network/model.h"
#include "nvc/nvc.h"
#include "testutil.h"

static unsigned long long seed = 0x5DEECE66Dull;

/* The SIMD levels the conv kernels are compared at (nvc_cpu_set_mask values): AVX2, and AVX2 with
 * AVX-VNNI where the CPU has it. */
static unsigned simd_levels[2];
static int n_simd_levels;

static int rnd(int n) /* 0..n-1 */
{
    return (int)(test_rand(&seed) % (unsigned long long)n);
}

static int rnd_range(int lo, int hi) /* lo..hi */
{
    return lo + rnd(hi - lo + 1);
}

/* Random tensor; `mode` 0: uniform, 1: only 0 and 255, 2: mostly 255. */
static void fill(nvc_tensor *t, int mode)
{
    for (int y = 0; y < t->h; y++)
        for (int x = 0; x < t->w; x++)
            for (int c = 0; c < t->c; c++)
                nvc_tensor_px(t, y, x)[c] = (uint8_t)(mode == 0 ? rnd(256) : mode == 1 ? 255 * rnd(2)
                                                                  : rnd(8) ? 255 : rnd(256));
}

/* Random bytes in the channel padding (unspecified content that no result may depend on). */
static void fill_padding(nvc_tensor *t)
{
    for (int y = 0; y < t->h; y++)
        for (int x = 0; x < t->w; x++)
            for (int c = t->c; c < t->cstride; c++)
                nvc_tensor_px(t, y, x)[c] = (uint8_t)rnd(256);
}

/* Number of differing values over the real channels of the interior. */
static long diff(const nvc_tensor *a, const nvc_tensor *b)
{
    long n = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++)
            n += memcmp(nvc_tensor_px(a, y, x), nvc_tensor_px(b, y, x), (size_t)a->c) != 0;
    return n;
}

static int trials_paired, trials_unpaired, trials_mixed;
/* dense convs with an addend by the shape of the last output-channel block (a full 16, at most 8
 * channels: OCV 1, 9..15), kernel size and stride: every combination must have been tried */
static int trials_addend[3][3][2];

static void check_conv(int trial)
{
    const int depthwise = rnd(5) == 0, with_addend = rnd(2);
    const int c_in = rnd(3) ? rnd_range(1, 72) : rnd_range(1, 9);
    /* output channels a multiple of 16 a quarter of the time: the last block is then a full one */
    const int c_out = depthwise     ? c_in
                      : rnd(4) == 0 ? 16 * rnd_range(1, 3)
                      : rnd(3)      ? rnd_range(1, 40)
                                    : rnd_range(1, 5);
    const int k = (int[]){ 1, 3, 5 }[rnd(3)], stride = rnd_range(1, 2);
    const int h = rnd_range(1, 13), w = rnd_range(1, 19);
    /* 0: [-64, 64], 1: [-32, 32] (pair sums exact), 2: extremes +-64, 3: +-32, 4: [-32, 32] but output
     * channel 16 (second block) gets +-64: blocks differ */
    const int weight_mode = rnd(5);
    const int kk = (depthwise ? 1 : c_in) * k * k;
    const size_t nw = (size_t)c_out * kk;
    int8_t *wt = malloc(nw);
    int32_t *bias = malloc(sizeof(int32_t) * (size_t)c_out), *M = malloc(sizeof(int32_t) * (size_t)c_out);
    int32_t *S = malloc(sizeof(int32_t) * (size_t)c_out), *A = malloc(sizeof(int32_t) * (size_t)c_out);
    /* A: 0 uniform int16, 1 the extremes +-32767 and -32768, 2 small, 3 small with zeros */
    const int a_mode = rnd(4);
    int64_t a_max = 0;
    for (int o = 0; o < c_out; o++) {
        A[o] = a_mode == 0 ? rnd_range(-32768, 32767) : a_mode == 1 ? (rnd(2) ? 32767 : rnd(2) ? -32767 : -32768)
             : rnd_range(-300, 300) * (a_mode == 2 || rnd(2));
        a_max = llabs(A[o]) > a_max ? llabs(A[o]) : a_max;
    }
    for (size_t i = 0; i < nw; i++)
        wt[i] = (int8_t)(weight_mode == 0   ? rnd_range(-64, 64)
                         : weight_mode == 1 ? rnd_range(-32, 32)
                         : weight_mode == 2 ? (rnd(2) ? 64 : -64)
                         : weight_mode == 3 ? (rnd(2) ? 32 : -32)
                         : (i / kk == 16 ? (rnd(2) ? 64 : -64) : rnd_range(-32, 32)));
    const int32_t bias_max = (int32_t)(INT32_MAX - (int64_t)kk * 255 * 64 - (with_addend ? 255 * a_max : 0));
    for (int o = 0; o < c_out; o++) {
        const int r = rnd(4);
        bias[o] = r == 0 ? bias_max : r == 1 ? -bias_max : rnd_range(-100000, 100000);
        S[o] = rnd(3) ? rnd_range(14, 40) : rnd_range(1, 62); /* every shift, often useful ones */
        M[o] = rnd(4) ? rnd_range(0, (1 << 30) - 1) >> rnd(30) : (1 << 30) - 1;
        if (rnd(3) == 0) { /* a power of two with a nearby shift: exact ties of the rounding occur */
            const int m = rnd(30);
            M[o] = 1 << m;
            S[o] = m + rnd_range(1, 14);
        }
    }
    const int zp_in = rnd(256), zp_out = rnd(256), lo = rnd(3) ? 0 : rnd(256), hi = lo + rnd(256 - lo);
    nvc_net_op op;
    CHECK_EQ_INT(nvc_net_op_conv2d(&op, c_in, c_out, k, stride, depthwise, wt, bias, M, S, with_addend ? A : NULL,
                                   zp_out, lo, hi), 0);
    if (!depthwise && (weight_mode == 1 || weight_mode == 3))
        CHECK_EQ_INT(op.packed.pair_sum_exact, 1);
    if (!depthwise && weight_mode == 2 && c_in >= 5) /* 4 weights of 64 in one lane */
        CHECK_EQ_INT(op.packed.pair_sum_exact, 0);
    if (!depthwise && weight_mode == 4 && c_out > 16 && c_in >= 5) { /* mixed: first block fast, second not */
        CHECK_EQ_INT(op.packed.block_paired[0], 1);
        CHECK_EQ_INT(op.packed.block_paired[1], 0);
        trials_mixed++;
    }
    if (!depthwise)
        op.packed.pair_sum_exact ? trials_paired++ : trials_unpaired++;
    if (!depthwise && with_addend)
        trials_addend[c_out % 16 == 0 ? 0 : c_out % 16 <= 8 ? 1 : 2][k / 2][stride - 1]++;
    nvc_tensor in = { 0 }, addend = { 0 }, ref = { 0 }, out = { 0 };
    CHECK_EQ_INT(nvc_tensor_alloc(&in, c_in, h, w, zp_in), 0);
    fill(&in, rnd(3));
    const int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
    CHECK_EQ_INT(nvc_tensor_alloc(&addend, c_out, ho, wo, rnd(4) ? rnd(256) : 255 * rnd(2)), 0);
    fill(&addend, rnd(3));
    fill_padding(&addend);
    const nvc_tensor *ins[2] = { &in, &addend };
    nvc_cpu_set_mask(0);
    CHECK_EQ_INT(nvc_tensor_alloc(&ref, c_out, ho, wo, zp_out), 0);
    nvc_net_run_op(&op, ins, &ref, 0, NULL);
    static nvc_pool *pool3;
    if (!pool3)
        pool3 = nvc_pool_create(3);
    for (int level = 0; level < n_simd_levels; level++) {
        nvc_cpu_set_mask(simd_levels[level]);
        for (int threads = 1; threads <= 3; threads += 2) {
            CHECK_EQ_INT(nvc_tensor_alloc(&out, c_out, ho, wo, zp_out), 0);
            nvc_net_run_op(&op, ins, &out, 0, threads > 1 ? pool3 : NULL);
            const long bad = diff(&ref, &out);
            if (bad)
                fprintf(stderr, "trial %d: conv%dx%d%s s%d %d->%d %dx%d weights mode %d paired %d, addend %d "
                        "(A mode %d), %s, %d threads: %ld pixels differ\n", trial, k, k, depthwise ? " dw" : "",
                        stride, c_in, c_out, h, w, weight_mode, op.packed.pair_sum_exact, with_addend, a_mode,
                        nvc_net_dsp_get()->name, threads, bad);
            CHECK_EQ_INT(bad, 0);
        }
    }
    nvc_cpu_set_mask(~0u);
    nvc_tensor_release(&in);
    nvc_tensor_release(&addend);
    nvc_tensor_release(&ref);
    nvc_tensor_release(&out);
    nvc_conv_pack_free(&op);
    free(wt);
    free(bias);
    free(M);
    free(S);
    free(A);
}

/* The pair-sum bound itself: |w| = 32 everywhere and activations 255 reach 4*255*32 = 32640 in an
 * int16 lane, the most the exactness condition allows. */
static void check_pair_sum_bound(void)
{
    const int c = 64, k = 3;
    int8_t *wt = malloc((size_t)c * c * k * k);
    int32_t bias[64], M[64], S[64];
    for (int i = 0; i < c * c * k * k; i++)
        wt[i] = (int8_t)((i / (c * k * k)) % 2 ? 32 : -32);
    for (int o = 0; o < c; o++) {
        bias[o] = o * 1000 - 30000;
        M[o] = 1 << 20;
        S[o] = 28;
    }
    nvc_net_op op;
    CHECK_EQ_INT(nvc_net_op_conv2d(&op, c, c, k, 1, 0, wt, bias, M, S, NULL, 128, 0, 255), 0);
    CHECK_EQ_INT(op.packed.pair_sum_exact, 1);
    nvc_tensor in = { 0 }, ref = { 0 }, out = { 0 };
    CHECK_EQ_INT(nvc_tensor_alloc(&in, c, 5, 9, 255), 0);
    fill(&in, 2);
    const nvc_tensor *ins[1] = { &in };
    nvc_cpu_set_mask(0);
    nvc_tensor_alloc(&ref, c, 5, 9, 128);
    nvc_net_run_op(&op, ins, &ref, 0, NULL);
    nvc_cpu_set_mask(~0u);
    nvc_tensor_alloc(&out, c, 5, 9, 128);
    nvc_net_run_op(&op, ins, &out, 0, NULL);
    CHECK_EQ_INT(diff(&ref, &out), 0);
    /* one more unit of weight breaks the bound: the packer must notice */
    wt[0] = 33;
    nvc_net_op op2;
    CHECK_EQ_INT(nvc_net_op_conv2d(&op2, c, c, k, 1, 0, wt, bias, M, S, NULL, 128, 0, 255), 0);
    CHECK_EQ_INT(op2.packed.pair_sum_exact, 0);
    nvc_conv_pack_free(&op2);
    nvc_conv_pack_free(&op);
    nvc_tensor_release(&in);
    nvc_tensor_release(&ref);
    nvc_tensor_release(&out);
    free(wt);
}

/* The accumulator bound with an addend, reached: weights +-64 on activations 255 (the border too),
 * A = 32767 or -32768 on addend - zp_addend = +-255 and the bias at the loader's limit
 * INT32_MAX - K*255*64 - 255*max|A| give accumulators of exactly +-INT32_MAX and within 255 of it, for
 * each SIMD level, a last block of 8 channels (24) and a full one (32). Every kernel must give the
 * requantisation of that exact value (a wrapped int32 would flip its sign). */
static void check_addend_bound(void)
{
    const int c_in = 24, k = 3, K = c_in * k * k;
    const int32_t bias_max = (int32_t)(INT32_MAX - (int64_t)K * 255 * 64 - 255 * 32768);
    for (int c_out = 24; c_out <= 32; c_out += 8)
        for (int zp_addend = 0; zp_addend <= 255; zp_addend += 255) {
            int8_t *wt = malloc((size_t)c_out * K);
            int32_t bias[32], M[32], S[32], A[32];
            int64_t expect[32];
            const int d = zp_addend ? -255 : 255; /* addend - zp_addend */
            for (int o = 0; o < c_out; o++) {
                const int sign = (o * 7 + 3) % 5 < 2 ? -1 : 1; /* both signs in every vector of 8 */
                memset(wt + (size_t)o * K, sign * 64 & 0xFF, (size_t)K);
                A[o] = (sign > 0) == (d > 0) ? 32767 : -32768; /* A * d has the channel's sign */
                bias[o] = sign * bias_max;
                M[o] = 1 << 19; /* acc / 2^25: +-64 around zp_out */
                S[o] = 44;
                expect[o] = (int64_t)bias[o] + (int64_t)sign * 64 * 255 * K + (int64_t)A[o] * d;
                CHECK(expect[o] >= -INT32_MAX && expect[o] <= INT32_MAX && llabs(expect[o]) >= INT32_MAX - 255);
            }
            nvc_net_op op;
            CHECK_EQ_INT(nvc_net_op_conv2d(&op, c_in, c_out, k, 1, 0, wt, bias, M, S, A, 128, 0, 255), 0);
            nvc_tensor in = { 0 }, addend = { 0 }, out = { 0 };
            CHECK_EQ_INT(nvc_tensor_alloc(&in, c_in, 5, 13, 255), 0); /* every value and the border 255 */
            CHECK_EQ_INT(nvc_tensor_alloc(&addend, c_out, 5, 13, zp_addend), 0);
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 13; x++)
                    memset(nvc_tensor_px(&addend, y, x), 255 - zp_addend, (size_t)c_out);
            const nvc_tensor *ins[2] = { &in, &addend };
            for (int level = -1; level < n_simd_levels; level++) { /* -1: the reference */
                nvc_cpu_set_mask(level < 0 ? 0 : simd_levels[level]);
                CHECK_EQ_INT(nvc_tensor_alloc(&out, c_out, 5, 13, 128), 0);
                CHECK_EQ_INT(nvc_net_run_op(&op, ins, &out, 0, NULL), 0);
                long bad = 0;
                for (int y = 0; y < 5; y++)
                    for (int x = 0; x < 13; x++)
                        for (int o = 0; o < c_out; o++)
                            bad += nvc_tensor_px(&out, y, x)[o] != nvc_requant(expect[o], M[o], S[o], 128, 0, 255);
                if (bad)
                    fprintf(stderr, "addend bound: %d channels, zp_addend %d, %s: %ld values wrong\n", c_out,
                            zp_addend, nvc_net_dsp_get()->name, bad);
                CHECK_EQ_INT(bad, 0);
            }
            nvc_cpu_set_mask(~0u);
            nvc_tensor_release(&in);
            nvc_tensor_release(&addend);
            nvc_tensor_release(&out);
            nvc_conv_pack_free(&op);
            free(wt);
        }
}

/* Runs op with the reference and with the current SIMD table (1 and 3 threads); counts differences. */
static void compare_op(const char *what, const nvc_net_op *op, const nvc_tensor *const *ins, int c, int h, int w,
                       int zp)
{
    static nvc_pool *pool3;
    if (!pool3)
        pool3 = nvc_pool_create(3);
    nvc_tensor ref = { 0 }, out = { 0 };
    nvc_cpu_set_mask(0);
    CHECK_EQ_INT(nvc_tensor_alloc(&ref, c, h, w, zp), 0);
    CHECK_EQ_INT(nvc_net_run_op(op, ins, &ref, 5, NULL), 0);
    nvc_cpu_set_mask(~0u);
    for (int threads = 1; threads <= 3; threads += 2) {
        CHECK_EQ_INT(nvc_tensor_alloc(&out, c, h, w, zp), 0);
        CHECK_EQ_INT(nvc_net_run_op(op, ins, &out, 5, threads > 1 ? pool3 : NULL), 0);
        const long bad = diff(&ref, &out);
        if (bad)
            fprintf(stderr, "%s: %d channels %dx%d, %d threads: %ld pixels differ\n", what, c, h, w, threads, bad);
        CHECK_EQ_INT(bad, 0);
    }
    nvc_tensor_release(&ref);
    nvc_tensor_release(&out);
}

static void check_other_ops(int trial)
{
    nvc_tensor a = { 0 }, b = { 0 };
    const nvc_tensor *ins[2] = { &a, &b };
    nvc_net_op op = { .n_in = 1, .lo = 0, .hi = 255 };
    const int c = rnd(3) ? rnd_range(1, 70) : 16 * rnd_range(1, 4), h = rnd_range(1, 9), w = rnd_range(1, 11);
    const int lo = rnd(2) ? 0 : rnd(256), hi = lo + rnd(256 - lo), zp_out = rnd(256);
    /* add */
    nvc_tensor_alloc(&a, c, h, w, rnd(256));
    nvc_tensor_alloc(&b, c, h, w, rnd(256));
    fill(&a, rnd(3));
    fill(&b, rnd(3));
    op.type = NVC_OP_ADD;
    op.n_in = 2;
    op.c_out = c;
    op.zp_out = zp_out;
    op.lo = lo;
    op.hi = hi;
    op.p[0] = rnd(4) ? rnd_range(-32768, 32767) : (rnd(2) ? 32767 : -32768);
    op.p[1] = rnd(4) ? rnd_range(-32768, 32767) : (rnd(2) ? 32767 : -32768);
    op.p[2] = rnd_range(1, 30);
    compare_op("add", &op, ins, c, h, w, zp_out);
    /* scale_channels, 1 or 64 quality rows */
    const int nq = rnd(2) ? 1 : 64;
    int32_t *M = malloc(sizeof(int32_t) * (size_t)nq * c), *S = malloc(sizeof(int32_t) * (size_t)nq * c);
    for (int i = 0; i < nq * c; i++) {
        S[i] = rnd(2) ? rnd_range(1, 62) : rnd_range(8, 24);
        M[i] = rnd(4) ? rnd_range(0, (1 << 30) - 1) >> rnd(30) : (1 << 30) - 1;
        if (rnd(3) == 0) {
            const int m = rnd(30);
            M[i] = 1 << m;
            S[i] = m + rnd_range(1, 10);
        }
    }
    op.type = NVC_OP_SCALE_CHANNELS;
    op.n_in = 1;
    op.nq = nq;
    op.tab_M = M;
    op.tab_S = S;
    compare_op("scale_channels", &op, ins, c, h, w, zp_out);
    free(M);
    free(S);
    /* depth_to_space by 2 (SIMD for 4k output channels) or 3 */
    const int r = rnd(4) ? 2 : 3, cd = rnd_range(1, 20);
    nvc_tensor_alloc(&a, cd * r * r, h, w, 7);
    fill(&a, 0);
    op = (nvc_net_op){ .type = NVC_OP_DEPTH_TO_SPACE, .n_in = 1, .c_out = cd, .zp_out = 7, .lo = 0, .hi = 255 };
    op.p[0] = r;
    compare_op("depth_to_space", &op, ins, cd, h * r, w * r, 7);
    /* warp: picture 6 x 2h x 2w, motion at 1/r of the luma size */
    const int rw = (int[]){ 1, 2, 4, 8 }[rnd(4)];
    nvc_tensor_alloc(&a, 6, 2 * h, 2 * w, 128);
    nvc_tensor_alloc(&b, 2, 4 * h / rw > 0 && (4 * h) % rw == 0 ? 4 * h / rw : 1, 4 * w % rw == 0 ? 4 * w / rw : 1, rnd(256));
    fill(&a, 0);
    fill(&b, 0);
    if (b.h * rw == 4 * h && b.w * rw == 4 * w) {
        op = (nvc_net_op){ .type = NVC_OP_WARP, .n_in = 2, .c_out = 6, .zp_out = 128, .lo = 0, .hi = 255 };
        const int32_t wp[5] = { rw, rnd_range(0, 1 << 14), rnd_range(8, 14), rnd_range(0, 1 << 14), rnd_range(8, 14) };
        memcpy(op.p, wp, sizeof(wp));
        compare_op("warp", &op, ins, 6, 2 * h, 2 * w, 128);
    }
    nvc_tensor_release(&a);
    nvc_tensor_release(&b);
    (void)trial;
}

/* nvc_conv_acc_range: the bounds are tight, clamping acc to them never changes an output, and inside
 * them zp + requant fits int32 (what the AVX2 conv epilogue relies on). Independent of the CPU. */
static int64_t unclamped(int64_t acc, int32_t M, int S, int zp)
{
    return ((acc * M + ((int64_t)1 << (S - 1))) >> S) + zp;
}

static void check_acc_range(void)
{
    for (int trial = 0; trial < 3000; trial++) {
        const int S = rnd(3) ? rnd_range(1, 62) : rnd_range(14, 40), zp = rnd(256);
        const int32_t M = rnd(5) ? rnd_range(0, (1 << 30) - 1) >> rnd(31) : (rnd(2) ? (1 << 30) - 1 : 0);
        const int lo = rnd(3) ? 0 : rnd(256), hi = lo + rnd(256 - lo);
        int32_t alo, ahi;
        nvc_conv_acc_range(M, S, zp, lo, hi, &alo, &ahi);
        if (alo > INT32_MIN)
            CHECK(unclamped(alo, M, S, zp) <= lo);
        if (alo < INT32_MAX)
            CHECK(unclamped((int64_t)alo + 1, M, S, zp) > lo);
        if (ahi < INT32_MAX)
            CHECK(unclamped(ahi, M, S, zp) >= hi);
        if (ahi > INT32_MIN)
            CHECK(unclamped((int64_t)ahi - 1, M, S, zp) < hi);
        for (int i = 0; i < 40; i++) {
            const int64_t edges[4] = { alo, ahi, INT32_MIN, INT32_MAX };
            int64_t acc = i < 4 ? edges[i] : i < 20 ? edges[i & 1] + rnd_range(-3, 3)
                                                    : (int64_t)(int32_t)((uint32_t)rnd(1 << 16) << 16 | (uint32_t)rnd(1 << 16));
            acc = acc < INT32_MIN ? INT32_MIN : acc > INT32_MAX ? INT32_MAX : acc;
            const int64_t raised = acc < alo ? alo : acc, c = raised > ahi ? ahi : raised; /* max, then min */
            const int64_t v = unclamped(c, M, S, zp);
            CHECK(v >= INT32_MIN && v <= INT32_MAX);
            CHECK_EQ_INT(nvc_requant(c, M, S, zp, lo, hi), nvc_requant(acc, M, S, zp, lo, hi));
        }
    }
}

int main(void)
{
    check_acc_range();
    if (!(nvc_cpu_flags() & NVC_CPU_AVX2)) {
        printf("skip: no AVX2 on this CPU (or NVC_CPU_MASK hides it)\n");
        return 77;
    }
    simd_levels[n_simd_levels++] = NVC_CPU_AVX2;
    if (nvc_cpu_flags() & NVC_CPU_AVXVNNI)
        simd_levels[n_simd_levels++] = NVC_CPU_AVX2 | NVC_CPU_AVXVNNI;
    else
        printf("AVX-VNNI: not on this CPU (or NVC_CPU_MASK hides it): its conv kernel is not tested here\n");
    check_pair_sum_bound();
    check_addend_bound();
    for (int trial = 0; trial < 1500; trial++)
        check_conv(trial);
    for (int trial = 0; trial < 300; trial++)
        check_other_ops(trial);
    printf("conv trials: %d with paired products, %d without, %d mixed\n", trials_paired, trials_unpaired,
           trials_mixed);
    CHECK(trials_paired > 50 && trials_unpaired > 50 && trials_mixed > 20);
    int fewest = 1 << 30;
    for (int b = 0; b < 3; b++)
        for (int ki = 0; ki < 3; ki++)
            for (int st = 0; st < 2; st++)
                fewest = trials_addend[b][ki][st] < fewest ? trials_addend[b][ki][st] : fewest;
    printf("dense conv trials with an addend: at least %d for each last-block shape, k and stride\n", fewest);
    CHECK(fewest >= 5);
    TEST_DONE();
}
