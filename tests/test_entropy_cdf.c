/* CDF table sets: the default Gaussian set is bit-identical to the reference (golden hash), tables are
 * well-formed, serialisation round-trips, and deserialisation rejects every malformed input cleanly.
 * `test_entropy_cdf --write FILE [K SIGMA_MIN SIGMA_MAX]` writes the serialised default set (tests/test_entropy_cdf_py.sh compares it
 * with tools/train/cdf_tables.py's). */
#include "entropy/cdf.h"

#include <math.h>
#include <string.h>

#include "nvc/nvc.h"
#include "tests/testutil.h"

/* FNV-1a 64 of the serialised default set, as built on x86-64 Linux (and by cdf_tables.py). */
#define GOLDEN_HASH 0x3bcf17cda8254801ull

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint8_t *serialize(const nvc_cdf_set *set, size_t *size)
{
    *size = nvc_cdf_set_serialize(set, NULL, 0);
    uint8_t *buf = malloc(*size);
    CHECK_EQ_INT(nvc_cdf_set_serialize(set, buf, *size - 1), 0);
    CHECK_EQ_INT(nvc_cdf_set_serialize(set, buf, *size), *size);
    return buf;
}

static void test_gaussian(const nvc_cdf_set *g)
{
    CHECK_EQ_INT(g->ntables, NVC_CDF_GAUSSIAN_K);
    CHECK(nvc_cdf_gaussian_sigma(0, 64, 0.11, 64.0) == 0.11);
    CHECK(fabs(nvc_cdf_gaussian_sigma(63, 64, 0.11, 64.0) - 64.0) < 1e-9);
    int prev_hi = -1;
    for (int t = 0; t < g->ntables; t++) {
        const nvc_cdf_table *tb = &g->table[t];
        const double sigma = nvc_cdf_gaussian_sigma(t, 64, 0.11, 64.0);
        CHECK(t == 0 || sigma > nvc_cdf_gaussian_sigma(t - 1, 64, 0.11, 64.0));
        CHECK_EQ_INT(tb->lo, -tb->hi);
        CHECK(tb->hi >= prev_hi);
        prev_hi = tb->hi;
        CHECK_EQ_INT(tb->cum[tb->nsym], NVC_CDF_TOTAL);
        /* unimodal around 0, at least 1 everywhere */
        for (int v = 0; v < tb->hi; v++) {
            CHECK(tb->freq[v + 1 - tb->lo] <= tb->freq[v - tb->lo]);
            CHECK(tb->freq[-v - 1 - tb->lo] <= tb->freq[-v - tb->lo]);
        }
        /* packed slots agree with freq/cum */
        for (int s = 0; s < tb->nsym; s++) {
            uint32_t e = g->slot[((size_t)t << 12) + tb->cum[s]];
            CHECK_EQ_INT(nvc_cdf_slot_freq(e), tb->freq[s]);
            CHECK_EQ_INT(nvc_cdf_slot_offset(e), 0);
            CHECK_EQ_INT(nvc_cdf_slot_value(e), s == tb->nsym - 1 ? NVC_CDF_ESCAPE : tb->lo + s);
            e = g->slot[((size_t)t << 12) + tb->cum[s + 1] - 1];
            CHECK_EQ_INT(nvc_cdf_slot_offset(e), tb->freq[s] - 1);
        }
    }
    CHECK_EQ_INT(g->table[0].hi, 0);    /* sigma 0.11: only 0 and the escape */
    CHECK_EQ_INT(g->table[63].hi, 127); /* sigma 64: capped */
    CHECK_EQ_INT(g->table[0].escape_k, 0);
    CHECK_EQ_INT(g->table[63].escape_k, 6);
    /* The reference bytes. */
    size_t size;
    uint8_t *buf = serialize(g, &size);
    printf("default Gaussian set: %zu bytes, FNV-1a 0x%016llx\n", size, (unsigned long long)fnv1a(buf, size));
    CHECK(fnv1a(buf, size) == GOLDEN_HASH);
    free(buf);
}

static void test_quantize(void)
{
    double p[256];
    uint16_t f[256];
    unsigned long long seed = 5;
    for (int rep = 0; rep < 200; rep++) {
        int n = 1 + (int)(test_rand(&seed) % 256);
        for (int s = 0; s < n; s++)
            p[s] = (test_rand(&seed) % 4 == 0) ? 0.0 : (double)(test_rand(&seed) % 1000000) / 1e6;
        p[test_rand(&seed) % (unsigned)n] = 0.5;
        CHECK_EQ_INT(nvc_cdf_quantize(p, n, f), 0);
        unsigned sum = 0, ok = 1;
        for (int s = 0; s < n; s++) {
            sum += f[s];
            ok &= f[s] >= 1;
        }
        CHECK(ok && sum == NVC_CDF_TOTAL);
    }
    p[0] = 1.0;
    CHECK_EQ_INT(nvc_cdf_quantize(p, 1, f), 0);
    CHECK_EQ_INT(f[0], 4096);
    p[0] = 0.0;
    CHECK_EQ_INT(nvc_cdf_quantize(p, 1, f), NVC_EINVAL);
    p[0] = NAN;
    CHECK_EQ_INT(nvc_cdf_quantize(p, 1, f), NVC_EINVAL);
    p[0] = -0.5;
    CHECK_EQ_INT(nvc_cdf_quantize(p, 1, f), NVC_EINVAL);
    CHECK_EQ_INT(nvc_cdf_quantize(p, 257, f), NVC_EINVAL);
    CHECK_EQ_INT(nvc_cdf_quantize(p, 0, f), NVC_EINVAL);
}

static void test_from_freqs(void)
{
    uint16_t f3[3] = { 4000, 95, 1 }, bad_sum[3] = { 4000, 95, 2 }, zero[3] = { 4096, 0, 0 };
    const uint16_t *fp[1] = { f3 };
    int lo = -1, hi = 0, k = 0;
    nvc_cdf_set *s;
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 1, &lo, &hi, &k, fp), 0);
    CHECK_EQ_INT(s->table[0].nsym, 3);
    nvc_cdf_set_free(s);
    fp[0] = bad_sum;
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 1, &lo, &hi, &k, fp), NVC_EINVAL);
    fp[0] = zero;
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 1, &lo, &hi, &k, fp), NVC_EINVAL);
    fp[0] = f3;
    int lo2 = -128, hi2 = -127;
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 1, &lo2, &hi2, &k, fp), NVC_EINVAL);
    lo2 = 1, hi2 = 0;
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 1, &lo2, &hi2, &k, fp), NVC_EINVAL);
    int k2 = 17;
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 1, &lo, &hi, &k2, fp), NVC_EINVAL);
    CHECK_EQ_INT(nvc_cdf_set_from_freqs(&s, 0, &lo, &hi, &k, fp), NVC_EINVAL);
    CHECK(s == NULL);
    CHECK_EQ_INT(nvc_cdf_set_gaussian(&s, 0, 0.11, 64), NVC_EINVAL);
    CHECK_EQ_INT(nvc_cdf_set_gaussian(&s, 4, 0.0, 64), NVC_EINVAL);
    CHECK_EQ_INT(nvc_cdf_set_gaussian(&s, 4, 2.0, 1.0), NVC_EINVAL);
    CHECK_EQ_INT(nvc_cdf_set_gaussian(&s, 4, NAN, 1.0), NVC_EINVAL);
}

static void test_serialization(const nvc_cdf_set *g)
{
    size_t size;
    uint8_t *buf = serialize(g, &size);
    nvc_cdf_set *back;
    char msg[160];
    CHECK_EQ_INT(nvc_cdf_set_deserialize(&back, buf, size, msg, sizeof(msg)), 0);
    CHECK(back && back->ntables == g->ntables);
    CHECK(back && memcmp(back->slot, g->slot, ((size_t)g->ntables << 12) * 4) == 0);
    nvc_cdf_set_free(back);
    /* Every truncation and an extra byte fail. */
    uint8_t *c = malloc(size + 1);
    for (size_t cut = 0; cut < size; cut += (cut < 64 || size - cut < 64) ? 1 : 37) {
        memcpy(c, buf, cut);
        CHECK_EQ_INT(nvc_cdf_set_deserialize(&back, c, cut, msg, sizeof(msg)), NVC_EINVALDATA);
        CHECK(back == NULL && msg[0] != 0);
    }
    memcpy(c, buf, size);
    c[size] = 0;
    CHECK_EQ_INT(nvc_cdf_set_deserialize(&back, c, size + 1, NULL, 0), NVC_EINVALDATA);
    c[4] = 2; /* version */
    CHECK_EQ_INT(nvc_cdf_set_deserialize(&back, c, size, msg, sizeof(msg)), NVC_EUNSUPPORTED);
    /* Random single-byte changes: an error, or a set that re-serialises to exactly those bytes. */
    unsigned long long seed = 77;
    for (int rep = 0; rep < 2000; rep++) {
        memcpy(c, buf, size);
        c[test_rand(&seed) % size] ^= (uint8_t)(1 + test_rand(&seed) % 255);
        int err = nvc_cdf_set_deserialize(&back, c, size, msg, sizeof(msg));
        CHECK(err == 0 || err == NVC_EINVALDATA || err == NVC_EUNSUPPORTED);
        if (!err) {
            size_t s2;
            uint8_t *again = serialize(back, &s2);
            CHECK(s2 == size && memcmp(again, c, size) == 0);
            free(again);
            nvc_cdf_set_free(back);
        }
    }
    free(c);
    free(buf);
}

int main(int argc, char **argv)
{
    nvc_cdf_set *g;
    if (nvc_cdf_set_gaussian(&g, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN, NVC_CDF_GAUSSIAN_SIGMA_MAX))
        return 1;
    if ((argc == 3 || argc == 6) && strcmp(argv[1], "--write") == 0) { /* [K sigma_min sigma_max] */
        if (argc == 6) {
            nvc_cdf_set_free(g);
            if (nvc_cdf_set_gaussian(&g, atoi(argv[3]), atof(argv[4]), atof(argv[5])))
                return 1;
        }
        size_t size = nvc_cdf_set_serialize(g, NULL, 0);
        uint8_t *buf = malloc(size);
        nvc_cdf_set_serialize(g, buf, size);
        FILE *f = fopen(argv[2], "wb");
        int ok = f && fwrite(buf, 1, size, f) == size;
        ok = f && !fclose(f) && ok;
        free(buf);
        nvc_cdf_set_free(g);
        return ok ? 0 : 1;
    }
    test_gaussian(g);
    test_quantize();
    test_from_freqs();
    test_serialization(g);
    nvc_cdf_set_free(g);
    TEST_DONE();
}
