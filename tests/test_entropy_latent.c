/* Latent tensors through substreams: round trips (Gaussian-conditional and factorized), identical bytes and
 * values for 1, 2, 3, 4 and 8 threads and for the scalar and AVX2 decoders, argument validation, and damaged
 * substreams reported as NVC_EINVALDATA. */
#include "entropy/latent.h"

#include <math.h>
#include <string.h>

#include "codec/cpu.h"
#include "entropy/rans.h"
#include "tests/fuzz/fuzz_entropy.h"
#include "tests/testutil.h"

static unsigned long long seed = 0xabcdefull;

typedef struct tensor {
    int c, h, w;
    int16_t *y, *mean;
    uint8_t *index;
} tensor;

static double gaussian(void)
{
    double u1 = ((double)(test_rand(&seed) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(test_rand(&seed) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static void make_tensor(tensor *t, int c, int h, int w, const nvc_cdf_set *cdf, int factorized)
{
    const size_t n = (size_t)c * h * w;
    t->c = c, t->h = h, t->w = w;
    t->y = malloc(2 * n);
    t->mean = malloc(2 * n);
    t->index = malloc(n);
    for (size_t e = 0; e < n; e++) {
        const int ch = (int)(e / ((size_t)h * w));
        int ti = factorized ? ch : (int)(test_rand(&seed) % 40); /* mostly small sigma */
        double sigma = nvc_cdf_gaussian_sigma(ti, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN,
                                              NVC_CDF_GAUSSIAN_SIGMA_MAX);
        int mean = factorized ? ch - 3 : (int)(test_rand(&seed) % 41) - 20;
        t->index[e] = (uint8_t)ti;
        t->mean[e] = (int16_t)mean;
        t->y[e] = (int16_t)lround(mean + gaussian() * sigma);
    }
    (void)cdf;
}

static void free_tensor(tensor *t)
{
    free(t->y);
    free(t->mean);
    free(t->index);
}

static nvc_latent describe(const tensor *t, const nvc_cdf_set *cdf, int factorized, int rows, int groups,
                           const int16_t *channel_mean, int lanes)
{
    nvc_latent l = { t->c, t->h, t->w, cdf, factorized ? channel_mean : t->mean, factorized ? NULL : t->index,
                     rows, groups, lanes };
    return l;
}

/* lanes: the substreams' layout (entropy/rans.h). */
static void check_case(const nvc_cdf_set *cdf, int c, int h, int w, int factorized, int rows, int groups, int lanes)
{
    tensor t;
    make_tensor(&t, c, h, w, cdf, factorized);
    int16_t channel_mean[256];
    for (int ch = 0; ch < c; ch++)
        channel_mean[ch] = (int16_t)(ch - 3);
    nvc_latent l = describe(&t, cdf, factorized, rows, groups, channel_mean, lanes);
    const size_t n = (size_t)c * h * w;
    int16_t *out = malloc(2 * n);
    nvc_substreams ref;
    CHECK_EQ_INT(nvc_latent_encode(&l, t.y, NULL, &ref), 0);
    CHECK_EQ_INT(ref.count, rows * groups);
    static const int threads[] = { 1, 2, 3, 4, 8 };
    for (size_t ti = 0; ti < sizeof(threads) / sizeof(threads[0]); ti++) {
        nvc_pool *pool = nvc_pool_create(threads[ti]);
        nvc_substreams s;
        CHECK_EQ_INT(nvc_latent_encode(&l, t.y, pool, &s), 0);
        CHECK(s.total == ref.total && memcmp(s.bytes, ref.bytes, ref.total) == 0);
        for (int k = 0; k < s.count; k++)
            CHECK_EQ_INT(s.size[k], ref.size[k]);
        for (unsigned mask = 0; mask <= 1; mask++) {
            nvc_cpu_set_mask(mask ? ~0u : 0u);
            memset(out, 0x77, 2 * n);
            CHECK_EQ_INT(nvc_latent_decode(&l, s.data, s.size, s.count, pool, out), 0);
            CHECK(memcmp(out, t.y, 2 * n) == 0);
            nvc_cpu_set_mask(~0u);
        }
        nvc_substreams_free(&s);
        nvc_pool_destroy(pool);
    }
    /* Damage: a truncated substream or a changed state byte is reported, by the lowest damaged substream. */
    nvc_pool *pool = nvc_pool_create(2);
    uint32_t sizes[NVC_LATENT_MAX_SUBSTREAMS];
    memcpy(sizes, ref.size, sizeof(uint32_t) * (size_t)ref.count);
    const int last = ref.count - 1;
    if (sizes[last] > 0) {
        sizes[last]--;
        CHECK_EQ_INT(nvc_latent_decode(&l, ref.data, sizes, ref.count, pool, out), NVC_EINVALDATA);
        sizes[last]++;
    }
    uint8_t *copy = malloc(ref.total + 1);
    memcpy(copy, ref.bytes, ref.total);
    const uint8_t *data[NVC_LATENT_MAX_SUBSTREAMS];
    for (int k = 0; k < ref.count; k++)
        data[k] = copy + (ref.data[k] - ref.bytes);
    if (ref.size[0] >= 5) {
        copy[2] ^= 0x40; /* lane 0's state */
        CHECK_EQ_INT(nvc_latent_decode(&l, data, ref.size, ref.count, pool, out), NVC_EINVALDATA);
    }
    /* Wrong substream count, bad table index. */
    CHECK_EQ_INT(nvc_latent_decode(&l, ref.data, ref.size, ref.count + 1, pool, out), NVC_EINVAL);
    if (!factorized) {
        t.index[n / 2] = (uint8_t)cdf->ntables;
        CHECK_EQ_INT(nvc_latent_decode(&l, ref.data, ref.size, ref.count, pool, out), NVC_EINVAL);
        nvc_substreams bad;
        CHECK_EQ_INT(nvc_latent_encode(&l, t.y, pool, &bad), NVC_EINVAL);
        CHECK(bad.count == 0 && bad.bytes == NULL);
    }
    free(copy);
    nvc_pool_destroy(pool);
    nvc_substreams_free(&ref);
    free(out);
    free_tensor(&t);
}

static void test_validation(const nvc_cdf_set *cdf)
{
    int16_t y[4] = { 0 };
    nvc_latent ok = { 1, 2, 2, cdf, NULL, NULL, 1, 1, NVC_RANS_LANES_CHOSEN };
    CHECK_EQ_INT(nvc_latent_check(&ok), 0);
    nvc_latent l = ok;
    l.tile_rows = 3; /* more bands than rows */
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.channel_groups = 2;
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.width = 0;
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.channels = cdf->ntables + 1, l.height = 1; /* factorized needs a table per channel */
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.channels = 4096, l.height = 4096, l.width = 4096;
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.channels = 64, l.height = 64, l.tile_rows = 32, l.channel_groups = 64; /* > 1024 substreams */
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.lanes = 33;
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    l = ok, l.lanes = -2;
    CHECK_EQ_INT(nvc_latent_check(&l), NVC_EINVAL);
    CHECK_EQ_INT(nvc_latent_check(NULL), NVC_EINVAL);
    nvc_substreams s;
    CHECK_EQ_INT(nvc_latent_encode(&ok, y, NULL, &s), 0);
    CHECK_EQ_INT(s.count, 1);
    CHECK_EQ_INT(s.total, 5); /* four zeros with table 0 (sigma 0.11): the lane byte and one lane's state */
    int16_t out[4] = { 1, 1, 1, 1 };
    CHECK_EQ_INT(nvc_latent_decode(&ok, s.data, s.size, 1, NULL, out), 0);
    CHECK(memcmp(out, y, sizeof(y)) == 0);
    nvc_substreams_free(&s);
}

/* Seeds for tests/fuzz/fuzz_entropy.c: valid latents of several shapes and kinds, and two table sets. */
static int write_corpus(const nvc_cdf_set *gauss, const char *dir)
{
    static const uint8_t headers[][8] = {
        { 0, 3, 5, 19, 2, 1, 0, 1 }, { 0, 7, 11, 39, 3, 3, 0, 2 }, { 0, 5, 2, 7, 1, 4, 1, 3 },
        { 0, 0, 0, 0, 0, 0, 2, 4 },  { 0, 2, 3, 33, 1, 1, 4, 5 },  { 0, 7, 0, 39, 0, 7, 0, 6 },
        { 0, 7, 11, 39, 3, 3, 8, 7 }, /* the derived lanes of formats 2.0/2.1 */
    };
    char path[4096];
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        int16_t mean[FUZZ_ENTROPY_MAX_ELEMENTS], y[FUZZ_ENTROPY_MAX_ELEMENTS];
        uint8_t index[FUZZ_ENTROPY_MAX_ELEMENTS];
        nvc_latent l;
        size_t n = fuzz_entropy_latent(headers[i], gauss, mean, index, &l);
        for (size_t e = 0; e < n; e++) /* some escapes, mostly small values */
            y[e] = (int16_t)((l.mean ? (l.index ? mean[e] : 0) : 0) + (int)(test_rand(&seed) % 9) - 4 +
                             (test_rand(&seed) % 50 == 0 ? 300 : 0));
        nvc_substreams s;
        if (nvc_latent_encode(&l, y, NULL, &s))
            return 1;
        snprintf(path, sizeof(path), "%s/latent%zu", dir, i);
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(headers[i], 1, 8, f) == 8;
        for (int k = 0; ok && k < s.count; k++) {
            uint8_t sz[2] = { (uint8_t)s.size[k], (uint8_t)(s.size[k] >> 8) };
            ok = s.size[k] < 65536 && fwrite(sz, 1, 2, f) == 2 && fwrite(s.data[k], 1, s.size[k], f) == s.size[k];
        }
        ok = f && !fclose(f) && ok;
        nvc_substreams_free(&s);
        if (!ok)
            return 1;
    }
    nvc_cdf_set *small;
    if (nvc_cdf_set_gaussian(&small, 3, 0.2, 3.0))
        return 1;
    const nvc_cdf_set *sets[2] = { small, gauss };
    for (int i = 0; i < 2; i++) {
        size_t size = nvc_cdf_set_serialize(sets[i], NULL, 0);
        uint8_t *buf = malloc(size + 1);
        buf[0] = 1; /* odd: table set mode */
        nvc_cdf_set_serialize(sets[i], buf + 1, size);
        snprintf(path, sizeof(path), "%s/tables%d", dir, i);
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(buf, 1, size + 1, f) == size + 1;
        ok = f && !fclose(f) && ok;
        free(buf);
        if (!ok)
            return 1;
    }
    nvc_cdf_set_free(small);
    return 0;
}

int main(int argc, char **argv)
{
    nvc_cdf_set *gauss;
    if (nvc_cdf_set_gaussian(&gauss, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN, NVC_CDF_GAUSSIAN_SIGMA_MAX))
        return 1;
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
        int err = write_corpus(gauss, argv[2]);
        nvc_cdf_set_free(gauss);
        return err;
    }
    test_validation(gauss);
    for (int lanes = NVC_RANS_LANES_CHOSEN; lanes <= 16; lanes += 17) { /* chosen (2.2), then 16 */
        check_case(gauss, 16, 9, 20, 0, 3, 4, lanes);   /* Gaussian, 12 substreams */
        check_case(gauss, 7, 5, 33, 0, 5, 7, lanes);    /* one row per band, one channel per group */
        check_case(gauss, 32, 12, 20, 1, 2, 3, lanes);  /* factorized (hyper-latent shape), per-channel means */
        check_case(gauss, 1, 1, 1, 0, 1, 1, lanes);     /* one symbol */
        check_case(gauss, 128, 45, 80, 0, 3, 2, lanes); /* a 720p latent */
    }
    check_case(gauss, 16, 9, 20, 0, 3, 4, NVC_RANS_LANES_DERIVED); /* formats 2.0/2.1 */
    check_case(gauss, 128, 45, 80, 0, 3, 2, NVC_RANS_LANES_DERIVED);
    nvc_cdf_set_free(gauss);
    TEST_DONE();
}
