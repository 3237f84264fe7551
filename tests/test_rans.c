/* rANS round trips on random and adversarial data, scalar vs AVX2 equality (values and error codes), and
 * corrupt / truncated / random payloads (an error, never a crash or a read outside the buffer). */
#include "entropy/rans.h"

#include <math.h>
#include <string.h>

#include "codec/cpu.h"
#include "tests/testutil.h"

static unsigned long long seed = 0x1234567ull;

static nvc_cdf_set *gauss;
/* The lanes argument every encode of a test uses (entropy/rans.h); decodes read the matching layout. */
static int lanes_arg = NVC_RANS_LANES_CHOSEN;

/* A test case: runs over arrays we own. */
typedef struct tcase {
    int nruns;
    nvc_rans_run run[8];
    uint8_t *index[8];
    int16_t *mean[8], *y[8], *out[8];
    size_t total;
} tcase;

static double uniform(void) { return (double)(test_rand(&seed) >> 11) * (1.0 / 9007199254740992.0); }

static double gaussian(void)
{
    double u1 = uniform() + 1e-300, u2 = uniform();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int clamp16(double v) { return v < -32768 ? -32768 : v > 32767 ? 32767 : (int)v; }

enum kind { RANDOM, HEAVY, ALL_ESCAPED, EXTREME, CONSTANT_TABLE };

static void make_case(tcase *t, int nruns, const size_t *lens, enum kind kind)
{
    memset(t, 0, sizeof(*t));
    t->nruns = nruns;
    for (int r = 0; r < nruns; r++) {
        size_t n = lens[r];
        t->index[r] = malloc(n + 1);
        t->mean[r] = malloc(2 * n + 2);
        t->y[r] = malloc(2 * n + 2);
        t->out[r] = malloc(2 * n + 2);
        for (size_t i = 0; i < n; i++) {
            int ti = (int)(test_rand(&seed) % (unsigned)gauss->ntables);
            if (kind == CONSTANT_TABLE)
                ti = r * 7 % gauss->ntables;
            double sigma = nvc_cdf_gaussian_sigma(ti, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN,
                                                  NVC_CDF_GAUSSIAN_SIGMA_MAX);
            int mean = (int)(test_rand(&seed) % 201) - 100;
            double v = gaussian() * sigma;
            if (kind == HEAVY) /* Cauchy tails: many escapes of every size */
                v = sigma * tan(3.14159 * (uniform() - 0.5));
            if (kind == ALL_ESCAPED) {
                const nvc_cdf_table *tb = &gauss->table[ti];
                v = (test_rand(&seed) & 1) ? tb->hi + 1 + (double)(test_rand(&seed) % 3000)
                                           : tb->lo - 1 - (double)(test_rand(&seed) % 3000);
            }
            int y = clamp16(mean + v);
            if (kind == EXTREME) { /* maximal escapes: value and mean at opposite ends of int16 */
                mean = (test_rand(&seed) & 1) ? 32767 : -32768;
                y = mean > 0 ? -32768 : 32767;
            }
            t->index[r][i] = (uint8_t)ti;
            t->mean[r][i] = (int16_t)mean;
            t->y[r][i] = (int16_t)y;
        }
        nvc_rans_run *run = &t->run[r];
        run->index = t->index[r];
        run->mean = t->mean[r];
        run->y = t->y[r];
        run->index_step = kind == CONSTANT_TABLE ? 0 : 1;
        run->mean_step = kind == CONSTANT_TABLE ? 0 : 1;
        if (kind == CONSTANT_TABLE) /* step-0 runs code every symbol with element 0's table and mean */
            for (size_t i = 0; i < n; i++)
                t->mean[r][i] = t->mean[r][0];
        run->n = n;
        t->total += n;
    }
}

static void free_case(tcase *t)
{
    for (int r = 0; r < t->nruns; r++) {
        free(t->index[r]);
        free(t->mean[r]);
        free(t->y[r]);
        free(t->out[r]);
    }
}

/* Decodes with the given CPU mask into t->out; returns the error code. */
static int decode_with(tcase *t, unsigned mask, const uint8_t *buf, size_t size)
{
    nvc_rans_run runs[8];
    for (int r = 0; r < t->nruns; r++) {
        runs[r] = t->run[r];
        runs[r].y = t->out[r];
        memset(t->out[r], 0x55, 2 * runs[r].n);
    }
    nvc_cpu_set_mask(mask);
    int err = nvc_rans_decode(gauss, runs, t->nruns, lanes_arg != NVC_RANS_LANES_DERIVED, buf, size);
    nvc_cpu_set_mask(~0u);
    return err;
}

static int outputs_equal(const tcase *t)
{
    for (int r = 0; r < t->nruns; r++)
        if (memcmp(t->out[r], t->y[r], 2 * t->run[r].n) != 0)
            return 0;
    return 1;
}

/* Round trip through both paths; returns the encoded bytes (caller frees) and size. */
static uint8_t *round_trip(tcase *t, size_t *size)
{
    uint8_t *buf;
    CHECK_EQ_INT(nvc_rans_encode(gauss, t->run, t->nruns, lanes_arg, &buf, size), 0);
    CHECK_EQ_INT(decode_with(t, 0, buf, *size), 0);
    CHECK(outputs_equal(t));
    CHECK_EQ_INT(decode_with(t, ~0u, buf, *size), 0);
    CHECK(outputs_equal(t));
    return buf;
}

/* Both paths must agree on the error code of a damaged buffer (and on the values when it decodes). */
static int damaged_both(tcase *t, const uint8_t *buf, size_t size)
{
    int e0 = decode_with(t, 0, buf, size);
    int16_t *keep[8];
    for (int r = 0; r < t->nruns; r++) {
        keep[r] = malloc(2 * t->run[r].n + 2);
        memcpy(keep[r], t->out[r], 2 * t->run[r].n);
    }
    int e1 = decode_with(t, ~0u, buf, size);
    CHECK_EQ_INT(e0, e1);
    for (int r = 0; r < t->nruns; r++) {
        if (!e0)
            CHECK(memcmp(keep[r], t->out[r], 2 * t->run[r].n) == 0);
        free(keep[r]);
    }
    return e0;
}

static void test_round_trips(void)
{
    static const size_t shapes[][4] = {
        { 1, 0, 0, 0 }, { 31, 0, 0, 0 }, { 32, 0, 0, 0 }, { 33, 0, 0, 0 }, { 1000, 0, 0, 0 },
        { 3600, 3600, 3600, 0 }, { 5, 70, 1, 200 }, { 4096, 17, 0, 64 },
    };
    const enum kind kinds[] = { RANDOM, HEAVY, ALL_ESCAPED, EXTREME, CONSTANT_TABLE };
    /* every layout and lane count the AVX2 decoder has a width for, and some it has not */
    static const int lane_args[] = { NVC_RANS_LANES_DERIVED, NVC_RANS_LANES_CHOSEN, 1, 7, 8, 16, 24, 32 };
    for (size_t pass = 0; pass < sizeof(kinds) / sizeof(kinds[0]) * sizeof(lane_args) / sizeof(lane_args[0]); pass++) {
        const size_t k = pass % (sizeof(kinds) / sizeof(kinds[0]));
        lanes_arg = lane_args[pass / (sizeof(kinds) / sizeof(kinds[0]))];
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
            int nruns = 0;
            while (nruns < 4 && (shapes[s][nruns] || nruns < 1))
                nruns++;
            if (s == 6 || s == 7)
                nruns = 4;
            tcase t;
            make_case(&t, nruns, shapes[s], kinds[k]);
            size_t size;
            free(round_trip(&t, &size));
            free_case(&t);
        }
    }
    lanes_arg = NVC_RANS_LANES_CHOSEN;
}

static void test_empty(void)
{
    size_t lens[2] = { 0, 0 };
    tcase t;
    make_case(&t, 2, lens, RANDOM);
    uint8_t buf[4] = { 0 }, *enc;
    size_t size = 99;
    for (int signalled = 0; signalled < 2; signalled++) { /* 0 bytes in both layouts */
        CHECK_EQ_INT(nvc_rans_encode(gauss, t.run, 2, signalled ? 8 : NVC_RANS_LANES_DERIVED, &enc, &size), 0);
        CHECK_EQ_INT(size, 0);
        CHECK(enc == NULL);
        CHECK_EQ_INT(nvc_rans_decode(gauss, t.run, 2, signalled, buf, 0), 0);
        CHECK_EQ_INT(nvc_rans_decode(gauss, t.run, 2, signalled, buf, 1), NVC_EINVALDATA); /* bytes where none belong */
        CHECK_EQ_INT(nvc_rans_decode(gauss, t.run, 0, signalled, NULL, 0), 0);
    }
    free_case(&t);
}

/* A one-symbol stream is one lane: 4 bytes of state (and the lane byte when signalled). */
static void test_one_symbol(void)
{
    size_t lens[1] = { 1 };
    tcase t;
    make_case(&t, 1, lens, RANDOM);
    t.y[0][0] = t.mean[0][0]; /* value 0: in range of every table */
    size_t size;
    lanes_arg = NVC_RANS_LANES_DERIVED;
    free(round_trip(&t, &size));
    CHECK_EQ_INT(size, 4);
    lanes_arg = 32; /* capped to the longest run */
    uint8_t *buf = round_trip(&t, &size);
    CHECK_EQ_INT(size, 5);
    CHECK_EQ_INT(buf[0], 1);
    free(buf);
    lanes_arg = NVC_RANS_LANES_CHOSEN;
    free_case(&t);
}

/* The signalled lane count: the encoder's choice (fewer lanes for a small substream of many symbols, 32 for a
 * large one, never fewer than 8 from 65536 symbols on), and a count outside 1..min(32, longest run) refused. */
static void test_lanes(void)
{
    size_t lens[2] = { 20000, 20000 };
    tcase t;
    make_case(&t, 2, lens, RANDOM);
    size_t size, size32;
    lanes_arg = 32;
    uint8_t *buf32 = round_trip(&t, &size32);
    CHECK_EQ_INT(buf32[0], 32);
    lanes_arg = NVC_RANS_LANES_CHOSEN;
    uint8_t *buf = round_trip(&t, &size);
    /* the rule of rans.h: the most of 32, 24, 16, 8 lanes at ~3 bytes each within 0.4% of the 32-lane size */
    int expect = 32;
    while (expect > 8 && 3 * 250 * (size_t)expect > size32)
        expect -= 8;
    printf("%zu bytes with 32 lanes, %zu with the chosen %d\n", size32, size, buf[0]);
    CHECK_EQ_INT(buf[0], expect);
    CHECK(expect < 32); /* this case is small enough to need fewer */
    CHECK(size < size32 && size32 - size >= (size_t)(32 - expect) * 2); /* ~3 bytes per lane */
    /* Forged counts: a change of the lane byte is caught, out of range or not. */
    for (int v = 0; v < 256; v++) {
        buf32[0] = (uint8_t)v;
        if (v != 32)
            CHECK_EQ_INT(damaged_both(&t, buf32, size32), NVC_EINVALDATA);
    }
    free(buf);
    free(buf32);
    free_case(&t);
    for (int r = 0; r < 2; r++) /* all near-certain zeros: a few hundred bytes */
        lens[r] = 32768;
    make_case(&t, 2, lens, CONSTANT_TABLE);
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < lens[r]; i++)
            t.y[r][i] = t.mean[r][i];
    lanes_arg = NVC_RANS_LANES_CHOSEN;
    buf = round_trip(&t, &size);
    CHECK_EQ_INT(buf[0], 8);
    free(buf);
    t.run[0].n = t.run[1].n = 8192; /* 16 Ki symbols: one lane decodes them in a fraction of a millisecond */
    buf = round_trip(&t, &size);
    CHECK_EQ_INT(buf[0], 1);
    free(buf);
    t.run[0].n = t.run[1].n = 100; /* 200 symbols: speed does not matter, one lane */
    buf = round_trip(&t, &size);
    CHECK_EQ_INT(buf[0], 1);
    free(buf);
    free_case(&t);
    size_t one[1] = { 5 };
    make_case(&t, 1, one, RANDOM);
    lanes_arg = 5;
    buf = round_trip(&t, &size);
    CHECK_EQ_INT(buf[0], 5);
    buf[0] = 6; /* more lanes than the longest run */
    CHECK_EQ_INT(damaged_both(&t, buf, size), NVC_EINVALDATA);
    free(buf);
    free_case(&t);
    lanes_arg = NVC_RANS_LANES_CHOSEN;
    CHECK_EQ_INT(nvc_rans_encode(gauss, t.run, 0, 33, &buf, &size), NVC_EINVAL);
    CHECK_EQ_INT(nvc_rans_encode(gauss, t.run, 0, -2, &buf, &size), NVC_EINVAL);
}

static void test_invalid_args(void)
{
    size_t lens[1] = { 100 };
    tcase t;
    make_case(&t, 1, lens, RANDOM);
    size_t size;
    uint8_t *buf, *none;
    CHECK_EQ_INT(nvc_rans_encode(gauss, t.run, 1, lanes_arg, &buf, &size), 0);
    t.index[0][50] = (uint8_t)gauss->ntables; /* out of range */
    CHECK_EQ_INT(nvc_rans_encode(gauss, t.run, 1, lanes_arg, &none, &size), NVC_EINVAL);
    CHECK_EQ_INT(nvc_rans_decode(gauss, t.run, 1, 1, buf, size), NVC_EINVAL);
    nvc_cpu_set_mask(0);
    CHECK_EQ_INT(nvc_rans_decode(gauss, t.run, 1, 1, buf, size), NVC_EINVAL);
    nvc_cpu_set_mask(~0u);
    t.index[0][50] = 0;
    t.index[0][99] = 255; /* the last one, past the SIMD blocks */
    CHECK_EQ_INT(nvc_rans_decode(gauss, t.run, 1, 1, buf, size), NVC_EINVAL);
    free(buf);
    free_case(&t);
}

static void test_damage(void)
{
    const enum kind kinds[] = { RANDOM, HEAVY, CONSTANT_TABLE };
    for (size_t pass = 0; pass < 6; pass++) {
        const size_t k = pass % 3;
        lanes_arg = pass < 3 ? NVC_RANS_LANES_CHOSEN : 16; /* 16: the AVX2 path too */
        size_t lens[3] = { 700, 90, 33 };
        tcase t;
        make_case(&t, 3, lens, kinds[k]);
        size_t size;
        uint8_t *buf = round_trip(&t, &size);
        /* Every truncation fails (into an exactly sized copy, so ASan sees any overread). */
        for (size_t cut = 0; cut < size; cut++) {
            uint8_t *c = malloc(cut ? cut : 1);
            memcpy(c, buf, cut);
            CHECK_EQ_INT(damaged_both(&t, c, cut), NVC_EINVALDATA);
            free(c);
        }
        /* Single-byte changes: both paths agree, and nearly all are caught by the final-state check (not all
         * can be: bits an escape's raw steps extract carry no redundancy; the frame CRC covers those). */
        uint8_t *c = malloc(size + 1);
        size_t caught = 0;
        for (size_t at = 0; at < size; at++) {
            memcpy(c, buf, size);
            c[at] ^= (uint8_t)(1 + test_rand(&seed) % 255);
            caught += damaged_both(&t, c, size) == NVC_EINVALDATA;
        }
        printf("kind %zu, lanes %d: %zu of %zu byte changes detected\n", k, buf[0], caught, size);
        CHECK(caught >= size * 9 / 10);
        memcpy(c, buf, size);
        c[size] = 0;
        CHECK_EQ_INT(damaged_both(&t, c, size + 1), NVC_EINVALDATA);
        free(c);
        /* Random payloads of random sizes: no crash, both paths agree. */
        for (int rep = 0; rep < 300; rep++) {
            size_t n = test_rand(&seed) % (2 * size + 1);
            uint8_t *r = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++)
                r[i] = (uint8_t)test_rand(&seed);
            damaged_both(&t, r, n);
            free(r);
        }
        free(buf);
        free_case(&t);
    }
}

/* The coder's own loss (against the quantised tables' entropy) is tiny. */
static void test_efficiency(void)
{
    size_t lens[4] = { 20000, 20000, 20000, 20000 };
    tcase t;
    make_case(&t, 4, lens, RANDOM);
    double ideal = 0;
    for (int r = 0; r < 4; r++)
        for (size_t i = 0; i < lens[r]; i++) {
            const nvc_cdf_table *tb = &gauss->table[t.index[r][i]];
            int d = t.y[r][i] - t.mean[r][i];
            int s = d >= tb->lo && d <= tb->hi ? d - tb->lo : tb->nsym - 1;
            ideal += -log2(tb->freq[s] / 4096.0);
        }
    size_t size;
    free(round_trip(&t, &size));
    /* escapes add raw bits beyond the table entropy; the state flush adds 128 bytes */
    double bytes = ideal / 8;
    printf("table entropy %.0f bytes, coded %zu bytes (%+.3f%%)\n", bytes, size, 100.0 * (size - bytes) / bytes);
    CHECK(size < bytes * 1.01 + 200);
    free_case(&t);
}

int main(void)
{
    if (nvc_cdf_set_gaussian(&gauss, NVC_CDF_GAUSSIAN_K, NVC_CDF_GAUSSIAN_SIGMA_MIN, NVC_CDF_GAUSSIAN_SIGMA_MAX)) {
        printf("cannot build tables\n");
        return 1;
    }
    if (!(nvc_cpu_flags() & NVC_CPU_AVX2))
        printf("no AVX2 here: both paths are the scalar one\n");
    test_empty();
    test_one_symbol();
    test_invalid_args();
    test_round_trips();
    test_lanes();
    test_damage();
    test_efficiency();
    nvc_cdf_set_free(gauss);
    TEST_DONE();
}
