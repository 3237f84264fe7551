/* make bench: int8 engine throughput next to the CPU's int8 peak.
 *   peak:   a register-only AVX2 microkernel (two vpmaddubsw summed before one vpmaddwd, 12 chains),
 *           on 1 and 2 threads;
 *   conv:   3x3 conv 64->64 at 320x180;
 *   stack:  a decoder-shaped stack at 720p (latent at 1/16 -> 6 channels at 640x360 via depth_to_space),
 * each on 1 and 2 threads, as GMAC/s (median of several runs) and as a percentage of the peak.
 * Usage: bench_network [runs]
 *        bench_network runs MODEL.nvm GRAPH HxW[,HxW...]   one graph of a real model (input sizes in order) */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/cpu.h"
#include "network/model.h"
#include "network/tensor_cache.h"
#include "nvc/nvc.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- peak microkernel ---------------------------------------------------------------------------- */
#define PEAK_ITERS 20000000L
#define PEAK_CHAINS 12

__attribute__((target("avx2"), noinline)) static int peak_kernel(long iters)
{
    __m256i acc[PEAK_CHAINS];
    const __m256i a = _mm256_set1_epi8(3), w0 = _mm256_set1_epi8(5), w1 = _mm256_set1_epi8(-7);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int i = 0; i < PEAK_CHAINS; i++)
        acc[i] = _mm256_set1_epi32(i);
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < PEAK_CHAINS; i++) {
            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(a, w0), _mm256_maddubs_epi16(a, w1));
            acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(p, ones));
        }
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]));
    }
    __m256i s = acc[0];
    for (int i = 1; i < PEAK_CHAINS; i++)
        s = _mm256_add_epi32(s, acc[i]);
    return _mm256_extract_epi32(s, 0);
}

static void *peak_thread(void *arg)
{
    *(int *)arg = peak_kernel(PEAK_ITERS);
    return NULL;
}

/* GMAC/s of the microkernel on `threads` threads together (64 MACs per chain per iteration). */
static double peak_gmacs(int threads)
{
    pthread_t tid[2];
    int sink[2];
    const double t0 = now();
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, peak_thread, &sink[i]);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    const double dt = now() - t0;
    return (double)threads * PEAK_ITERS * PEAK_CHAINS * 64 / dt * 1e-9;
}

/* ---- convolution layers ------------------------------------------------------------------------- */
typedef struct layer {
    int c_in, c_out, k, d2s; /* d2s: depth_to_space factor applied after the conv (0: none) */
    nvc_net_op conv, shuffle;
    int8_t *w;
    int32_t *bias, *M, *S;
} layer;

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * 2685821657736338717ull) >> 32);
}

static void layer_free(layer *l)
{
    nvc_conv_pack_free(&l->conv);
    free(l->w);
    free(l->bias);
    free(l->M);
    free(l->S);
    l->w = NULL;
    l->bias = l->M = l->S = NULL;
}

static int layer_init(layer *l, int wmax)
{
    layer_free(l);
    const size_t nw = (size_t)l->c_out * l->c_in * l->k * l->k;
    l->w = malloc(nw);
    l->bias = malloc(sizeof(int32_t) * (size_t)l->c_out);
    l->M = malloc(sizeof(int32_t) * (size_t)l->c_out);
    l->S = malloc(sizeof(int32_t) * (size_t)l->c_out);
    if (!l->w || !l->bias || !l->M || !l->S)
        return NVC_ENOMEM;
    for (size_t i = 0; i < nw; i++)
        l->w[i] = (int8_t)((int)(rnd() % (2 * wmax + 1)) - wmax);
    for (int o = 0; o < l->c_out; o++) {
        l->bias[o] = (int32_t)(rnd() % 20001) - 10000;
        l->M[o] = 1 << 20;
        l->S[o] = 34;
    }
    int err = nvc_net_op_conv2d(&l->conv, l->c_in, l->c_out, l->k, 1, 0, l->w, l->bias, l->M, l->S, NULL, 0, 0, 255);
    if (l->d2s) {
        memset(&l->shuffle, 0, sizeof(l->shuffle));
        l->shuffle.type = NVC_OP_DEPTH_TO_SPACE;
        l->shuffle.n_in = 1;
        l->shuffle.c_out = l->c_out / (l->d2s * l->d2s);
        l->shuffle.n_params = 1;
        l->shuffle.p[0] = l->d2s;
        l->shuffle.lo = 0;
        l->shuffle.hi = 255;
    }
    return err;
}

/* Runs the layers on an input of h x w; returns seconds, or -1 on error. Tensors come from a buffer
 * cache, as in the graph interpreter (nvc_net_run_graph), so runs after the first reuse memory. */
static nvc_tensor_cache *stack_cache;

static double run_stack(layer *ls, int n, const nvc_tensor *input, nvc_pool *pool, int64_t *macs)
{
    nvc_tensor a = { 0 }, b = { 0 };
    const nvc_tensor *cur = input;
    *macs = 0;
    const double t0 = now();
    for (int i = 0; i < n; i++) {
        nvc_tensor *dst = cur == &a ? &b : &a;
        if (nvc_tensor_cache_get(stack_cache, dst, ls[i].c_out, cur->h, cur->w, 0))
            return -1;
        nvc_net_run_op(&ls[i].conv, &cur, dst, 0, pool);
        *macs += (int64_t)cur->h * cur->w * ls[i].c_out * ls[i].c_in * ls[i].k * ls[i].k;
        cur = dst;
        if (ls[i].d2s) {
            nvc_tensor *sdst = cur == &a ? &b : &a;
            if (nvc_tensor_cache_get(stack_cache, sdst, ls[i].shuffle.c_out, cur->h * ls[i].d2s, cur->w * ls[i].d2s, 0))
                return -1;
            nvc_net_run_op(&ls[i].shuffle, &cur, sdst, 0, pool);
            cur = sdst;
        }
    }
    const double dt = now() - t0;
    nvc_tensor_release(&a);
    nvc_tensor_release(&b);
    return dt;
}

static double bench_stack(const char *what, layer *ls, int n, int c, int h, int w, int threads, int runs, double peak)
{
    nvc_tensor in = { 0 };
    if (nvc_tensor_alloc(&in, c, h, w, 128))
        return 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int i = 0; i < c; i++)
                nvc_tensor_px(&in, y, x)[i] = (uint8_t)rnd();
    nvc_pool *pool = threads > 1 ? nvc_pool_create(threads) : NULL;
    double t[32];
    int64_t macs = 0;
    run_stack(ls, n, &in, pool, &macs); /* warm-up */
    for (int r = 0; r < runs; r++)
        t[r] = run_stack(ls, n, &in, pool, &macs);
    const double med = median(t, runs), g = (double)macs / med * 1e-9;
    printf("%-22s %5.2f GMAC %d thread%s: %7.2f ms  %6.2f GMAC/s  (%.0f%% of peak)\n", what, macs * 1e-9, threads,
           threads > 1 ? "s" : " ", med * 1e3, g, 100 * g / peak);
    nvc_pool_destroy(pool);
    nvc_tensor_release(&in);
    return g;
}

/* Milliseconds (median) of one non-conv op at 720p-like sizes, 1 and 2 threads. */
static void bench_op(const char *what, nvc_net_op *op, nvc_tensor *in, int n_in, int c, int h, int w, int zp, int runs)
{
    const nvc_tensor *ins[4] = { &in[0], &in[1], &in[2], &in[3] };
    for (int i = 0; i < n_in; i++)
        for (int y = 0; y < in[i].h; y++)
            for (int x = 0; x < in[i].w; x++)
                for (int k = 0; k < in[i].c; k++)
                    nvc_tensor_px(&in[i], y, x)[k] = (uint8_t)(rnd() % 256);
    nvc_tensor out = { 0 };
    printf("%-40s", what);
    for (int threads = 1; threads <= 2; threads++) {
        nvc_pool *pool = threads > 1 ? nvc_pool_create(threads) : NULL;
        double t[32];
        for (int r = 0; r < runs; r++) {
            nvc_tensor_alloc(&out, c, h, w, zp);
            const double t0 = now();
            nvc_net_run_op(op, ins, &out, 0, pool);
            t[r] = now() - t0;
        }
        printf("  %d thread%s: %6.2f ms", threads, threads > 1 ? "s" : " ", median(t, runs) * 1e3);
        nvc_pool_destroy(pool);
    }
    printf("\n");
    nvc_tensor_release(&out);
}

static void bench_ops(int runs)
{
    nvc_tensor in[2] = { { 0 } };
    nvc_net_op op = { .n_in = 1, .lo = 0, .hi = 255 };
    /* warp of a 720p picture (6 x 360 x 640) by a motion field at 1/4 luma resolution */
    nvc_tensor_alloc(&in[0], 6, 360, 640, 128);
    nvc_tensor_alloc(&in[1], 2, 180, 320, 128);
    op.type = NVC_OP_WARP;
    op.n_in = 2;
    op.c_out = 6;
    op.zp_out = 128;
    const int32_t wp[5] = { 4, 1 << 12, 10, 1 << 12, 10 };
    memcpy(op.p, wp, sizeof(wp));
    bench_op("warp 720p (motion at 1/4)", &op, in, 2, 6, 360, 640, 128, runs);
    for (int y = 0; y < in[1].h; y++) /* smooth motion, up to +-8 pel, as real fields are */
        for (int x = 0; x < in[1].w; x++) {
            nvc_tensor_px(&in[1], y, x)[0] = (uint8_t)(128 + (x * 64) / in[1].w - 32);
            nvc_tensor_px(&in[1], y, x)[1] = (uint8_t)(128 + (y * 48) / in[1].h - 24);
        }
    bench_op("warp 720p (smooth motion)", &op, in, 0, 6, 360, 640, 128, runs);
    /* depth_to_space 64 x 180 x 320 -> 16 x 360 x 640 */
    nvc_tensor_alloc(&in[0], 64, 180, 320, 0);
    op.type = NVC_OP_DEPTH_TO_SPACE;
    op.n_in = 1;
    op.c_out = 16;
    op.zp_out = 0;
    op.p[0] = 2;
    bench_op("depth_to_space 64ch 320x180 -> 640x360", &op, in, 1, 16, 360, 640, 0, runs);
    /* add of two 32 x 360 x 640 */
    nvc_tensor_alloc(&in[0], 32, 360, 640, 0);
    nvc_tensor_alloc(&in[1], 32, 360, 640, 0);
    op.type = NVC_OP_ADD;
    op.n_in = 2;
    op.c_out = 32;
    const int32_t ap[6] = { 3000, -2000, 12, 128, 0, 255 };
    memcpy(op.p, ap, sizeof(ap));
    op.zp_out = 128;
    bench_op("add 32ch 640x360", &op, in, 2, 32, 360, 640, 128, runs);
    nvc_tensor_release(&in[0]);
    nvc_tensor_release(&in[1]);
}

static int bench_graph(const char *path, const char *graph, const char *sizes, int runs)
{
    char msg[256];
    nvc_model *m;
    int err = nvc_model_load_file(path, &m, msg, sizeof(msg));
    if (err) {
        fprintf(stderr, "bench_network: %s\n", msg);
        return 1;
    }
    const nvc_net_graph *g = nvc_model_graph(m, graph);
    if (!g) {
        fprintf(stderr, "bench_network: no graph %s in %s\n", graph, path);
        nvc_model_free(m);
        return 1;
    }
    nvc_tensor in[64] = { { 0 } }, out[64] = { { 0 } };
    int hs[64], ws[64];
    const char *p = sizes;
    for (int i = 0; i < g->n_inputs; i++) {
        char *end;
        hs[i] = (int)strtol(p, &end, 10);
        ws[i] = *end == 'x' ? (int)strtol(end + 1, &end, 10) : 0;
        p = *end == ',' ? end + 1 : end;
        if (nvc_tensor_alloc(&in[i], g->inputs[i].c, hs[i], ws[i], g->inputs[i].zp)) {
            fprintf(stderr, "bench_network: input %d (%s): bad size in \"%s\"\n", i, g->inputs[i].name, sizes);
            return 1;
        }
        for (int y = 0; y < hs[i]; y++)
            for (int x = 0; x < ws[i]; x++)
                for (int c = 0; c < g->inputs[i].c; c++)
                    nvc_tensor_px(&in[i], y, x)[c] = (uint8_t)(128 + (int)(rnd() % 9) - 4);
    }
    const int64_t macs = nvc_net_graph_cost(g, hs, ws, NULL);
    if (macs < 0) {
        fprintf(stderr, "bench_network: graph %s cannot take these input sizes\n", graph);
        return 1;
    }
    for (int threads = 1; threads <= 2; threads++) {
        nvc_pool *pool = threads > 1 ? nvc_pool_create(threads) : NULL;
        double t[32];
        for (int r = 0; r <= runs; r++) { /* run 0 warms up */
            const double t0 = now();
            err = nvc_net_run_graph(g, in, g->n_inputs, out, g->n_outputs, 10, pool);
            t[r > 0 ? r - 1 : 0] = now() - t0;
            if (err) {
                fprintf(stderr, "bench_network: run failed: %s\n", nvc_strerror(err));
                return 1;
            }
        }
        const double med = median(t, runs);
        printf("%-16s %5.2f GMAC %d thread%s: %7.2f ms  %6.2f GMAC/s\n", graph, macs * 1e-9, threads,
               threads > 1 ? "s" : " ", med * 1e3, macs / med * 1e-9);
        nvc_pool_destroy(pool);
    }
    for (int i = 0; i < 64; i++) {
        nvc_tensor_release(&in[i]);
        nvc_tensor_release(&out[i]);
    }
    nvc_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    const int runs = argc > 1 ? atoi(argv[1]) : 7;
    if (argc == 5 && runs >= 1 && runs <= 32)
        return bench_graph(argv[2], argv[3], argv[4], runs);
    if (runs < 1 || runs > 32) {
        fprintf(stderr, "usage: bench_network [runs 1..32]\n");
        return 2;
    }
    if (!(stack_cache = nvc_tensor_cache_new())) {
        fprintf(stderr, "bench_network: out of memory\n");
        return 1;
    }
    if (!(nvc_cpu_flags() & NVC_CPU_AVX2)) {
        printf("bench_network: no AVX2 (or NVC_CPU_MASK=0): scalar kernels only, peak not measured\n");
    }
    double peak[3] = { 1, 1, 1 };
    if (nvc_cpu_flags() & NVC_CPU_AVX2) {
        for (int th = 1; th <= 2; th++) {
            double v[5];
            for (int r = 0; r < 5; r++)
                v[r] = peak_gmacs(th);
            peak[th] = median(v, 5);
            printf("int8 peak microkernel             %d thread%s:             %6.2f GMAC/s\n", th,
                   th > 1 ? "s" : " ", peak[th]);
        }
    }
    /* the peak is the AVX2 one: kernels using AVX-VNNI (NVC_CPU_MASK=1 turns it off) can exceed 100% */
    printf("kernels: %s\n", nvc_net_dsp_get()->name);
    layer conv[1] = { { .c_in = 64, .c_out = 64, .k = 3 } };
    /* decoder-shaped: 128 channels at 1/16 of 1280x720, depth_to_space up to 6 channels at 640x360 */
    layer stack[] = {
        { .c_in = 128, .c_out = 128, .k = 3, .d2s = 2 }, /*   80x45  -> 32 @ 160x90 */
        { .c_in = 32, .c_out = 128, .k = 3, .d2s = 2 },  /*  160x90  -> 32 @ 320x180 */
        { .c_in = 32, .c_out = 64, .k = 3, .d2s = 2 },   /*  320x180 -> 16 @ 640x360 */
        { .c_in = 16, .c_out = 16, .k = 3 },             /*  640x360 */
        { .c_in = 16, .c_out = 6, .k = 3 },              /*  640x360 -> 6 channels (YUV420) */
    };
    const int n_stack = (int)(sizeof(stack) / sizeof(stack[0]));
    /* |w| <= 32 lets the kernels sum two vpmaddubsw before widening (nvc_conv_packed.pair_sum_exact);
     * full-range weights widen every product pair. */
    for (int wmax = 32; wmax <= 64; wmax += 32) {
        int err = layer_init(&conv[0], wmax);
        for (int i = 0; i < n_stack && !err; i++)
            err = layer_init(&stack[i], wmax);
        if (err) {
            fprintf(stderr, "bench_network: %s\n", nvc_strerror(err));
            return 1;
        }
        printf("-- weights in [-%d, %d]%s\n", wmax, wmax, conv[0].conv.packed.pair_sum_exact ? " (paired vpmaddubsw)" : "");
        for (int th = 1; th <= 2; th++)
            bench_stack("conv3x3 64->64 320x180", conv, 1, 64, 180, 320, th, runs, peak[th]);
        for (int th = 1; th <= 2; th++)
            bench_stack("decoder stack 720p", stack, n_stack, 128, 45, 80, th, runs > 3 ? 3 : runs, peak[th]);
    }
    bench_ops(runs);
    layer_free(&conv[0]);
    for (int i = 0; i < n_stack; i++)
        layer_free(&stack[i]);
    nvc_tensor_cache_free(stack_cache);
    return 0;
}
