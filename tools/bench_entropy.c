/* Entropy coder benchmark (run by `make bench`): a 720p-sized latent, 128 x 45 x 80, with per-element scales
 * drawn like a trained model's (mostly small sigma), coded with the default Gaussian set.
 * Prints decode and encode Msymbols/s with 1 and 2 threads (medians), the coded size against the ideal code
 * length of the continuous-Gaussian model (overhead %), and, in the same run, the 1 -> 2 thread speed-up of a
 * plain AVX2 multiply loop and of a plain scalar loop, to compare the decoder's scaling with what the machine
 * allows. Options: bench_entropy [reps (default 15)] [substreams (default 4)] [lanes: -1 = chosen by the encoder
 * (default, as the codec writes), 0 = derived (formats 2.0/2.1), 1..32 = that many]. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/cpu.h"
#include "entropy/latent.h"
#include "entropy/rans.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#define C 128
#define H 45
#define W 80
#define N ((size_t)C * H * W)

static unsigned long long rng = 0x9e3779b97f4a7c15ull;
static unsigned long long next_rand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}
static double uniform(void) { return (double)(next_rand() >> 11) * (1.0 / 9007199254740992.0); }
static double gaussian(void)
{
    double u1 = uniform() + 1e-300, u2 = uniform();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double minimum(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Scale indices like a trained hyperprior's: most channels nearly dead (sigma ~0.11-0.3), a third moderate,
 * a few active; elements jitter around their channel's level. */
static void make_latent(int16_t *y, int16_t *mean, uint8_t *index, double *ideal_bits)
{
    double bits = 0;
    for (int c = 0; c < C; c++) {
        double u = uniform();
        int base = u < 0.55 ? (int)(uniform() * 10) : u < 0.85 ? 10 + (int)(uniform() * 18)
                 : u < 0.98 ? 28 + (int)(uniform() * 14) : 42 + (int)(uniform() * 14);
        for (size_t e = (size_t)c * H * W; e < (size_t)(c + 1) * H * W; e++) {
            int ti = base + (int)(next_rand() % 7) - 3;
            ti = ti < 0 ? 0 : ti > 63 ? 63 : ti;
            double sigma = nvc_cdf_gaussian_sigma(ti, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN,
                                                  NVC_CDF_GAUSSIAN_SIGMA_MAX);
            int v = (int)lround(gaussian() * sigma);
            int m = (int)(next_rand() % 61) - 30;
            index[e] = (uint8_t)ti;
            mean[e] = (int16_t)m;
            y[e] = (int16_t)(m + v);
            /* P(v) of the discretised continuous Gaussian */
            double p = 0.5 * (erfc(-(v + 0.5) / (sigma * sqrt(2.0))) - erfc(-(v - 0.5) / (sigma * sqrt(2.0))));
            if (v > 0) /* upper tail without cancellation */
                p = 0.5 * (erfc((v - 0.5) / (sigma * sqrt(2.0))) - erfc((v + 0.5) / (sigma * sqrt(2.0))));
            bits += -log2(p);
        }
    }
    *ideal_bits = bits;
}

/* ---- reference loops for the thread scaling comparison: each task does a fixed amount of work, about as
 * long as one substream's decode, so that they meet the same conditions as the decoder ---- */

#define REF_SIMD_ITERS (1 << 16)
#define REF_SCALAR_ITERS (1 << 18)
#define REF_CHAINS 12
static volatile unsigned ref_sink;

#if defined(__x86_64__) || defined(__i386__)
/* 12 independent multiply-add chains (with the two constants, all in the 16 ymm registers): enough work in
 * flight to keep the vector multipliers busy (a few chains would only measure their latency, which a second
 * thread on a shared core can hide: not the question). */
__attribute__((target("avx2"))) static void simd_task(void *ctx, int task, int worker)
{
    __m256i a[REF_CHAINS];
    const __m256i k = _mm256_set1_epi32(0x01000193), one = _mm256_set1_epi32(1);
    for (int j = 0; j < REF_CHAINS; j++)
        a[j] = _mm256_set1_epi32(task * REF_CHAINS + j);
    for (int i = 0; i < REF_SIMD_ITERS; i++)
        for (int j = 0; j < REF_CHAINS; j++)
            a[j] = _mm256_add_epi32(_mm256_mullo_epi32(a[j], k), one);
    __m256i x = a[0];
    for (int j = 1; j < REF_CHAINS; j++)
        x = _mm256_xor_si256(x, a[j]);
    ref_sink += (unsigned)_mm256_extract_epi32(x, 0);
}
#endif

/* The warm-up job before a "warm" decode: one task per thread, each waiting (at most 10 ms) until all have
 * started, so every thread of the pool has really run, as after the decoder's network jobs. (A job of empty tasks
 * does not do that: the caller finishes them all before a sleeping worker even wakes.) */
static atomic_int rendezvous_count;
static void rendezvous_task(void *ctx, int task, int worker)
{
    const int threads = *(const int *)ctx;
    (void)task;
    (void)worker;
    atomic_fetch_add(&rendezvous_count, 1);
    const double t0 = now();
    while (atomic_load(&rendezvous_count) < threads && now() - t0 < 0.01)
        ;
}

static void warm_up(nvc_pool *pool, int threads)
{
    atomic_store(&rendezvous_count, 0);
    nvc_pool_run(pool, threads, rendezvous_task, &threads);
}

static void scalar_task(void *ctx, int task, int worker)
{
    unsigned a = (unsigned)task + 1, b = 3, c = 7, d = 11;
    for (int i = 0; i < REF_SCALAR_ITERS; i++) { /* integer ALU chains */
        a = (a ^ b) + (a >> 3);
        b = (b ^ c) + (b << 1);
        c = (c ^ d) + (c >> 5);
        d = (d ^ a) + (d << 3);
    }
    ref_sink += a ^ b ^ c ^ d;
}

/* A coded size against the ideal code length, in percent. */
static double overhead_pct(size_t bytes, double ideal_bits)
{
    return 100.0 * (8.0 * (double)bytes - ideal_bits) / ideal_bits;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 15;
    int nsub = argc > 2 ? atoi(argv[2]) : 4;
    int lanes = argc > 3 ? atoi(argv[3]) : NVC_RANS_LANES_CHOSEN;
    if (lanes < NVC_RANS_LANES_CHOSEN || lanes > NVC_RANS_LANES)
        lanes = NVC_RANS_LANES_CHOSEN;
    reps = reps < 1 ? 1 : reps > 64 ? 64 : reps;
    if (nsub < 1 || nsub > C)
        nsub = 4;
    nvc_cdf_set *cdf;
    if (nvc_cdf_set_gaussian(&cdf, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN, NVC_CDF_GAUSSIAN_SIGMA_MAX)) {
        fprintf(stderr, "bench_entropy: cannot build the tables\n");
        return 1;
    }
    int16_t *y = malloc(2 * N), *mean = malloc(2 * N), *out = malloc(2 * N);
    uint8_t *index = malloc(N);
    double ideal_bits;
    make_latent(y, mean, index, &ideal_bits);
    double table_bits = 0; /* entropy under the quantised tables, escapes' raw bits included */
    for (size_t e = 0; e < N; e++) {
        const nvc_cdf_table *t = &cdf->table[index[e]];
        int d = y[e] - mean[e];
        if (d >= t->lo && d <= t->hi) {
            table_bits += -log2(t->freq[d - t->lo] / 4096.0);
        } else {
            unsigned u = d > t->hi ? (unsigned)(d - t->hi - 1) : (unsigned)(t->lo - 1 - d), q = (u >> t->escape_k) + 1;
            int nb = 0;
            while (q >> (nb + 1))
                nb++;
            table_bits += -log2(t->freq[t->nsym - 1] / 4096.0) + 2 + 2 * nb + t->escape_k;
        }
    }
    printf("latent %dx%dx%d = %zu symbols, default Gaussian set (K=%d), %s decoder\n", C, H, W, N,
           NVC_CDF_GAUSSIAN_K, (nvc_cpu_flags() & NVC_CPU_AVX2) ? "AVX2" : "scalar");
    printf("ideal (continuous Gaussian model): %.0f bytes = %.4f bits/symbol; quantised tables: %+.3f%%\n",
           ideal_bits / 8, ideal_bits / (double)N, 100.0 * (table_bits - ideal_bits) / ideal_bits);

    /* Size against ideal for several substream counts, in both substream layouts (entropy/rans.h). */
    printf("substreams  derived lanes (2.0/2.1)   chosen lanes (2.2)\n");
    printf("            bytes   overhead          bytes   overhead  lanes\n");
    static const int counts[] = { 1, 2, 4, 8, 16 };
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        nvc_latent ld = { C, H, W, cdf, mean, index, 1, counts[i], NVC_RANS_LANES_DERIVED };
        nvc_latent lc = ld;
        lc.lanes = NVC_RANS_LANES_CHOSEN;
        nvc_substreams sd, sc;
        if (nvc_latent_encode(&ld, y, NULL, &sd) || nvc_latent_encode(&lc, y, NULL, &sc))
            return 1;
        printf("%10d  %7zu  %+.3f%%          %7zu  %+.3f%%  %d\n", counts[i], sd.total,
               overhead_pct(sd.total, ideal_bits), sc.total, overhead_pct(sc.total, ideal_bits), sc.data[0][0]);
        nvc_substreams_free(&sd);
        nvc_substreams_free(&sc);
    }

    nvc_latent l = { C, H, W, cdf, mean, index, 1, nsub, lanes };
    nvc_substreams s;
    if (nvc_latent_encode(&l, y, NULL, &s))
        return 1;
    /* Everything timed on 1 and 2 threads runs interleaved, run by run (cold decode, warm decode, the reference
     * loops), and every speed-up is taken within one run: the VM's conditions (its neighbours' load, whether the
     * two vCPUs share a core) change within seconds, and comparing a decoder figure with a reference figure
     * measured at another moment mixes two machines. */
    nvc_pool *pools[3] = { NULL, nvc_pool_create(1), nvc_pool_create(2) };
    /* Decoding is timed twice: "cold", the pool's worker asleep when the decode starts (waking it costs tens of
     * microseconds on a VM, against ~400 us of work), and "warm", right after a job that every thread ran, as in
     * the decoder, where the conversion of the hyper-decoder's output runs on the pool just before the decode. */
    double td[3][64], tw[3][64], tv[3][64], ts[3][64], te[3][64];
    double cold_ratio[64], warm_ratio[64], simd_up[64], scalar_up[64], share[64];
#if defined(__x86_64__) || defined(__i386__)
    const nvc_pool_fn simd = (nvc_cpu_flags() & NVC_CPU_AVX2) ? simd_task : scalar_task;
#else
    const nvc_pool_fn simd = scalar_task;
#endif
    for (int r = 0; r < reps; r++) {
        for (int warm = 0; warm < 2; warm++)
            for (int threads = 1; threads <= 2; threads++) {
                if (warm)
                    warm_up(pools[threads], threads);
                double t0 = now();
                const int err = nvc_latent_decode(&l, s.data, s.size, s.count, pools[threads], out);
                (warm ? tw : td)[threads][r] = now() - t0; /* the check below is not decoding: not timed */
                if (err || memcmp(out, y, 2 * N)) {
                    fprintf(stderr, "bench_entropy: decode mismatch\n");
                    return 1;
                }
            }
        for (int threads = 1; threads <= 2; threads++) {
            double t0 = now();
            nvc_pool_run(pools[threads], 4, simd, NULL);
            double t1 = now();
            nvc_pool_run(pools[threads], 4, scalar_task, NULL);
            tv[threads][r] = t1 - t0;
            ts[threads][r] = now() - t1;
        }
        cold_ratio[r] = td[1][r] / td[2][r];
        warm_ratio[r] = tw[1][r] / tw[2][r];
        simd_up[r] = tv[1][r] / tv[2][r];
        scalar_up[r] = ts[1][r] / ts[2][r];
        share[r] = warm_ratio[r] / simd_up[r];
    }
    const int ereps = (reps + 2) / 3;
    for (int r = 0; r < ereps; r++)
        for (int threads = 1; threads <= 2; threads++) {
            nvc_substreams s2;
            double t0 = now();
            if (nvc_latent_encode(&l, y, pools[threads], &s2))
                return 1;
            te[threads][r] = now() - t0;
            nvc_substreams_free(&s2);
        }
    const double best1 = minimum(tw[1], reps), best2 = minimum(tw[2], reps);
    const double best_simd = minimum(tv[1], reps) / minimum(tv[2], reps);
    const double dec1 = (double)N / median(td[1], reps) / 1e6, dec2 = (double)N / median(td[2], reps) / 1e6;
    const double enc1 = (double)N / median(te[1], ereps) / 1e6, enc2 = (double)N / median(te[2], ereps) / 1e6;
    const double dec1w = (double)N / median(tw[1], reps) / 1e6, dec2w = (double)N / median(tw[2], reps) / 1e6;
    char lanes_text[32] = "derived lanes (2.0/2.1)";
    if (l.lanes)
        snprintf(lanes_text, sizeof lanes_text, "%d lanes", s.data[0][0]);
    printf("%d substreams of %s, %zu bytes (%+.3f%% vs ideal), medians of %d runs:\n", nsub, lanes_text, s.total,
           overhead_pct(s.total, ideal_bits), reps);
    printf("decode: 1 thread %.1f Msymbols/s, 2 threads %.1f Msymbols/s (speed-up x%.2f)\n", dec1w, dec2w,
           median(warm_ratio, reps));
    printf("decode with the worker asleep (cold pool): 1 thread %.1f, 2 threads %.1f Msymbols/s (x%.2f)\n", dec1,
           dec2, median(cold_ratio, reps));
    /* Best of the runs too: a noisy VM only ever slows a run down, so the fastest run of each kind is the
     * steadiest estimate of what the code can do (medians mix in the neighbours' load). */
    printf("decode, best of %d: 1 thread %.1f Msymbols/s, 2 threads %.1f Msymbols/s (speed-up x%.2f)\n", reps,
           (double)N / best1 / 1e6, (double)N / best2 / 1e6, best1 / best2);
    printf("encode: 1 thread %.1f Msymbols/s, 2 threads %.1f Msymbols/s\n", enc1, enc2);
    printf("plain scalar loop: 2-thread speed-up x%.2f\n", median(scalar_up, reps));
    printf("plain AVX2 multiply loop: 2-thread speed-up x%.2f; the decoder's speed-up is %.0f%% of it "
           "(median of the per-run ratios)\n", median(simd_up, reps), 100.0 * median(share, reps));
    printf("best of %d: plain AVX2 multiply loop x%.2f; the decoder's x%.2f is %.0f%% of it\n", reps, best_simd,
           best1 / best2, 100.0 * (best1 / best2) / best_simd);
    nvc_pool_destroy(pools[1]);
    nvc_pool_destroy(pools[2]);
    nvc_substreams_free(&s);
    nvc_cdf_set_free(cdf);
    free(y);
    free(mean);
    free(out);
    free(index);
    return 0;
}
