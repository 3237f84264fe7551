/* checkasm-style: every AVX2 kernel of the int8 engine against the scalar reference on random shapes
 * and values, saturation extremes included (weights +-64 and +-32 at the pair-sum bound, activations
 * 0/255, biases at the int32 accumulator bound, every shift 1..62, multipliers up to 2^30-1), and
 * results independent of the thread count. Skips (77) without AVX2. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/cpu.h"
#include "network/model.h"
#include "nvc/nvc.h"
#include "testutil.h"

static unsigned long long seed = 0x5DEECE66Dull;

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

/* Number of differing values over the real channels of the interior. */
static long diff(const nvc_tensor *a, const nvc_tensor *b)
{
    long n = 0;
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++)
            n += memcmp(nvc_tensor_px(a, y, x), nvc_tensor_px(b, y, x), (size_t)a->c) != 0;
    return n;
}

static int trials_paired, trials_unpaired;

static void check_conv(int trial)
{
    const int depthwise = rnd(5) == 0;
    const int c_in = rnd(3) ? rnd_range(1, 72) : rnd_range(1, 9);
    const int c_out = depthwise ? c_in : rnd(3) ? rnd_range(1, 40) : rnd_range(1, 5);
    const int k = (int[]){ 1, 3, 5 }[rnd(3)], stride = rnd_range(1, 2);
    const int h = rnd_range(1, 13), w = rnd_range(1, 19);
    const int weight_mode = rnd(4); /* 0: [-64, 64], 1: [-32, 32] (pair sums exact), 2: extremes +-64, 3: +-32 */
    const int kk = (depthwise ? 1 : c_in) * k * k;
    const size_t nw = (size_t)c_out * kk;
    int8_t *wt = malloc(nw);
    int32_t *bias = malloc(sizeof(int32_t) * (size_t)c_out), *M = malloc(sizeof(int32_t) * (size_t)c_out);
    int32_t *S = malloc(sizeof(int32_t) * (size_t)c_out);
    for (size_t i = 0; i < nw; i++)
        wt[i] = (int8_t)(weight_mode == 0   ? rnd_range(-64, 64)
                         : weight_mode == 1 ? rnd_range(-32, 32)
                         : weight_mode == 2 ? (rnd(2) ? 64 : -64)
                                            : (rnd(2) ? 32 : -32));
    const int32_t bias_max = (int32_t)(INT32_MAX - (int64_t)kk * 255 * 64);
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
    CHECK_EQ_INT(nvc_net_op_conv2d(&op, c_in, c_out, k, stride, depthwise, wt, bias, M, S, zp_out, lo, hi), 0);
    if (!depthwise && (weight_mode == 1 || weight_mode == 3))
        CHECK_EQ_INT(op.packed.pair_sum_exact, 1);
    if (!depthwise && weight_mode == 2 && c_in >= 5) /* 4 weights of 64 in one lane */
        CHECK_EQ_INT(op.packed.pair_sum_exact, 0);
    if (!depthwise)
        op.packed.pair_sum_exact ? trials_paired++ : trials_unpaired++;
    nvc_tensor in = { 0 }, ref = { 0 }, out = { 0 };
    CHECK_EQ_INT(nvc_tensor_alloc(&in, c_in, h, w, zp_in), 0);
    fill(&in, rnd(3));
    const int ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
    const nvc_tensor *ins[1] = { &in };
    nvc_cpu_set_mask(0);
    CHECK_EQ_INT(nvc_tensor_alloc(&ref, c_out, ho, wo, zp_out), 0);
    nvc_net_run_op(&op, ins, &ref, 0, NULL);
    nvc_cpu_set_mask(~0u);
    static nvc_pool *pool3;
    if (!pool3)
        pool3 = nvc_pool_create(3);
    for (int threads = 1; threads <= 3; threads += 2) {
        CHECK_EQ_INT(nvc_tensor_alloc(&out, c_out, ho, wo, zp_out), 0);
        nvc_net_run_op(&op, ins, &out, 0, threads > 1 ? pool3 : NULL);
        const long bad = diff(&ref, &out);
        if (bad)
            fprintf(stderr, "trial %d: conv%dx%d%s s%d %d->%d %dx%d weights mode %d paired %d, %d threads: %ld "
                    "pixels differ\n", trial, k, k, depthwise ? " dw" : "", stride, c_in, c_out, h, w, weight_mode,
                    op.packed.pair_sum_exact, threads, bad);
        CHECK_EQ_INT(bad, 0);
    }
    nvc_tensor_release(&in);
    nvc_tensor_release(&ref);
    nvc_tensor_release(&out);
    nvc_conv_pack_free(&op);
    free(wt);
    free(bias);
    free(M);
    free(S);
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
    CHECK_EQ_INT(nvc_net_op_conv2d(&op, c, c, k, 1, 0, wt, bias, M, S, 128, 0, 255), 0);
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
    CHECK_EQ_INT(nvc_net_op_conv2d(&op2, c, c, k, 1, 0, wt, bias, M, S, 128, 0, 255), 0);
    CHECK_EQ_INT(op2.packed.pair_sum_exact, 0);
    nvc_conv_pack_free(&op2);
    nvc_conv_pack_free(&op);
    nvc_tensor_release(&in);
    nvc_tensor_release(&ref);
    nvc_tensor_release(&out);
    free(wt);
}

int main(void)
{
    if (!(nvc_cpu_flags() & NVC_CPU_AVX2)) {
        printf("skip: no AVX2 on this CPU (or NVC_CPU_MASK hides it)\n");
        return 77;
    }
    check_pair_sum_bound();
    for (int trial = 0; trial < 1500; trial++)
        check_conv(trial);
    printf("conv trials: %d with paired products, %d without\n", trials_paired, trials_unpaired);
    CHECK(trials_paired > 50 && trials_unpaired > 50);
    TEST_DONE();
}
