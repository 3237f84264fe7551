/* Scale shifts (codec/scale_shift.h): the code's exact bits, round trips, damaged codes (every truncation, an
 * extra byte, padding bits, out-of-range values, all bit flips and random bytes: an error or a decode within
 * range, never a read outside the buffer under ASan), the clamped application, and the encoder's choice: on
 * values drawn from wider (narrower) Gaussians than their table indices say it finds the shift the data has and
 * saves what the bits say; on values that match their tables it sends none. */
#include "codec/scale_shift.h"

#include <math.h>
#include <string.h>

#include "codec/rdoq.h"
#include "entropy/cdf.h"
#include "nvc/nvc.h"
#include "tests/testutil.h"

static unsigned long long seed = 0x5ca1eull;

static void test_code(void)
{
    /* 0 -> "1", -1 -> "010", 1 -> "011", -2 -> "00100", 7 -> "0001111" (zigzag 14, u + 1 = 15) */
    const int8_t s[5] = { 0, -1, 1, -2, 7 };
    uint8_t out[8];
    CHECK_EQ_INT(nvc_shift_code_size(s, 5), 3); /* 1 + 3 + 3 + 5 + 7 = 19 bits */
    nvc_shift_write(s, 5, out);
    /* 1 010 011 0 | 0100 0001 | 111 00000 */
    CHECK_EQ_INT(out[0], 0xA6);
    CHECK_EQ_INT(out[1], 0x41);
    CHECK_EQ_INT(out[2], 0xE0);
    int8_t back[5];
    CHECK_EQ_INT(nvc_shift_read(out, 3, 5, back), 0);
    CHECK(memcmp(back, s, 5) == 0);
    const int8_t zeros[48] = { 0 };
    CHECK_EQ_INT(nvc_shift_code_size(zeros, 48), 6);

    for (int run = 0; run < 500; run++) { /* random round trips, every size */
        const int n = 1 + (int)(test_rand(&seed) % 64);
        int8_t v[64], r[64];
        for (int g = 0; g < n; g++)
            v[g] = (int8_t)((int)(test_rand(&seed) % (2 * NVC_SHIFT_MAX + 1)) - NVC_SHIFT_MAX);
        uint8_t buf[64];
        const size_t size = nvc_shift_code_size(v, n);
        CHECK(size <= (size_t)n); /* at most 7 bits each */
        nvc_shift_write(v, n, buf);
        CHECK_EQ_INT(nvc_shift_read(buf, size, n, r), 0);
        CHECK(memcmp(v, r, (size_t)n) == 0);
    }
}

static void test_damage(void)
{
    const int8_t s[6] = { 3, 0, -7, 1, 0, -1 };
    uint8_t buf[16];
    int8_t r[6];
    const size_t size = nvc_shift_code_size(s, 6);
    nvc_shift_write(s, 6, buf);
    for (size_t cut = 0; cut < size; cut++) /* every truncation */
        CHECK_EQ_INT(nvc_shift_read(buf, cut, 6, r), NVC_EINVALDATA);
    buf[size] = 0;
    CHECK_EQ_INT(nvc_shift_read(buf, size + 1, 6, r), NVC_EINVALDATA); /* a byte after the last code */
    const int used = 5 + 1 + 7 + 3 + 1 + 3;                              /* 20 bits: 4 bits of padding */
    for (int b = used; b < (int)size * 8; b++) {
        uint8_t t[16];
        memcpy(t, buf, size);
        t[b / 8] |= (uint8_t)(0x80 >> (b % 8));
        CHECK_EQ_INT(nvc_shift_read(t, size, 6, r), NVC_EINVALDATA); /* padding must be 0 */
    }
    const uint8_t eight[2] = { 0x08, 0x80 }; /* 0000 10001: zigzag 16 = +8, beyond NVC_SHIFT_MAX */
    CHECK_EQ_INT(nvc_shift_read(eight, 2, 1, r), NVC_EINVALDATA);
    const uint8_t zero[2] = { 0, 0 };
    CHECK_EQ_INT(nvc_shift_read(zero, 2, 1, r), NVC_EINVALDATA);
    for (int b = 0; b < (int)size * 8; b++) { /* all single bit flips: an error or shifts in range */
        uint8_t t[16];
        memcpy(t, buf, size);
        t[b / 8] ^= (uint8_t)(0x80 >> (b % 8));
        memset(r, 99, sizeof r);
        if (nvc_shift_read(t, size, 6, r) == 0)
            for (int g = 0; g < 6; g++)
                CHECK(r[g] >= -NVC_SHIFT_MAX && r[g] <= NVC_SHIFT_MAX);
    }
    for (int run = 0; run < 2000; run++) { /* random bytes, exactly sized heap buffers */
        const size_t n = test_rand(&seed) % 12;
        uint8_t *t = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            t[i] = (uint8_t)test_rand(&seed);
        int8_t v[16];
        const int groups = 1 + (int)(test_rand(&seed) % 16);
        if (nvc_shift_read(t, n, groups, v) == 0) {
            for (int g = 0; g < groups; g++)
                CHECK(v[g] >= -NVC_SHIFT_MAX && v[g] <= NVC_SHIFT_MAX);
            CHECK_EQ_INT(nvc_shift_code_size(v, groups), n); /* a valid code is the canonical one */
        }
        free(t);
    }
}

static void test_apply(void)
{
    enum { C = 20, P = 3 }; /* groups 0..7, 8..15, 16..19 */
    uint8_t orig[C * P], index[C * P];
    for (int i = 0; i < C * P; i++)
        orig[i] = (uint8_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 63 : 30);
    const int8_t shift[3] = { -2, 5, 1 };
    memset(index, 0xEE, sizeof index);
    nvc_shift_apply(index, orig, 1, 18, P, 1u << 3, shift, 64);
    for (int c = 0; c < C; c++)
        for (int p = 0; p < P; p++) {
            const int i = c * P + p;
            if (c < 1 || c >= 18 || c == 3) {
                CHECK_EQ_INT(index[i], 0xEE); /* outside [c0, c1) or skipped: untouched */
                continue;
            }
            int want = orig[i] + shift[c / 8];
            want = want < 0 ? 0 : want > 63 ? 63 : want;
            CHECK_EQ_INT(index[i], want);
        }
    memcpy(index, orig, sizeof index); /* in place */
    nvc_shift_apply(index, index, 0, C, P, 0, shift, 64);
    CHECK_EQ_INT(index[8 * P + 1], 63);   /* 63 + 5 clamped */
    CHECK_EQ_INT(index[0], 0);            /* 0 - 2 clamped */
    CHECK_EQ_INT(index[16 * P + 2], 31);  /* 30 + 1 */
}

/* A value of a discretised zero-mean Gaussian of this sigma (Box-Muller, rounded). */
static int gauss_value(double sigma)
{
    const double u1 = ((double)(test_rand(&seed) >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = (double)(test_rand(&seed) >> 11) / 9007199254740992.0;
    return (int)lround(sigma * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void test_choose(void)
{
    nvc_cdf_set *set = NULL;
    CHECK_EQ_INT(nvc_cdf_set_gaussian(&set, 64, 0.11, 64), 0);
    float *bits = set ? nvc_rdoq_bits_table(set) : NULL;
    CHECK(bits != NULL);
    if (!bits) {
        nvc_cdf_set_free(set);
        return;
    }
    enum { C = 24, P = 400 }; /* three groups: the data is 3 tables wider, as said, 2 narrower */
    const int truth[3] = { 3, 0, -2 };
    static int16_t y[C * P], mean[C * P];
    static uint8_t orig[C * P];
    for (int c = 0; c < C; c++)
        for (int p = 0; p < P; p++) {
            const int i = c * P + p, t = 10 + (p * 7 + c) % 40;
            orig[i] = (uint8_t)t;
            mean[i] = (int16_t)(p % 5 - 2);
            const double sigma = 0.11 * pow(64 / 0.11, (t + truth[c / 8]) / 63.0);
            int v = mean[i] + gauss_value(sigma);
            y[i] = (int16_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
    int8_t shift[3] = { 9, 9, 9 };
    const double saved = nvc_shift_choose(y, mean, orig, 0, C, P, 0, bits, set, shift, NULL);
    nvc_pool *pool = nvc_pool_create(3); /* the same on a pool */
    int8_t pooled[3] = { 9, 9, 9 };
    CHECK(pool != NULL);
    CHECK(nvc_shift_choose(y, mean, orig, 0, C, P, 0, bits, set, pooled, pool) == saved);
    CHECK(memcmp(pooled, shift, 3) == 0);
    nvc_pool_destroy(pool);
    for (int g = 0; g < 3; g++)
        CHECK(shift[g] >= truth[g] - 1 && shift[g] <= truth[g] + 1);
    CHECK(shift[0] > 0 && shift[2] < 0);
    /* what it says it saves is what the tables charge */
    double before = 0, after = 0;
    for (int c = 0; c < C; c++)
        for (int p = 0; p < P; p++) {
            const int i = c * P + p, t = orig[i] + shift[c / 8];
            before += nvc_rdoq_value_bits(bits, set, orig[i], y[i] - mean[i]);
            after += nvc_rdoq_value_bits(bits, set, t < 0 ? 0 : t > 63 ? 63 : t, y[i] - mean[i]);
        }
    CHECK(saved > 0.01 * before); /* 1.7% here: a table 1.35x too narrow costs little, but all of it counts */
    CHECK(fabs((before - after) - saved) < 1e-3 * before);
    /* a slice that starts inside the first group decides only the groups that start in it; skipped channels
     * (here all of group 1) count for nothing: no shift */
    int8_t part[3] = { 9, 9, 9 };
    nvc_shift_choose(y, mean, orig, 4, C, P, 0xFF00u, bits, set, part, NULL);
    CHECK_EQ_INT(part[0], 9);
    CHECK_EQ_INT(part[1], 0);
    CHECK(part[2] < 0);
    free(bits);
    nvc_cdf_set_free(set);
}

int main(void)
{
    test_code();
    test_damage();
    test_apply();
    test_choose();
    TEST_DONE();
}
