/* The context-adaptive vector code (entropy/ctxplane.h): round trips of every kind of field (still, a pan, moving
 * regions, noise with escapes of every size, the extremes), the sizes a still field and a pan must come within,
 * argument checks, and damaged data (every truncation, an extra byte, bit flips, random bytes): an error or a
 * decode, never a crash or a read outside the buffer (run under ASan by `make sanitize`). */
#include "entropy/ctxplane.h"

#include <string.h>

#include "nvc/nvc.h"
#include "tests/testutil.h"

static unsigned long long seed = 0x5eedull;

enum kind { STILL, PAN, REGIONS, NOISE, EXTREMES };

static void make_field(int16_t *y, int c, int h, int w, enum kind kind)
{
    const int pan[NVC_CTXPLANE_MAX_CHANNELS] = { 37, -5, 120, -128 };
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                int v = 0;
                switch (kind) {
                case STILL: v = 0; break;
                case PAN: v = pan[ch]; break;
                case REGIONS: /* four moving objects over a pan, a little noise at their edges */
                    v = (i * 4 / h) * 2 + (j * 4 / w) < 3 ? -9 + 3 * ch : 4 * ((i / 5 + j / 7) % 3) - ch;
                    if (test_rand(&seed) % 16 == 0)
                        v += (int)(test_rand(&seed) % 5) - 2;
                    break;
                case NOISE: v = (int)(test_rand(&seed) % 256) - 128; break;
                case EXTREMES: v = (i + j + ch) % 2 ? 127 : -128; break;
                }
                y[((size_t)ch * h + i) * w + j] = (int16_t)v;
            }
}

/* Encodes, decodes, compares; returns the coded size (0 on failure). */
static size_t round_trip(const int16_t *y, int c, int h, int w)
{
    const size_t n = (size_t)c * h * w;
    uint8_t *buf = NULL;
    size_t size = 0;
    CHECK_EQ_INT(nvc_ctxplane_encode(y, c, h, w, &buf, &size), 0);
    CHECK(buf != NULL && size >= 4);
    if (!buf)
        return 0;
    int16_t *out = malloc(n * sizeof *out);
    CHECK_EQ_INT(nvc_ctxplane_decode(buf, size, c, h, w, out), 0);
    const int same = memcmp(out, y, n * sizeof *out) == 0;
    CHECK(same);
    free(out);
    free(buf);
    return same ? size : 0;
}

static void test_round_trips(void)
{
    static const int dims[][3] = { { 1, 1, 1 }, { 2, 1, 1 }, { 2, 1, 9 }, { 2, 7, 1 }, { 2, 36, 48 }, { 4, 5, 6 },
                                   { 3, 45, 80 } };
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int kind = STILL; kind <= EXTREMES; kind++) {
            const int c = dims[d][0], h = dims[d][1], w = dims[d][2];
            int16_t *y = malloc((size_t)c * h * w * sizeof *y);
            make_field(y, c, h, w, (enum kind)kind);
            round_trip(y, c, h, w);
            free(y);
        }
}

/* What the code is for: a 768x576 frame's field (2 x 36 x 48 vectors) still or panning costs a few bytes per
 * row of blocks, moving regions far less than the values' raw 16 bits, noise about its 8 bits. */
static void test_sizes(void)
{
    const int c = 2, h = 36, w = 48;
    int16_t y[2 * 36 * 48];
    size_t size[EXTREMES + 1];
    for (int kind = STILL; kind <= EXTREMES; kind++) {
        make_field(y, c, h, w, (enum kind)kind);
        size[kind] = round_trip(y, c, h, w);
    }
    printf("bytes for 2x36x48: still %zu, pan %zu, regions %zu, noise %zu, extremes %zu\n", size[STILL], size[PAN],
           size[REGIONS], size[NOISE], size[EXTREMES]);
    CHECK(size[STILL] > 0 && size[STILL] <= 48);
    CHECK(size[PAN] > 0 && size[PAN] <= 64);
    CHECK(size[REGIONS] > 0 && size[REGIONS] <= 700);
    /* the worst cases: differences of up to 255, escapes with 15 bits of Exp-Golomb each, which the adapted
     * tables make likely: at most 17 bits a value */
    CHECK(size[NOISE] > 0 && size[NOISE] <= (size_t)c * h * w * 17 / 8);
    CHECK(size[EXTREMES] > 0 && size[EXTREMES] <= (size_t)c * h * w * 17 / 8);
}

static void test_arguments(void)
{
    int16_t y[8] = { 0, 1, 2, 3, -128, 127, 0, 0 }, out[8];
    uint8_t *buf = (uint8_t *)1;
    size_t size = 1;
    CHECK_EQ_INT(nvc_ctxplane_encode(y, 0, 1, 1, &buf, &size), NVC_EINVAL);
    CHECK(buf == NULL && size == 0);
    CHECK_EQ_INT(nvc_ctxplane_encode(y, NVC_CTXPLANE_MAX_CHANNELS + 1, 1, 1, &buf, &size), NVC_EINVAL);
    CHECK_EQ_INT(nvc_ctxplane_encode(y, 2, 0, 4, &buf, &size), NVC_EINVAL);
    CHECK_EQ_INT(nvc_ctxplane_encode(y, 2, 4, 0, &buf, &size), NVC_EINVAL);
    y[3] = 128;
    CHECK_EQ_INT(nvc_ctxplane_encode(y, 2, 2, 2, &buf, &size), NVC_EINVAL);
    y[3] = -129;
    CHECK_EQ_INT(nvc_ctxplane_encode(y, 2, 2, 2, &buf, &size), NVC_EINVAL);
    y[3] = 3;
    CHECK_EQ_INT(nvc_ctxplane_encode(y, 2, 2, 2, &buf, &size), 0);
    CHECK_EQ_INT(nvc_ctxplane_decode(buf, size, 0, 2, 2, out), NVC_EINVAL);
    CHECK_EQ_INT(nvc_ctxplane_decode(buf, size, 2, 2, 2, out), 0);
    CHECK(memcmp(out, y, sizeof out) == 0);
    free(buf);
    static const uint8_t low_state[4] = { 0xFF, 0xFF, 0, 0 }; /* below L: no encoder ends there */
    CHECK_EQ_INT(nvc_ctxplane_decode(low_state, 4, 1, 1, 1, out), NVC_EINVALDATA);
    CHECK_EQ_INT(nvc_ctxplane_decode(low_state, 3, 1, 1, 1, out), NVC_EINVALDATA);
    CHECK_EQ_INT(nvc_ctxplane_decode(NULL, 0, 1, 1, 1, out), NVC_EINVALDATA);
}

/* Damaged data: every truncation and an appended byte are errors; bit flips and random bytes decode or fail,
 * and a decode that succeeds gives values in range. */
static void test_damage(void)
{
    const int c = 2, h = 12, w = 16;
    const size_t n = (size_t)c * h * w;
    int16_t y[2 * 12 * 16], out[2 * 12 * 16];
    for (int kind = REGIONS; kind <= NOISE; kind++) {
        make_field(y, c, h, w, (enum kind)kind);
        uint8_t *buf;
        size_t size;
        CHECK_EQ_INT(nvc_ctxplane_encode(y, c, h, w, &buf, &size), 0);
        for (size_t cut = 0; cut < size; cut++) {
            uint8_t *part = malloc(cut ? cut : 1); /* exactly `cut` bytes, so ASan sees any read beyond */
            memcpy(part, buf, cut);
            CHECK_EQ_INT(nvc_ctxplane_decode(part, cut, c, h, w, out), NVC_EINVALDATA);
            free(part);
        }
        uint8_t *longer = malloc(size + 1);
        memcpy(longer, buf, size);
        longer[size] = 0;
        CHECK_EQ_INT(nvc_ctxplane_decode(longer, size + 1, c, h, w, out), NVC_EINVALDATA);
        int caught = 0;
        for (size_t bit = 0; bit < 8 * size; bit++) {
            memcpy(longer, buf, size);
            longer[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            const int err = nvc_ctxplane_decode(longer, size, c, h, w, out);
            CHECK(err == 0 || err == NVC_EINVALDATA);
            caught += err == NVC_EINVALDATA;
        }
        /* the final state catches almost every flip; a flip in an escape's raw bits (noise has many) changes that
         * value only and goes unseen here: the frame's payload CRC is what guards those */
        printf("%s: %zu bytes, %d of %zu bit flips caught\n", kind == REGIONS ? "regions" : "noise", size, caught,
               8 * size);
        CHECK(caught >= (int)(8 * size * (kind == REGIONS ? 99 : 70) / 100));
        free(longer);
        free(buf);
    }
    for (int t = 0; t < 2000; t++) {
        const size_t size = test_rand(&seed) % 64;
        uint8_t *buf = malloc(size ? size : 1);
        for (size_t k = 0; k < size; k++)
            buf[k] = (uint8_t)test_rand(&seed);
        const int err = nvc_ctxplane_decode(buf, size, c, h, w, out);
        CHECK(err == 0 || err == NVC_EINVALDATA);
        if (!err)
            for (size_t k = 0; k < n; k++)
                CHECK(out[k] >= -128 && out[k] <= 127);
        free(buf);
    }
}

/* The encoder's rate model: the prediction and class of the definition (ctxplane.h) on a small field, and class
 * bits that make 0 the cheapest difference, cheaper where the neighbours agree, escapes dearest. */
static void test_rate_model(void)
{
    /* 1 channel, 3 x 3:  row 0 predicts from the left; below, the median of left, top, top-right */
    static const int16_t y[9] = { 5, 7, -3, 6, 6, 40, 0, 0, 0 };
    int pred;
    CHECK_EQ_INT(nvc_ctxplane_predict(y, 3, 3, 0, 0, 0, &pred), 0); /* L = 0, a = 0 */
    CHECK_EQ_INT(pred, 0);
    CHECK_EQ_INT(nvc_ctxplane_predict(y, 3, 3, 0, 0, 1, &pred), 4); /* L = 5, a = 10: class 1 + floor(log2 10) */
    CHECK_EQ_INT(pred, 5);
    CHECK_EQ_INT(nvc_ctxplane_predict(y, 3, 3, 0, 1, 1, &pred), 4); /* L 6, T 7, TR -3, TL 5: a = 1 + 10 + 1 */
    CHECK_EQ_INT(pred, 6);
    CHECK_EQ_INT(nvc_ctxplane_predict(y, 3, 3, 0, 1, 2, &pred), 4); /* L 6, T -3, TR 0 (outside), TL 7: a = 13 */
    CHECK_EQ_INT(pred, 0);
    CHECK_EQ_INT(nvc_ctxplane_predict(y, 3, 3, 0, 2, 0, &pred), 3); /* L 0, T 6, TR 6, TL 0: a = 6 */
    CHECK_EQ_INT(pred, 6);
    float bits[NVC_CTXPLANE_CLASSES * 256];
    nvc_ctxplane_class_bits(bits);
    for (int k = 0; k < NVC_CTXPLANE_CLASSES; k++) {
        const float *b = bits + k * 256 + 128;
        for (int d = -128; d <= 127; d++)
            CHECK(b[d] >= b[0] && b[d] > 0);
        CHECK(b[127] > b[13] + 10 && b[-128] > b[-13] + 10); /* escapes carry their Exp-Golomb bits */
        if (k > 0)
            CHECK(b[0] > bits[(k - 1) * 256 + 128]); /* 0 is likeliest where the neighbours agree */
    }
    CHECK(bits[128] < 0.25f); /* class 0 (a still or panning field): d = 0 almost free (less once adapted) */
}

int main(void)
{
    test_round_trips();
    test_sizes();
    test_arguments();
    test_damage();
    test_rate_model();
    TEST_DONE();
}
